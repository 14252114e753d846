-- Dead letters per organisation, stage and reason: how many, and when the first and the
-- last were written. Messages with no organisation (unparseable) have org_id '(none)'.
with dead_letters as (
    select * from {{ ref('stg_variance__dead_letters') }}
)

select
    coalesce(org_id, '(none)') as org_id,
    stage,
    reason,
    count(*) as dead_letters,
    min(recorded_at) as first_recorded_at,
    max(recorded_at) as last_recorded_at
from dead_letters
group by coalesce(org_id, '(none)'), stage, reason
