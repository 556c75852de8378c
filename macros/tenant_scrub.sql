{# Free text must not name another tenant (DESIGN, the bundle contract; the rule is
   docs/TENANT_MENTIONS.md, defined once in exports/contract.py). The registry's identifiers come
   as patterns in raw.tenant_identifiers, computed by that rule. A text is scrubbed in four steps,
   the same in DuckDB and Spark and in the export validator: every token is put between two
   SENTINELs (chr(3)); every identifier found, longest first, is marked (chr(1) ... chr(2)); a
   mark that is one of the row's own tenant's identifiers is removed; what is still marked
   becomes '[other tenant]'. A cheap pre-filter (the first word of some identifier, whole)
   spares the rows that cannot name anyone. #}

{% macro tenant_recogniser() -%}
    {%- set found = {'alternation': '([^\\s\\S])', 'prefilter': '[^\\s\\S]'} -%}
    {%- if execute -%}
        {%- set rows = run_query(
            "select pattern, first_word from " ~ source('raw', 'tenant_identifiers')
            ~ " order by length(pattern) desc, pattern"
        ) -%}
        {%- set patterns = [] -%}
        {%- set words = [] -%}
        {%- for row in rows -%}
            {%- if row[0] not in patterns -%}{%- do patterns.append(row[0]) -%}{%- endif -%}
            {%- if row[1] not in words -%}{%- do words.append(row[1]) -%}{%- endif -%}
        {%- endfor -%}
        {%- if patterns -%}
            {%- do found.update({
                'alternation': '(' ~ (patterns | join('|')) ~ ')',
                'prefilter': '(?:^|[^\\pL\\pM\\pN])(?:' ~ (words | join('|'))
                    ~ ')(?:[^\\pL\\pM\\pN]|$)'
            }) -%}
        {%- endif -%}
    {%- endif -%}
    {{- return(found) -}}
{%- endmacro %}

