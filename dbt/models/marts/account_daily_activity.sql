-- Per account, UTC day and event type: how many events and how many distinct contacts
-- (the account as of each event's time; events without an account are not here).
with events as (
    select * from {{ ref('fct_events') }}
)

select
    org_id,
    account_id,
    event_date as day,
    kind,
    case when kind = 'Action' then name else '' end as name,
    count(*) as events,
    count(distinct contact_id) as active_contacts
from events
where account_id is not null and kind is not null
group by org_id, account_id, event_date, kind, case when kind = 'Action' then name else '' end
