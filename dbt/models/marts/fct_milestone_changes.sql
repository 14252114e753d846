-- Every milestone achieved and lost, recomputed in SQL from fct_events and the current
-- milestone definitions (DESIGN.md, "Semantics worth getting exactly right"): achieved
-- where the count rises to the threshold or more from below it, lost where it falls below
-- it; unwindowed milestones are achieved once, at the N-th event, and never lost. Only
-- changes at or before the as-of time. Columns named as the pipeline's milestone_changes;
-- change_id is the pipeline's hash, so the same change has the same id in both.
with steps as (
    select * from {{ ref('int_milestone_counts_stepped') }}
),

milestones as (
    select * from {{ ref('stg_app__milestones') }}
),

changes as (
    select
        steps.org_id,
        steps.milestone_id,
        milestones.milestone_version,
        milestones.milestone_name,
        milestones.entity_type,
        steps.entity_id,
        case
            when steps.count_before < milestones.threshold and steps.count_after >= milestones.threshold
                then 'achieved'
            when steps.count_before >= milestones.threshold and steps.count_after < milestones.threshold
                then 'lost'
        end as kind,
        steps.step_at as changed_at,
        steps.count_after as count
    from steps
    inner join milestones
        on milestones.org_id = steps.org_id and milestones.milestone_id = steps.milestone_id
    where steps.step_at <= {{ variance.as_of_timestamp() }}
)

select
    org_id,
    {{ variance.stable_hash([
        'org_id', 'milestone_id', 'cast(milestone_version as ' ~ dbt.type_string() ~ ')', 'entity_type',
        'entity_id', 'kind', 'cast(' ~ variance.epoch_us('changed_at') ~ ' as ' ~ dbt.type_string() ~ ')',
    ]) }} as change_id,
    milestone_id,
    milestone_version,
    milestone_name,
    entity_type,
    entity_id,
    kind,
    changed_at,
    count
from changes
where kind is not null
