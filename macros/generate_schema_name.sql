{# Schemas are named by layer alone (staging, marts, export), not prefixed by the target schema,
   so that the tenant-scoped layer and the tests name them the same on every target. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
