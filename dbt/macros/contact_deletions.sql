{#- Deleting contacts' data on request: on BigQuery, the DELETE statements `variance dbt
    build` generated from the requests in force (core/contact_deletion.py, passed as
    VARIANCE_DBT_CONTACT_DELETIONS, a JSON list) run as one script before any model reads
    the sources. Read only when dbt executes, like the definitions, so the parser records
    nothing. Locally there is nothing to run: the build rewrote the lake's files first. -#}
{% macro delete_requested_contacts() -%}
    {{ return(adapter.dispatch('delete_requested_contacts', 'variance')()) }}
{%- endmacro %}

{% macro default__delete_requested_contacts() -%}select 1{%- endmacro %}

{% macro bigquery__delete_requested_contacts() -%}
    {%- set statements = fromjson(env_var('VARIANCE_DBT_CONTACT_DELETIONS', '[]') or '[]') if execute else [] -%}
    {%- if statements | length == 0 -%}
    select 1
    {%- else -%}
    {%- for statement in statements %}
    {{ statement }};
    {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
