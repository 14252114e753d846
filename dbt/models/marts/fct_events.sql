-- One row per organisation and messageId, with the contact and account as of the event's
-- time and, in columns of their own, the ones resolved retroactively for analysts.
with events as (
    select * from {{ ref('int_events_attributed') }}
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
    {{ variance.utc_day('event_time') }} as event_date,
    received_at,
    user_id,
    anonymous_id,
    group_id,
    contact_id,
    account_id,
    retroactive_contact_id,
    retroactive_account_id,
    properties,
    traits,
    context,
    recorded_at
from events
