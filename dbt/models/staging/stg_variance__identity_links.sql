-- An anonymousId (or alias previousId) is the user from linked_at on.
-- One row per key (org_id, anonymous_id, user_id, message_id): the newest by recorded_at, as the lake's readers resolve it.
with newest as (
    {{ variance.newest_per_key(source('variance', 'identity_links'), ['org_id', 'anonymous_id', 'user_id', 'message_id']) }}
)

select
    org_id,
    anonymous_id,
    user_id,
    linked_at,
    message_id,
    recorded_at
from newest
