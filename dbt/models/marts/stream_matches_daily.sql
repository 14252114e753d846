-- Per stream, UTC day and kind: the current (not retracted) matches, and how many distinct
-- contacts and accounts they were about.
with matches as (
    select * from {{ ref('stg_variance__stream_matches') }}
)

select
    org_id,
    stream_id,
    {{ variance.utc_day('event_time') }} as day,
    kind,
    count(*) as matches,
    count(distinct contact_id) as contacts,
    count(distinct account_id) as accounts
from matches
where status = 'current'
group by org_id, stream_id, {{ variance.utc_day('event_time') }}, kind
