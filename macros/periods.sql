{# The export period of a timestamp: its calendar month, 'YYYY-MM' (UTC). #}
{% macro month_key(ts) -%}
    {{ return(adapter.dispatch('month_key', 'tenantproof')(ts)) }}
{%- endmacro %}

{% macro default__month_key(ts) -%}
    strftime({{ ts }}, '%Y-%m')
{%- endmacro %}

{% macro spark__month_key(ts) -%}
    date_format({{ ts }}, 'yyyy-MM')
{%- endmacro %}
