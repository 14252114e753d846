-- View definitions from the app database, one row per view (membership: fct_view_members).
{{ variance.union_definitions('views', 'row', variance.no_rows([
    ('org_id', dbt.type_string()),
    ('view_id', dbt.type_string()),
    ('name', dbt.type_string()),
    ('entity_type', dbt.type_string()),
    ('visibility', dbt.type_string()),
    ('warehouse_name', dbt.type_string()),
])) }}
