{#- dbt's not_null for several columns in one query (one scan, one test node instead of one
    per column: a build runs dozens of models, and each test node costs dbt about as much
    as a small query). Fails with one row giving, per column, how many rows are null. -#}
{% test not_null_columns(model, columns) %}
select *
from (
    select
        {%- for column in columns %}
        sum(case when {{ adapter.quote(column) }} is null then 1 else 0 end) as {{ adapter.quote(column ~ '__nulls') }},
        {%- endfor %}
        count(*) as rows_checked
    from {{ model }}
) as counted
where {% for column in columns %}{{ adapter.quote(column ~ '__nulls') }} > 0{% if not loop.last %} or {% endif %}{% endfor %}
{% endtest %}
