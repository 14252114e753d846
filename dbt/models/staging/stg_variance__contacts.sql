-- One row per identify call: a contact's traits as of that call.
-- One row per key (org_id, message_id): the newest by recorded_at, as the lake's readers resolve it.
with newest as (
    {{ variance.newest_per_key(source('variance', 'contacts'), ['org_id', 'message_id']) }}
)

select
    org_id,
    contact_id,
    message_id,
    event_time,
    user_id,
    anonymous_id,
    name,
    email,
    {{ variance.as_json('traits') }} as traits,
    recorded_at
from newest
