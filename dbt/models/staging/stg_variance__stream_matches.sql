-- An event (or milestone change) routed into a stream.
-- One row per key (org_id, stream_id, message_id): the newest by recorded_at, as the lake's readers resolve it.
with newest as (
    {{ variance.newest_per_key(source('variance', 'stream_matches'), ['org_id', 'stream_id', 'message_id']) }}
)

select
    org_id,
    stream_id,
    message_id,
    event_time,
    kind,
    name,
    contact_id,
    account_id,
    matched_by,
    status,
    recorded_at
from newest
