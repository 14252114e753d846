-- A milestone reached or lost by a contact or account; retracted when corrected.
-- One row per key (org_id, change_id): the newest by recorded_at, as the lake's readers resolve it.
with newest as (
    {{ variance.newest_per_key(source('variance', 'milestone_changes'), ['org_id', 'change_id']) }}
)

select
    org_id,
    change_id,
    milestone_id,
    milestone_version,
    milestone_name,
    entity_type,
    entity_id,
    kind,
    changed_at,
    count,
    status,
    source,
    recorded_at
from newest
