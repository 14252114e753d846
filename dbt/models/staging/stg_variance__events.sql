-- Every accepted Segment call, as the pipeline attributed it to a contact and account.
-- One row per key (org_id, message_id): the newest by recorded_at, as the lake's readers resolve it.
with newest as (
    {{ variance.newest_per_key(source('variance', 'events'), ['org_id', 'message_id']) }}
)

select
    org_id,
    message_id,
    connection_id,
    connection_name,
    type,
    kind,
    name,
    event_time,
    received_at,
    user_id,
    anonymous_id,
    contact_id as pipeline_contact_id,
    account_id as pipeline_account_id,
    group_id,
    {{ variance.as_json('properties') }} as properties,
    {{ variance.as_json('traits') }} as traits,
    {{ variance.as_json('context') }} as context,
    {{ variance.as_json('raw') }} as raw,
    recorded_at
from newest
