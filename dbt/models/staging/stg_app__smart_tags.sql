-- Smart tag definitions from the app database, one row per tag (membership: fct_tag_members).
{{ variance.union_definitions('smart_tags', 'row', variance.no_rows([
    ('org_id', dbt.type_string()),
    ('tag_id', dbt.type_string()),
    ('name', dbt.type_string()),
    ('entity_type', dbt.type_string()),
])) }}
