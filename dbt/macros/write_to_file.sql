{#- dbt-duckdb's external materialisation writes an empty model as one all-NULL row (and
    hides it behind its view). Our marts are read as files by other processes, so the file
    must hold exactly the model's rows: that placeholder row is left out here. -#}
{% macro write_to_file(relation, location, options) -%}
  {%- set columns = adapter.get_columns_in_relation(relation) -%}
  {% call statement('write_to_file') -%}
    copy (
      select * from {{ relation }}
      where not ({% for col in columns %}"{{ col.column }}" is null and {% endfor %}true)
    ) to '{{ location }}' ({{ options }})
  {%- endcall %}
{%- endmacro %}
