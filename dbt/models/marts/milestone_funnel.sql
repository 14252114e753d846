-- Per milestone: how many entities did something it counts, how many reached it, lost it,
-- hold it now, and how long they took from their first counted event to their first
-- achievement.
with matched as (
    select * from {{ ref('int_milestone_events_matched') }}
),

changes as (
    select * from {{ ref('fct_milestone_changes') }}
),

status as (
    select * from {{ ref('fct_milestone_status') }}
),

milestones as (
    select * from {{ ref('stg_app__milestones') }}
),

first_events as (
    select org_id, milestone_id, entity_id, min(event_time) as first_event_at
    from matched
    where event_time <= {{ variance.as_of_timestamp() }}
    group by org_id, milestone_id, entity_id
),

per_entity as (
    select
        first_events.org_id,
        first_events.milestone_id,
        first_events.entity_id,
        first_events.first_event_at,
        min(case when changes.kind = 'achieved' then changes.changed_at end) as first_achieved_at,
        max(case when changes.kind = 'lost' then 1 else 0 end) as ever_lost
    from first_events
    left join changes
        on changes.org_id = first_events.org_id
        and changes.milestone_id = first_events.milestone_id
        and changes.entity_id = first_events.entity_id
    group by first_events.org_id, first_events.milestone_id, first_events.entity_id, first_events.first_event_at
),

holding as (
    select org_id, milestone_id, count(*) as holding_now
    from status
    where achieved
    group by org_id, milestone_id
),

funnel as (
    select
        org_id,
        milestone_id,
        count(*) as entities_counted,
        count(first_achieved_at) as entities_reached,
        sum(ever_lost) as entities_lost,
        avg(
            case when first_achieved_at is not null then
                ({{ variance.epoch_us('first_achieved_at') }} - {{ variance.epoch_us('first_event_at') }}) / 3600000000.0
            end
        ) as avg_hours_to_reach,
        min(
            case when first_achieved_at is not null then
                ({{ variance.epoch_us('first_achieved_at') }} - {{ variance.epoch_us('first_event_at') }}) / 3600000000.0
            end
        ) as min_hours_to_reach,
        max(
            case when first_achieved_at is not null then
                ({{ variance.epoch_us('first_achieved_at') }} - {{ variance.epoch_us('first_event_at') }}) / 3600000000.0
            end
        ) as max_hours_to_reach
    from per_entity
    group by org_id, milestone_id
)

select
    milestones.org_id,
    milestones.milestone_id,
    milestones.milestone_name,
    milestones.milestone_version,
    milestones.entity_type,
    coalesce(funnel.entities_counted, 0) as entities_counted,
    coalesce(funnel.entities_reached, 0) as entities_reached,
    coalesce(funnel.entities_lost, 0) as entities_lost,
    coalesce(holding.holding_now, 0) as entities_holding_now,
    funnel.avg_hours_to_reach,
    funnel.min_hours_to_reach,
    funnel.max_hours_to_reach
from milestones
left join funnel on funnel.org_id = milestones.org_id and funnel.milestone_id = milestones.milestone_id
left join holding on holding.org_id = milestones.org_id and holding.milestone_id = milestones.milestone_id
