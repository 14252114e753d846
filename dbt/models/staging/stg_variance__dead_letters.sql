-- Messages the pipeline could not use, or events it skipped for a stage, with the reason.
-- One row per key (dead_letter_id): the newest by recorded_at, as the lake's readers resolve it.
with newest as (
    {{ variance.newest_per_key(source('variance', 'dead_letters'), ['dead_letter_id']) }}
)

select
    org_id,
    dead_letter_id,
    stage,
    reason,
    message_id,
    payload,
    {{ variance.as_json('attributes') }} as attributes,
    recorded_at
from newest
