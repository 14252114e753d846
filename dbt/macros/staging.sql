{#- The newest row per key of a lake table, as variance.warehouse.local.LakeReader resolves
    it: the latest recorded_at, then the later file and row (lake_row_order). Keys written
    once, nearly all of them, are kept without ordering anything; only the keys written
    more than once go through the window (a window over every row costs about as much as
    reading the table again at a million events). `relation` is the source itself, not a
    CTE over it, so each read takes only the columns it needs instead of buffering the
    whole table. Key columns are required, and checked on the sources, so an equality join
    loses nothing. -#}
{% macro newest_per_key(relation, key) -%}
    {%- set key_list = key | join(', ') -%}
    select lake_rows.*
    from {{ relation }} as lake_rows
    inner join (
        select {{ key_list }}
        from {{ relation }} as keys_once
        group by {{ key_list }}
        having count(*) = 1
    ) as written_once
        on {% for column in key %}written_once.{{ column }} = lake_rows.{{ column }}{% if not loop.last %} and {% endif %}{% endfor %}

    union all

    select *
    from (
        select lake_rows.*
        from {{ relation }} as lake_rows
        inner join (
            select {{ key_list }}
            from {{ relation }} as keys_again
            group by {{ key_list }}
            having count(*) > 1
        ) as written_again
            on {% for column in key %}written_again.{{ column }} = lake_rows.{{ column }}{% if not loop.last %} and {% endif %}{% endfor %}
    ) as copies
    where true
    qualify row_number() over (
        partition by {{ key_list }}
        order by recorded_at desc {{ variance.lake_row_order() }}
    ) = 1
{%- endmacro %}