{# A regular expression as a string literal of the engine, case-insensitive. #}
{% macro regex_literal(pattern, case_insensitive=true) -%}
    {{ return(adapter.dispatch('regex_literal', 'tenantproof')(pattern, case_insensitive)) }}
{%- endmacro %}

{% macro default__regex_literal(pattern, case_insensitive) -%}
    '{{ "(?i)" if case_insensitive }}{{ pattern | replace("'", "''") }}'
{%- endmacro %}

{# Spark string literals read backslashes as escapes, and Java needs u for Unicode case. #}
{% macro spark__regex_literal(pattern, case_insensitive) -%}
    '{{ "(?iu)" if case_insensitive }}{{ pattern | replace('\\', '\\\\') | replace("'", "\\'") }}'
{%- endmacro %}

{% macro case_insensitive_prefix() -%}
    {{ return(adapter.dispatch('case_insensitive_prefix', 'tenantproof')()) }}
{%- endmacro %}

{% macro default__case_insensitive_prefix() -%}'(?i)'{%- endmacro %}

{% macro spark__case_insensitive_prefix() -%}'(?iu)'{%- endmacro %}

{% macro regex_replace_all(value, pattern, replacement) -%}
    {{ return(adapter.dispatch('regex_replace_all', 'tenantproof')(value, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regex_replace_all(value, pattern, replacement) -%}
    regexp_replace({{ value }}, {{ pattern }}, {{ replacement }}, 'g')
{%- endmacro %}

{% macro spark__regex_replace_all(value, pattern, replacement) -%}
    regexp_replace({{ value }}, {{ pattern }}, {{ replacement | replace('\\0', '$0') | replace('\\1', '$1') }})
{%- endmacro %}

{% macro regex_found(value, pattern) -%}
    {{ return(adapter.dispatch('regex_found', 'tenantproof')(value, pattern)) }}
{%- endmacro %}

{% macro default__regex_found(value, pattern) -%}
    regexp_matches({{ value }}, {{ pattern }})
{%- endmacro %}

{% macro spark__regex_found(value, pattern) -%}
    ({{ value }} rlike {{ pattern }})
{%- endmacro %}

{% macro text_position(value, part) -%}
    {{ return(adapter.dispatch('text_position', 'tenantproof')(value, part)) }}
{%- endmacro %}

{% macro default__text_position(value, part) -%}strpos({{ value }}, {{ part }}){%- endmacro %}

{% macro spark__text_position(value, part) -%}instr({{ value }}, {{ part }}){%- endmacro %}

{# The text with its tokens between SENTINELs and every recognised identifier marked, the
   row's own tenant's unmarked (own_marked: that tenant's identifiers, as
   raw.tenant_identifiers.own_marked). #}
{% macro tenant_marked(value, own_marked, recogniser) -%}
    {%- set neutral = "replace(replace(replace(" ~ value ~ ", chr(1), '�'), chr(2), '�'), chr(3), '�')" -%}
    {%- set tokens = regex_replace_all(
        neutral, regex_literal('[\\pL\\pM\\pN]+(?:[-._][\\pL\\pM\\pN]+)*', false),
        "concat(chr(3), '\\0', chr(3))") -%}
    {%- set marked = regex_replace_all(
        tokens, regex_literal(recogniser.alternation), "concat(chr(1), '\\0', chr(2))") -%}
    {{ regex_replace_all(marked, 'concat(' ~ case_insensitive_prefix() ~ ', ' ~ own_marked ~ ')', "'\\1'") }}
{%- endmacro %}

{# recogniser: tenant_recogniser(), read once per model. #}
{% macro scrub_foreign_tenants(value, own_marked, recogniser) -%}
    {%- set marked = tenant_marked(value, own_marked, recogniser) -%}
    case when {{ text_position(marked, 'chr(1)') }} > 0 then
        replace({{ regex_replace_all(marked, regex_literal('\\x01[^\\x02]*\\x02', false), "'[other tenant]'") }}, chr(3), '')
    else {{ value }} end
{%- endmacro %}

{# Every tenant's own identifiers as one marked alternative, per tenant. #}
{% macro own_identifiers() -%}
    (select distinct tenant_id, own_marked from {{ ref('stg_raw__tenant_identifiers') }})
{%- endmacro %}

{# The words the product writes itself from its policy and logic (dbt_project.yml,
   vocabulary_columns): region, period, class, control ids and the like. Never scrubbed, and
   never judged against tenant identifiers by the export validator. #}
{% macro is_scrubbed_column(column, tenant_column) -%}
    {%- set dtype = column.dtype | lower -%}
    {{- return(
        (dtype in ('varchar', 'string', 'text') or dtype.startswith('varchar') or dtype.startswith('character varying'))
        and column.name | lower != tenant_column
        and column.name | lower not in var('vocabulary_columns')
    ) -}}
{%- endmacro %}

{# Every row of `relation` with each of its text columns scrubbed of tenants other than the
   row's `tenant_column`, and its free-text columns of personal data (macros/pii_scrub.sql) as
   the tenant's redaction profile says, personal data first: an email that holds a tenant's name
   goes whole. A model that adds a text column is covered with no change here. `where`: a filter
   on the relation's rows (an incremental model's new rows). Cheap pre-filters spare the rows
   that can hold neither. #}
{% macro scrubbed(relation, tenant_column='tenant_id', where='') -%}
    {%- set own = own_identifiers() -%}
    {%- set columns = adapter.get_columns_in_relation(relation) if execute else [] -%}
    {%- set recogniser = tenant_recogniser() -%}
    {%- set rules = free_text_rules() -%}
    {%- set policies = ref('int_tenants_joined_to_policies') -%}
    {%- set text = [] -%}
    {%- set free_text = [] -%}
    {%- for column in columns if is_scrubbed_column(column, tenant_column) -%}
        {%- do text.append(column.name) -%}
        {%- if is_free_text_column(column, tenant_column) -%}{%- do free_text.append(column.name) -%}{%- endif -%}
    {%- endfor -%}
    {%- if text -%}
    select
        {% for column in columns -%}
        {%- if column.name in text -%}
        case when scrub_candidates._names_a_tenant and {{ regex_found('scrub_candidates.' ~ column.name, regex_literal(recogniser.prefilter)) }}
            then {{ scrub_foreign_tenants('scrub_candidates.' ~ column.name, 'scrub_candidates._own_marked', recogniser) }}
            else scrub_candidates.{{ column.name }} end as {{ column.name }}
        {%- else -%}
        scrub_candidates.{{ column.name }}
        {%- endif -%}{{ "," if not loop.last }}
        {% endfor %}
    from (
        select
            {% for column in columns -%}
            {%- if column.name in free_text -%}
            case when pii_candidates._holds_pii and {{ regex_found('pii_candidates.' ~ column.name, free_text_prefilter()) }}
                then {{ free_text_redacted_for_profile('pii_candidates.' ~ column.name, 'pii_candidates._redaction_profile', rules) }}
                else pii_candidates.{{ column.name }} end as {{ column.name }},
            {%- else -%}
            pii_candidates.{{ column.name }},
            {%- endif %}
            {% endfor -%}
            coalesce({{ regex_found(
                "concat_ws(chr(31), " ~ (own_id_left_out(text, 'pii_candidates', tenant_column) | join(', ')) ~ ")",
                regex_literal(recogniser.prefilter)
            ) }}, false) as _names_a_tenant,
            pii_candidates._own_marked
        from (
            select
                unscrubbed.*,
                {%- if free_text %}
                coalesce({{ regex_found(
                    "concat_ws(chr(31), " ~ (free_text | join(', ')) ~ ")", free_text_prefilter()
                ) }}, false) as _holds_pii,
                {%- else %}
                false as _holds_pii,
                {%- endif %}
                {%- if rules %}
                pii_policy.redaction_profile as _redaction_profile,
                {%- else %}
                cast(null as {{ dbt.type_string() }}) as _redaction_profile,
                {%- endif %}
                coalesce(own.own_marked, concat(chr(1), '(', chr(1), ')', chr(2))) as _own_marked
            from {{ relation }} as unscrubbed
            left join {{ own }} as own on unscrubbed.{{ tenant_column }} = own.tenant_id
            {%- if rules %}
            left join {{ policies }} as pii_policy
                on unscrubbed.{{ tenant_column }} = pii_policy.tenant_id
            {%- endif %}
            {{ where }}
        ) as pii_candidates
    ) as scrub_candidates
    {%- else -%}
    select * from {{ relation }} {{ where }}
    {%- endif -%}
{%- endmacro %}

{# The columns as text for the tenant pre-filter, a value that is the row's own tenant id left
   out: a tenant id is one token, so it names its own tenant only (and many rows carry it, in
   actor_tenant_id for one). #}
{% macro own_id_left_out(columns, alias, tenant_column) -%}
    {%- set values = [] -%}
    {%- for column in columns -%}
        {%- do values.append('case when ' ~ alias ~ '.' ~ column ~ ' = ' ~ alias ~ '.' ~ tenant_column ~ ' then null else ' ~ alias ~ '.' ~ column ~ ' end') -%}
    {%- endfor -%}
    {{- return(values) -}}
{%- endmacro %}

{# A column that holds a tenant id: kept when it is the row's own tenant, hidden otherwise. #}
{% macro own_tenant_or_hidden(value, tenant_id) -%}
    case when {{ value }} is null or {{ value }} = {{ tenant_id }} then {{ value }} else '[other tenant]' end
{%- endmacro %}
