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

{# Spark string literals read backslashes as escapes: the pattern's are doubled. #}
{% macro spark__scrub_foreign_tenants(value, tenant_id, tenant_name) -%}
    regexp_replace(
        replace(
            replace(
                regexp_replace({{ value }}, '{{ tenant_identifier_pattern() | replace('\\', '\\\\') | replace("'", "\\'") }}', concat(chr(1), '$1', chr(2))),
                concat(chr(1), {{ tenant_id }}, chr(2)), {{ tenant_id }}),
            concat(chr(1), {{ tenant_name }}, chr(2)), {{ tenant_name }}),
        concat(chr(1), '[^', chr(2), ']*', chr(2)), '[other tenant]')
{%- endmacro %}

{# Scrubbing every row with a pattern of all tenants' identifiers costs a regular expression of
   thousands of alternatives per cell. Instead, rows are first found by a hash join of their
   words with the first word of every identifier (a superset of what the pattern matches), and
   only those rows are scrubbed. #}

{% macro tokenize_words(value) -%}
    {{ return(adapter.dispatch('tokenize_words', 'tenantproof')(value)) }}
{%- endmacro %}

{% macro default__tokenize_words(value) -%}
    string_split_regex(lower({{ value }}), '[^a-z0-9_]+')
{%- endmacro %}

{% macro spark__tokenize_words(value) -%}
    split(lower({{ value }}), '[^a-z0-9_]+')
{%- endmacro %}

{% macro explode_array(value) -%}
    {{ return(adapter.dispatch('explode_array', 'tenantproof')(value)) }}
{%- endmacro %}

{% macro default__explode_array(value) -%}
    unnest({{ value }})
{%- endmacro %}

{% macro spark__explode_array(value) -%}
    explode({{ value }})
{%- endmacro %}

{% macro first_word(value) -%}
    {{ return(adapter.dispatch('first_word', 'tenantproof')(value)) }}
{%- endmacro %}

{% macro default__first_word(value) -%}
    list_filter({{ tokenize_words(value) }}, lambda w: w <> '')[1]
{%- endmacro %}

{% macro spark__first_word(value) -%}
    filter({{ tokenize_words(value) }}, w -> w <> '')[0]
{%- endmacro %}

{# The keys of the rows of `relation` whose text columns contain a word that begins another
   tenant's identifier (the row's own tenant is `tenant_column`). #}
{% macro tenant_mentions(relation, keys, tenant_column, columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}{%- do parts.append("coalesce(" ~ column ~ ", '')") -%}{%- endfor -%}
    select distinct {% for key in keys %}tokens.{{ key }}{% if not loop.last %}, {% endif %}{% endfor %}
    from (
        select
            {{ keys | join(', ') }},
            {{ tenant_column }} as row_tenant_id,
            {{ explode_array(tokenize_words(parts | join(" || ' ' || "))) }} as token
        from {{ relation }}
    ) as tokens
    inner join {{ ref('int_tenant_identifier_tokens') }} as identifier_tokens
        on tokens.token = identifier_tokens.token
        and tokens.row_tenant_id <> identifier_tokens.tenant_id
{%- endmacro %}

{# A column that holds a tenant id: kept when it is the row's own tenant, hidden otherwise. #}
{% macro own_tenant_or_hidden(value, tenant_id) -%}
    case when {{ value }} is null or {{ value }} = {{ tenant_id }} then {{ value }} else '[other tenant]' end
{%- endmacro %}

{% macro scrub_if_mentioned(mentioned, value, tenant_id, tenant_name) -%}
    case when {{ mentioned }} then {{ scrub_foreign_tenants(value, tenant_id, tenant_name) }} else {{ value }} end
{%- endmacro %}
