-- One row per account: every account named by a call (group, identify traits or email
-- domain), a link or an event's groupId. Traits are a shallow merge of those calls (per
-- top-level key the newest call's value), name and domain the newest call's that has one.
with events as (
    select * from {{ ref('fct_events') }}
),

calls as (
    select * from {{ ref('stg_variance__accounts') }}
),

links as (
    select * from {{ ref('stg_variance__contact_account_links') }}
),

current_contacts as (
    select * from {{ ref('dim_contacts') }}
),

seen as (
    select org_id, account_id, event_time as seen_at from events where account_id is not null
    union all
    select org_id, account_id, event_time as seen_at from calls
    union all
    select org_id, account_id, linked_at as seen_at from links
),

accounts as (
    select org_id, account_id, min(seen_at) as first_seen_at, max(seen_at) as last_seen_at
    from seen
    group by org_id, account_id
),

trait_entries as (
    {{ variance.json_object_entries('calls', ['org_id', 'account_id', 'event_time', 'message_id']) }}
),

newest_traits as (
    select org_id, account_id, trait_key, trait_value
    from trait_entries
    where true
    qualify row_number() over (
        partition by org_id, account_id, trait_key order by event_time desc, message_id desc
    ) = 1
),

traits as (
    select org_id, account_id, {{ variance.json_object_agg('trait_key', 'trait_value') }} as traits
    from newest_traits
    group by org_id, account_id
),

names as (
    select org_id, account_id, name
    from calls
    where name is not null and name != ''
    qualify row_number() over (partition by org_id, account_id order by event_time desc, message_id desc) = 1
),

domains as (
    select org_id, account_id, lower(trim(domain)) as domain
    from calls
    where domain is not null and domain != ''
    qualify row_number() over (partition by org_id, account_id order by event_time desc, message_id desc) = 1
),

contact_counts as (
    select org_id, account_id, count(*) as contacts
    from current_contacts
    where account_id is not null
    group by org_id, account_id
)

select
    accounts.org_id,
    accounts.account_id,
    names.name,
    domains.domain,
    coalesce(traits.traits, {{ variance.empty_json_object() }}) as traits,
    coalesce(contact_counts.contacts, 0) as contacts,
    accounts.first_seen_at,
    accounts.last_seen_at
from accounts
left join traits on traits.org_id = accounts.org_id and traits.account_id = accounts.account_id
left join names on names.org_id = accounts.org_id and names.account_id = accounts.account_id
left join domains on domains.org_id = accounts.org_id and domains.account_id = accounts.account_id
left join contact_counts
    on contact_counts.org_id = accounts.org_id and contact_counts.account_id = accounts.account_id
