{#- DuckDB / BigQuery differences, each behind adapter.dispatch (models never test
    target.type). Every BigQuery function used here is on the allowlist the offline
    BigQuery test checks compiled models against (tests/dbt/test_bigquery_offline.py). -#}

{#- A JSON column as JSON: the lake stores JSON as text, BigQuery has a JSON type. -#}
{% macro as_json(column) -%}{{ return(adapter.dispatch('as_json', 'variance')(column)) }}{%- endmacro %}
{% macro duckdb__as_json(column) -%}cast({{ column }} as json){%- endmacro %}
{% macro bigquery__as_json(column) -%}{{ column }}{%- endmacro %}

{% macro empty_json_object() -%}{{ return(adapter.dispatch('empty_json_object', 'variance')()) }}{%- endmacro %}
{% macro duckdb__empty_json_object() -%}cast('{}' as json){%- endmacro %}
{% macro bigquery__empty_json_object() -%}json '{}'{%- endmacro %}

{#- The lake's tie-break after recorded_at (the later file, then the later row), exactly as
    variance.warehouse.local.LakeReader resolves a key; BigQuery rows have no file order. -#}
{% macro lake_row_order() -%}{{ return(adapter.dispatch('lake_row_order', 'variance')()) }}{%- endmacro %}
{% macro duckdb__lake_row_order() -%}, _lake_file desc, file_row_number desc{%- endmacro %}
{% macro bigquery__lake_row_order() -%}{%- endmacro %}

{#- Microseconds since the epoch, the pipeline's integer time. -#}
{% macro epoch_us(ts) -%}{{ return(adapter.dispatch('epoch_us', 'variance')(ts)) }}{%- endmacro %}
{% macro duckdb__epoch_us(ts) -%}epoch_us({{ ts }}){%- endmacro %}
{% macro bigquery__epoch_us(ts) -%}unix_micros({{ ts }}){%- endmacro %}

{% macro add_seconds(ts, seconds) -%}{{ return(adapter.dispatch('add_seconds', 'variance')(ts, seconds)) }}{%- endmacro %}
{% macro duckdb__add_seconds(ts, seconds) -%}({{ ts }} + to_microseconds(cast({{ seconds }} as bigint) * 1000000)){%- endmacro %}
{% macro bigquery__add_seconds(ts, seconds) -%}timestamp_add({{ ts }}, interval {{ seconds }} second){%- endmacro %}

{#- The UTC calendar day of a timestamp (the DuckDB session runs in UTC, see profiles.yml). -#}
{% macro utc_day(ts) -%}{{ return(adapter.dispatch('utc_day', 'variance')(ts)) }}{%- endmacro %}
{% macro duckdb__utc_day(ts) -%}cast({{ ts }} as date){%- endmacro %}
{% macro bigquery__utc_day(ts) -%}date({{ ts }}){%- endmacro %}

{% macro days_between(earlier, later) -%}{{ return(adapter.dispatch('days_between', 'variance')(earlier, later)) }}{%- endmacro %}
{% macro duckdb__days_between(earlier, later) -%}date_diff('day', {{ earlier }}, {{ later }}){%- endmacro %}
{% macro bigquery__days_between(earlier, later) -%}date_diff({{ later }}, {{ earlier }}, day){%- endmacro %}

{% macro timestamp_literal(text) -%}{{ return(adapter.dispatch('timestamp_literal', 'variance')(text)) }}{%- endmacro %}
{% macro duckdb__timestamp_literal(text) -%}cast('{{ text }}' as timestamptz){%- endmacro %}
{% macro bigquery__timestamp_literal(text) -%}timestamp('{{ text }}'){%- endmacro %}

{#- core.warehouse.stable_hash: the first 32 hex digits of SHA-256 over the parts joined by
    U+001F, so dbt's change_id is the pipeline's for the same change. Parts are text. -#}
{% macro stable_hash(parts) -%}{{ return(adapter.dispatch('stable_hash', 'variance')(parts)) }}{%- endmacro %}
{% macro duckdb__stable_hash(parts) -%}left(sha256(concat_ws(chr(31), {{ parts | join(', ') }})), 32){%- endmacro %}
{% macro bigquery__stable_hash(parts) -%}substr(to_hex(sha256(array_to_string([{{ parts | join(', ') }}], code_points_to_string([31])))), 1, 32){%- endmacro %}

{#- One row per top-level key of the JSON object in t.traits: (columns..., trait_key, trait_value). -#}
{% macro json_object_entries(relation, columns) -%}{{ return(adapter.dispatch('json_object_entries', 'variance')(relation, columns)) }}{%- endmacro %}
{% macro duckdb__json_object_entries(relation, columns) -%}
    select {% for c in columns %}t.{{ c }}, {% endfor %}j.key as trait_key, j.value as trait_value
    from {{ relation }} as t, json_each(t.traits) as j
    where json_type(t.traits) = 'OBJECT'
{%- endmacro %}
{% macro bigquery__json_object_entries(relation, columns) -%}
    select {% for c in columns %}t.{{ c }}, {% endfor %}trait_key, t.traits[trait_key] as trait_value
    from {{ relation }} as t, unnest(json_keys(t.traits, 1)) as trait_key
    where json_type(t.traits) = 'object'
{%- endmacro %}

{#- The JSON object of (key, value) rows, an aggregate. -#}
{% macro json_object_agg(key, value) -%}{{ return(adapter.dispatch('json_object_agg', 'variance')(key, value)) }}{%- endmacro %}
{% macro duckdb__json_object_agg(key, value) -%}json_group_object({{ key }}, {{ value }}){%- endmacro %}
{% macro bigquery__json_object_agg(key, value) -%}json_object(array_agg({{ key }}), array_agg({{ value }})){%- endmacro %}

{#- The dialect the definitions var must have been compiled for. -#}
{% macro definitions_dialect() -%}{{ return(adapter.dispatch('definitions_dialect', 'variance')()) }}{%- endmacro %}
{% macro duckdb__definitions_dialect() -%}{{ return('duckdb') }}{%- endmacro %}
{% macro bigquery__definitions_dialect() -%}{{ return('bigquery') }}{%- endmacro %}
