{#- Each team view as a warehouse view with a stable name (organisation and view slug),
    replaced by every build. On BigQuery: a view in the models' dataset. Locally the same
    rows are published as lake/marts/<name>.parquet by `variance dbt build` (cli/dbt.py),
    because only dbt may open the DuckDB file. -#}
{% macro create_team_views() -%}{{ return(adapter.dispatch('create_team_views', 'variance')()) }}{%- endmacro %}
{% macro duckdb__create_team_views() -%}select 1{%- endmacro %}
{% macro bigquery__create_team_views() -%}
    {%- set views = variance.definitions().get('views', []) | selectattr('warehouse_name') | list -%}
    {%- if views | length == 0 -%}select 1{%- endif -%}
    {%- for view in views %}
    create or replace view {{ adapter.quote(this.database) }}.{{ adapter.quote(this.schema) }}.{{ adapter.quote(view.warehouse_name) }} as
    select * except (view_name, visibility, warehouse_name)
    from {{ this }}
    where warehouse_name = '{{ view.warehouse_name }}';
    {%- endfor -%}
{%- endmacro %}
