-- One row per call that named an account (group call, identify traits or email domain).
-- One row per key (org_id, account_id, message_id): the newest by recorded_at, as the lake's readers resolve it.
with newest as (
    {{ variance.newest_per_key(source('variance', 'accounts'), ['org_id', 'account_id', 'message_id']) }}
)

select
    org_id,
    account_id,
    message_id,
    event_time,
    name,
    domain,
    {{ variance.as_json('traits') }} as traits,
    source,
    recorded_at
from newest
