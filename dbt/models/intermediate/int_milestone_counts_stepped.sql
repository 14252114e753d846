-- Each instant at which a milestone's count can step for an entity, with the count just
-- before and just after it. For a window W, an event at s counts from s until just before s + W:
-- count(t) = |{s : t - W < s <= t}|, so each event adds 1 at s and, windowed, removes 1 at
-- s + W. Arrivals and expiries at one instant are summed together (equal timestamps count
-- together; an expiry and an arrival at one instant cancel).
with matched as (
    select * from {{ ref('int_milestone_events_matched') }}
),

milestones as (
    select * from {{ ref('stg_app__milestones') }}
),

deltas as (
    select org_id, milestone_id, entity_id, event_time as step_at, 1 as delta
    from matched
    union all
    select
        matched.org_id,
        matched.milestone_id,
        matched.entity_id,
        {{ variance.add_seconds('matched.event_time', 'milestones.window_seconds') }} as step_at,
        -1 as delta
    from matched
    inner join milestones
        on milestones.org_id = matched.org_id and milestones.milestone_id = matched.milestone_id
    where milestones.window_seconds is not null
),

steps as (
    select org_id, milestone_id, entity_id, step_at, cast(sum(delta) as {{ dbt.type_bigint() }}) as net
    from deltas
    group by org_id, milestone_id, entity_id, step_at
)

select
    org_id,
    milestone_id,
    entity_id,
    step_at,
    net,
    count_after - net as count_before,
    count_after
from (
    select
        steps.*,
        cast(sum(net) over (
            partition by org_id, milestone_id, entity_id
            order by step_at
            rows between unbounded preceding and current row
        ) as {{ dbt.type_bigint() }}) as count_after
    from steps
) as counted
