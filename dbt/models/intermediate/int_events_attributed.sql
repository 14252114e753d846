-- Each event with its contact and account as of its own event time (DESIGN.md, the same
-- rule as streaming and the backfill), plus the retroactive contact and account.
-- Links are read as timelines: a link at t applies to events at t and later, links at one
-- instant are ordered by message id (the later one wins), as core/identity.py's Timeline.
with events as (
    select * from {{ ref('stg_variance__events') }}
),

identity_links as (
    select * from {{ ref('stg_variance__identity_links') }}
),

account_links as (
    select * from {{ ref('stg_variance__contact_account_links') }}
),

-- anonymousId -> userId: each identity link holds from its linked_at until the next link of
-- the same anonymousId (of links at one instant, the later message id wins). Spans, not a
-- window over every event: a link is one row, an event a lookup into its few spans.
identity_steps as (
    select org_id, anonymous_id, linked_at, user_id
    from identity_links
    where true
    qualify row_number() over (partition by org_id, anonymous_id, linked_at order by message_id desc) = 1
),

identity_spans as (
    select
        org_id,
        anonymous_id,
        user_id,
        linked_at as valid_from,
        lead(linked_at) over (partition by org_id, anonymous_id order by linked_at) as valid_until
    from identity_steps
),

first_user as (
    select org_id, anonymous_id, user_id as first_user_id
    from identity_links
    where true
    qualify row_number() over (partition by org_id, anonymous_id order by linked_at, message_id) = 1
),

with_contact as (
    select
        events.*,
        coalesce(events.user_id, linked_user.user_id, events.anonymous_id) as contact_id,
        coalesce(
            events.user_id, linked_user.user_id, first_user.first_user_id, events.anonymous_id
        ) as retroactive_contact_id
    from events
    left join identity_spans as linked_user
        on events.user_id is null
        and linked_user.org_id = events.org_id
        and linked_user.anonymous_id = events.anonymous_id
        and linked_user.valid_from <= events.event_time
        and (linked_user.valid_until is null or events.event_time < linked_user.valid_until)
    left join first_user
        on first_user.org_id = events.org_id
        and first_user.anonymous_id = events.anonymous_id
        and events.user_id is null
),

-- a link belongs to the contact of the call that made it, as of that call's time
links as (
    select
        account_links.org_id,
        coalesce(caller.contact_id, account_links.contact_id) as contact_id,
        account_links.account_id,
        account_links.linked_at,
        account_links.message_id
    from account_links
    left join with_contact as caller
        on caller.org_id = account_links.org_id and caller.message_id = account_links.message_id
),

-- contact -> account: spans as for identity links
account_steps as (
    select org_id, contact_id, linked_at, account_id
    from links
    where true
    qualify row_number() over (partition by org_id, contact_id, linked_at order by message_id desc) = 1
),

account_spans as (
    select
        org_id,
        contact_id,
        account_id,
        linked_at as valid_from,
        lead(linked_at) over (partition by org_id, contact_id order by linked_at) as valid_until
    from account_steps
),

first_account as (
    select org_id, contact_id, account_id as first_account_id
    from links
    where true
    qualify row_number() over (partition by org_id, contact_id order by linked_at, message_id) = 1
)

select
    e.org_id,
    e.message_id,
    e.connection_id,
    e.connection_name,
    e.type,
    e.kind,
    e.name,
    e.event_time,
    e.received_at,
    e.user_id,
    e.anonymous_id,
    e.group_id,
    e.contact_id,
    coalesce(e.group_id, linked_account.account_id) as account_id,
    e.retroactive_contact_id,
    coalesce(e.group_id, linked_account.account_id, first_account.first_account_id) as retroactive_account_id,
    e.pipeline_contact_id,
    e.pipeline_account_id,
    e.properties,
    e.traits,
    e.context,
    case when e.type in ('identify', 'group') then e.traits else e.properties end as filter_properties,
    e.recorded_at
from with_contact as e
left join account_spans as linked_account
    on e.group_id is null
    and linked_account.org_id = e.org_id
    and linked_account.contact_id = e.contact_id
    and linked_account.valid_from <= e.event_time
    and (linked_account.valid_until is null or e.event_time < linked_account.valid_until)
left join first_account
    on first_account.org_id = e.org_id and first_account.contact_id = e.retroactive_contact_id
