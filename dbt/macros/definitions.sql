{#- Milestones, smart tags and views reach dbt as the environment variable
    VARIANCE_DBT_DEFINITIONS (JSON), compiled to SQL by cli/dbt.py with the core's compilers
    (see its docstring for why). It is read only when dbt executes (`execute`), never while
    parsing, so the parser does not record it and a change in the definitions re-parses
    nothing; while parsing, every model sees no definitions (its empty, typed form). -#}

{% macro definitions() -%}
    {%- set found = fromjson(env_var('VARIANCE_DBT_DEFINITIONS', '{}') or '{}') if execute else {} -%}
    {%- set empty = not (found.get('milestones') or found.get('smart_tags') or found.get('views')) -%}
    {%- if not empty and found.get('dialect') != variance.definitions_dialect() -%}
        {{ exceptions.raise_compiler_error(
            "the definitions var was compiled for " ~ found.get('dialect') ~ ", not for this target ("
            ~ variance.definitions_dialect() ~ "); run through `variance dbt build --target ...`") }}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}

{#- UNION ALL of one generated SELECT per definition (field `field`), or `empty` (typed, no rows). -#}
{% macro union_definitions(kind, field, empty) -%}
    {%- set items = variance.definitions().get(kind, []) -%}
    {%- if items | length == 0 -%}
        {{ empty }}
    {%- else -%}
        {%- for item in items %}
    {{ item[field] }}
    {% if not loop.last %}union all{% endif %}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- A SELECT with typed NULL columns and no rows: columns is a list of (name, type). -#}
{% macro no_rows(columns) -%}
    select {% for name, type in columns %}cast(null as {{ type }}) as {{ name }}{% if not loop.last %}, {% endif %}{% endfor %}
    from (select 1 as one) as nothing
    where false
{%- endmacro %}

{#- The as-of time: VARIANCE_DBT_AS_OF (RFC 3339), else the moment this dbt run started;
    read at execution time only, like the definitions. -#}
{% macro as_of_timestamp() -%}
    {%- set given = env_var('VARIANCE_DBT_AS_OF', '') if execute else '' -%}
    {%- set text = given or run_started_at.strftime('%Y-%m-%dT%H:%M:%S.%fZ') -%}
    {{ variance.timestamp_literal(text) }}
{%- endmacro %}
