{# Redaction per the tenant's profile (seeds/redaction_rules.csv). Engine-specific pieces are
   dispatched, so that another engine needs new implementations, not new models. #}

{% macro keyed_hash(value, key) -%}
    {{ return(adapter.dispatch('keyed_hash', 'tenantproof')(value, key)) }}
{%- endmacro %}

{# SHA-256 over the tenant's secret key and the value: stable within a tenant, so an auditor can
   follow one identity through the bundle, and uncorrelatable across tenants. #}
{% macro default__keyed_hash(value, key) -%}
    case when {{ value }} is null then null else sha256({{ key }} || ':' || {{ value }}) end
{%- endmacro %}

{% macro spark__keyed_hash(value, key) -%}
    case when {{ value }} is null then null else sha2({{ key }} || ':' || {{ value }}, 256) end
{%- endmacro %}

{% macro mask_value(value) -%}
    case when {{ value }} is null then null else substr({{ value }}, 1, 2) || '***' end
{%- endmacro %}

{# method comes from the profile; anything that is not a known method drops the value (fail
   closed), and so does a column the profile does not name. #}
{% macro redact(column, profile_alias='redaction', key='hash_key') -%}
    case {{ profile_alias }}.{{ column }}_method
        when 'keep' then {{ column }}
        when 'hash' then {{ keyed_hash(column, key) }}
        when 'mask' then {{ mask_value(column) }}
        else null
    end
{%- endmacro %}
