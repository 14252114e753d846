-- Each entity's status for each milestone at the as-of time: every entity with at least one
-- matching event, whether it holds the milestone, since when, and its count in the window now.
with steps as (
    select * from {{ ref('int_milestone_counts_stepped') }}
),

changes as (
    select * from {{ ref('fct_milestone_changes') }}
),

milestones as (
    select * from {{ ref('stg_app__milestones') }}
),

count_now as (
    select org_id, milestone_id, entity_id, count_after as count
    from steps
    where step_at <= {{ variance.as_of_timestamp() }}
    qualify row_number() over (partition by org_id, milestone_id, entity_id order by step_at desc) = 1
),

evaluated as (
    select distinct org_id, milestone_id, entity_id
    from steps
),

last_change as (
    select org_id, milestone_id, entity_id, kind, changed_at
    from changes
    where true
    qualify row_number() over (partition by org_id, milestone_id, entity_id order by changed_at desc) = 1
)

select
    evaluated.org_id,
    evaluated.milestone_id,
    milestones.milestone_version,
    milestones.milestone_name,
    milestones.entity_type,
    evaluated.entity_id,
    coalesce(last_change.kind = 'achieved', false) as achieved,
    case when last_change.kind = 'achieved' then 'achieved' else 'not_achieved' end as status,
    case when last_change.kind = 'achieved' then last_change.changed_at end as achieved_at,
    last_change.changed_at,
    coalesce(count_now.count, 0) as count
from evaluated
inner join milestones
    on milestones.org_id = evaluated.org_id and milestones.milestone_id = evaluated.milestone_id
left join last_change
    on last_change.org_id = evaluated.org_id
    and last_change.milestone_id = evaluated.milestone_id
    and last_change.entity_id = evaluated.entity_id
left join count_now
    on count_now.org_id = evaluated.org_id
    and count_now.milestone_id = evaluated.milestone_id
    and count_now.entity_id = evaluated.entity_id
