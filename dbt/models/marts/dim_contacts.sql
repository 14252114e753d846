-- One row per contact: every contact seen in an event, an identify call or an account link.
-- Traits are a shallow merge of its identify calls (per top-level key the newest call's
-- value: event time, then message id), name and email the newest call's that has one, the
-- account that of its newest link (as the app's serving tables keep them).
with events as (
    select * from {{ ref('fct_events') }}
),

identifies as (
    select * from {{ ref('stg_variance__contacts') }}
),

links as (
    select * from {{ ref('stg_variance__contact_account_links') }}
),

seen as (
    select org_id, contact_id, event_time as seen_at from events where contact_id is not null
    union all
    select org_id, contact_id, event_time as seen_at from identifies
    union all
    select org_id, contact_id, linked_at as seen_at from links
),

contacts as (
    select org_id, contact_id, min(seen_at) as first_seen_at, max(seen_at) as last_seen_at
    from seen
    group by org_id, contact_id
),

trait_entries as (
    {{ variance.json_object_entries('identifies', ['org_id', 'contact_id', 'event_time', 'message_id']) }}
),

newest_traits as (
    select org_id, contact_id, trait_key, trait_value
    from trait_entries
    where true
    qualify row_number() over (
        partition by org_id, contact_id, trait_key order by event_time desc, message_id desc
    ) = 1
),

traits as (
    select org_id, contact_id, {{ variance.json_object_agg('trait_key', 'trait_value') }} as traits
    from newest_traits
    group by org_id, contact_id
),

names as (
    select org_id, contact_id, name
    from identifies
    where name is not null and name != ''
    qualify row_number() over (partition by org_id, contact_id order by event_time desc, message_id desc) = 1
),

emails as (
    select org_id, contact_id, lower(trim(email)) as email
    from identifies
    where email is not null and email != ''
    qualify row_number() over (partition by org_id, contact_id order by event_time desc, message_id desc) = 1
),

accounts as (
    select org_id, contact_id, account_id, linked_at
    from links
    where true
    qualify row_number() over (partition by org_id, contact_id order by linked_at desc, message_id desc) = 1
)

select
    contacts.org_id,
    contacts.contact_id,
    names.name,
    emails.email,
    accounts.account_id,
    accounts.linked_at as account_linked_at,
    coalesce(traits.traits, {{ variance.empty_json_object() }}) as traits,
    contacts.first_seen_at,
    contacts.last_seen_at
from contacts
left join traits on traits.org_id = contacts.org_id and traits.contact_id = contacts.contact_id
left join names on names.org_id = contacts.org_id and names.contact_id = contacts.contact_id
left join emails on emails.org_id = contacts.org_id and emails.contact_id = contacts.contact_id
left join accounts on accounts.org_id = contacts.org_id and accounts.contact_id = contacts.contact_id
