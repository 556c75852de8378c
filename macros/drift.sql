{# The "as of" time of the freshness and drift marts: the var `as_of`, else the environment
   variable TENANTPROOF_AS_OF (so a test or a backfill can fix it without touching the dbt
   command line), else the build's start (UTC). One literal for every model of a build, so all
   marts agree on "now". #}
{% macro as_of_value() -%}
    {%- set raw = var('as_of', env_var('TENANTPROOF_AS_OF', '')) | string | trim -%}
    {%- if raw == '' -%}
        {{ return(modules.datetime.datetime.strptime(
            run_started_at.strftime('%Y-%m-%d %H:%M:%S'), '%Y-%m-%d %H:%M:%S'
        )) }}
    {%- endif -%}
    {%- set text = raw | replace('T', ' ') | replace('Z', '') -%}
    {%- set formats = {10: '%Y-%m-%d', 16: '%Y-%m-%d %H:%M', 19: '%Y-%m-%d %H:%M:%S'} -%}
    {%- if not modules.re.match('^\\d{4}-\\d{2}-\\d{2}( \\d{2}:\\d{2}(:\\d{2})?)?$', text) -%}
        {{ exceptions.raise_compiler_error(
            "as_of '" ~ raw ~ "' is not YYYY-MM-DD[ HH:MM[:SS]] (UTC)"
        ) }}
    {%- endif -%}
    {{ return(modules.datetime.datetime.strptime(text, formats[text | length])) }}
{%- endmacro %}

{% macro as_of() -%}
    cast('{{ as_of_value().strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp)
{%- endmacro %}

{# The first day of the freshness history: `freshness_history_days` before the as-of date. #}
{% macro history_start_date() -%}
    {%- set days = var('freshness_history_days', 90) | int -%}
    cast('{{ (as_of_value() - modules.datetime.timedelta(days=days)).strftime("%Y-%m-%d") }}' as date)
{%- endmacro %}

{% macro history_end_date() -%}
    cast('{{ as_of_value().strftime("%Y-%m-%d") }}' as date)
{%- endmacro %}

{# Hours between two timestamps, with fractions (datediff on hours counts boundaries only). #}
{% macro hours_between(start, end) -%}
    (cast({{ dbt.datediff(start, end, 'second') }} as double) / 3600.0)
{%- endmacro %}

{# A timestamp plus a number of days or hours, null when either is null, to the microsecond
   (dbt.dateadd on Spark drops fractions of a second and raises on null). #}
{% macro timestamp_add(datepart, interval, ts) -%}
    {{ return(adapter.dispatch('timestamp_add', 'tenantproof')(datepart, interval, ts)) }}
{%- endmacro %}

{% macro default__timestamp_add(datepart, interval, ts) -%}
    {{ dbt.dateadd(datepart, interval, ts) }}
{%- endmacro %}

{% macro spark__timestamp_add(datepart, interval, ts) -%}
    timestampadd({{ datepart }}, {{ interval }}, {{ ts }})
{%- endmacro %}

{# The non-null values of a group as one text, sorted, or null when there are none (the
   controls a tenant lacks fresh evidence for). dbt.listagg ignores its order on Spark. #}
{% macro sorted_text_agg(column, separator=', ') -%}
    {{ return(adapter.dispatch('sorted_text_agg', 'tenantproof')(column, separator)) }}
{%- endmacro %}

{% macro default__sorted_text_agg(column, separator) -%}
    string_agg({{ column }}, '{{ separator }}' order by {{ column }})
{%- endmacro %}

{% macro spark__sorted_text_agg(column, separator) -%}
    nullif(array_join(array_sort(collect_list({{ column }})), '{{ separator }}'), '')
{%- endmacro %}

{# A sorted list of the values of a group (the tenants a global drift flag affects). #}
{% macro sorted_list_agg(column) -%}
    {{ return(adapter.dispatch('sorted_list_agg', 'tenantproof')(column)) }}
{%- endmacro %}

{% macro default__sorted_list_agg(column) -%}
    list(distinct {{ column }} order by {{ column }})
{%- endmacro %}

{% macro spark__sorted_list_agg(column) -%}
    array_sort(collect_set({{ column }}))
{%- endmacro %}

{# The number of elements of a list. #}
{% macro list_length(column) -%}
    {{ return(adapter.dispatch('list_length', 'tenantproof')(column)) }}
{%- endmacro %}

{% macro default__list_length(column) -%}
    len({{ column }})
{%- endmacro %}

{% macro spark__list_length(column) -%}
    size({{ column }})
{%- endmacro %}

{# Whether a list holds a value (a tenant in a global flag's affected tenants). #}
{% macro list_has(column, value) -%}
    {{ return(adapter.dispatch('list_has', 'tenantproof')(column, value)) }}
{%- endmacro %}

{% macro default__list_has(column, value) -%}
    list_contains({{ column }}, {{ value }})
{%- endmacro %}

{% macro spark__list_has(column, value) -%}
    array_contains({{ column }}, {{ value }})
{%- endmacro %}

{# The non-null texts joined with a separator, or null when there are none (the reasons a
   maturity level is not reached). concat_ws skips nulls on DuckDB and on Spark. #}
{% macro join_texts(expressions, separator='; ') -%}
    {{ return(adapter.dispatch('join_texts', 'tenantproof')(expressions, separator)) }}
{%- endmacro %}

{% macro default__join_texts(expressions, separator) -%}
    nullif(concat_ws('{{ separator }}', {{ expressions | join(', ') }}), '')
{%- endmacro %}
