-- Milestone definitions from the app database (current versions), one row per milestone;
-- they reach dbt in VARIANCE_DBT_DEFINITIONS (see cli/dbt.py for why).
{{ variance.union_definitions('milestones', 'row', variance.no_rows([
    ('org_id', dbt.type_string()),
    ('milestone_id', dbt.type_string()),
    ('milestone_version', dbt.type_bigint()),
    ('milestone_name', dbt.type_string()),
    ('entity_type', dbt.type_string()),
    ('event_kind', dbt.type_string()),
    ('event_name', dbt.type_string()),
    ('threshold', dbt.type_bigint()),
    ('window_seconds', dbt.type_bigint()),
])) }}
