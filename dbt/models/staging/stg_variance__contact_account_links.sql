-- A contact belongs to an account from linked_at on (until a later link).
-- One row per key (org_id, contact_id, account_id, message_id): the newest by recorded_at, as the lake's readers resolve it.
with newest as (
    {{ variance.newest_per_key(source('variance', 'contact_account_links'), ['org_id', 'contact_id', 'account_id', 'message_id']) }}
)

select
    org_id,
    contact_id,
    account_id,
    linked_at,
    message_id,
    method,
    recorded_at
from newest
