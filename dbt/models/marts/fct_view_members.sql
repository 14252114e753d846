{{ config(post_hook=["{{ variance.create_team_views() }}"]) }}
-- Which contacts and accounts each view holds at the as-of time (generated like
-- fct_tag_members). Each team view is also a warehouse view named warehouse_name
-- (view_<organisation>_<view name>): on BigQuery a view over this table, created by the
-- post-hook; locally a Parquet file published beside the marts.
with {{ variance.membership_inputs() }},

members as (
    {{ variance.union_definitions('views', 'members', variance.no_rows([
        ('org_id', dbt.type_string()),
        ('view_id', dbt.type_string()),
        ('entity_id', dbt.type_string()),
    ])) }}
),

views as (
    select * from {{ ref('stg_app__views') }}
)

select
    members.org_id,
    members.view_id,
    views.name as view_name,
    views.visibility,
    views.warehouse_name,
    views.entity_type,
    members.entity_id
from members
inner join views on views.org_id = members.org_id and views.view_id = members.view_id
