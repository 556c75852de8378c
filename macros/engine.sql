{# Engine hooks (dbt_project.yml on-run-start / on-run-end). DuckDB reads the raw tables where
   ingest wrote them and needs nothing. Spark reads the raw tables that tenantproof/transform/engine.py
   handed over as Parquet, and hands every mart and export-shaped relation back as Parquet, so
   the export layer reads the same relations whichever engine built them. #}

{% macro spark_home() -%}
    {{- return(var('tenantproof_home', env_var('TENANTPROOF_HOME', 'data')) ~ '/spark') -}}
{%- endmacro %}

{% macro engine_on_run_start() -%}
    {{ return(adapter.dispatch('engine_on_run_start', 'tenantproof')()) }}
{%- endmacro %}

{% macro default__engine_on_run_start() -%}
    select 1
{%- endmacro %}

{# The raw tables the models read; tenantproof/transform/engine.py writes the same ones. #}
{% macro spark__engine_on_run_start() -%}
    {%- if execute -%}
        {%- set used = [] -%}
        {%- for node in graph.nodes.values() -%}
            {%- for parent in node.depends_on.nodes
                if parent.startswith('source.') and parent not in used -%}
                {%- do used.append(parent) -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- do run_query('create database if not exists raw') -%}
        {%- for unique_id in used | sort -%}
            {%- set source = graph.sources[unique_id] -%}
            {%- if source.source_name == 'raw' -%}
                {%- do run_query('drop table if exists raw.' ~ source.name) -%}
                {%- do run_query(
                    'create table raw.' ~ source.name ~ " using parquet location '"
                    ~ spark_home() ~ '/raw/' ~ source.name ~ "'"
                ) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}

{% macro engine_on_run_end(results) -%}
    {{ return(adapter.dispatch('engine_on_run_end', 'tenantproof')(results)) }}
{%- endmacro %}

{% macro default__engine_on_run_end(results) -%}
    select 1
{%- endmacro %}

{# Only after a build in which nothing failed: a failed build leaves the last good handoff. #}
{% macro spark__engine_on_run_end(results) -%}
    {%- if execute and flags.WHICH in ('build', 'run') -%}
        {%- set failed = results
            | selectattr('status', 'in', ['error', 'fail', 'runtime error']) | list -%}
        {%- if failed | length == 0 -%}
            {%- for node in graph.nodes.values()
                if node.resource_type == 'model' and node.schema in ('marts', 'export') -%}
                {%- if adapter.get_relation(
                    database=node.database, schema=node.schema, identifier=node.alias
                ) -%}
                    {%- do run_query(
                        "insert overwrite directory '" ~ spark_home() ~ '/relations/' ~ node.schema ~ '/' ~ node.alias
                        ~ "' using parquet select * from " ~ node.schema ~ '.' ~ node.alias
                    ) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    select 1
{%- endmacro %}
