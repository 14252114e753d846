-- Events per entity (contact or account, as of the event time), event type and UTC day,
-- up to the as-of time; milestone changes count as Milestone events named by the milestone.
-- What smart tags' event_count conditions read (core/tag_tree.py: day granularity).
with events as (
    select * from {{ ref('int_events_attributed') }}
),

changes as (
    select * from {{ ref('fct_milestone_changes') }}
),

typed as (
    select
        org_id,
        contact_id,
        account_id,
        kind,
        case when kind = 'Action' then name else '' end as name,
        event_time
    from events
    where kind is not null and event_time <= {{ variance.as_of_timestamp() }}
),

by_entity as (
    select org_id, 'contact' as entity_type, contact_id as entity_id, kind, name, event_time
    from typed
    where contact_id is not null
    union all
    select org_id, 'account' as entity_type, account_id as entity_id, kind, name, event_time
    from typed
    where account_id is not null
    union all
    select org_id, entity_type, entity_id, 'Milestone' as kind, milestone_name as name, changed_at as event_time
    from changes
)

select
    org_id,
    entity_type,
    entity_id,
    {{ variance.utc_day('event_time') }} as day,
    kind,
    name,
    count(*) as events
from by_entity
group by org_id, entity_type, entity_id, {{ variance.utc_day('event_time') }}, kind, name
