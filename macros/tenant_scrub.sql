{# Free text must not name another tenant (DESIGN, the bundle contract). Every registered tenant
   identifier (id or name, whole words, any case) is first marked, then the row's own tenant is
   unmarked by exact comparison, and what is still marked becomes '[other tenant]'. Exact
   comparison of marked spans keeps prefixes apart: t1 never unmarks t10. #}

{% macro tenant_identifier_pattern() -%}
    {%- if execute -%}
        {%- set rows = run_query("select tenant_id, tenant_name from " ~ source('raw', 'tenants')) -%}
        {%- set words = [] -%}
        {%- for row in rows -%}
            {%- for value in row -%}
                {%- if value -%}{%- do words.append(modules.re.escape(value)) -%}{%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- if words | length == 0 -%}{%- do words.append('[^\\s\\S]') -%}{%- endif -%}
        {{- '(?i)\\b(' ~ (words | join('|')) ~ ')\\b' -}}
    {%- else -%}
        {{- '(?i)\\b(placeholder)\\b' -}}
    {%- endif -%}
{%- endmacro %}

{% macro scrub_foreign_tenants(value, tenant_id, tenant_name) -%}
    {{ return(adapter.dispatch('scrub_foreign_tenants', 'tenantproof')(value, tenant_id, tenant_name)) }}
{%- endmacro %}

{% macro default__scrub_foreign_tenants(value, tenant_id, tenant_name) -%}
    regexp_replace(
        replace(
            replace(
                regexp_replace({{ value }}, '{{ tenant_identifier_pattern() | replace("'", "''") }}', chr(1) || '\1' || chr(2), 'g'),
                chr(1) || {{ tenant_id }} || chr(2), {{ tenant_id }}),
            chr(1) || {{ tenant_name }} || chr(2), {{ tenant_name }}),
        chr(1) || '[^' || chr(2) || ']*' || chr(2), '[other tenant]', 'g')
{%- endmacro %}

{% macro spark__scrub_foreign_tenants(value, tenant_id, tenant_name) -%}
    regexp_replace(
        replace(
            replace(
                regexp_replace({{ value }}, '{{ tenant_identifier_pattern() | replace("'", "\\'") }}', concat(chr(1), '$1', chr(2))),
                concat(chr(1), {{ tenant_id }}, chr(2)), {{ tenant_id }}),
            concat(chr(1), {{ tenant_name }}, chr(2)), {{ tenant_name }}),
        concat(chr(1), '[^', chr(2), ']*', chr(2)), '[other tenant]')
{%- endmacro %}
