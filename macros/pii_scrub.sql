{# Personal data in free text (spec §5.3; docs/FREE_TEXT_PII.md). The kinds, their patterns and
   their order are dbt_project.yml vars.free_text_pii; what each redaction profile keeps is
   seeds/free_text_pii_rules.csv (a kind a profile does not keep is redacted). A match starts
   where vars.free_text_boundary matches (its one group is written back); it becomes the kind's
   placeholder. A kind with `check: luhn` replaces only the candidates whose digits pass the Luhn
   check. The export validator's PII suite runs the same patterns on the files. #}

{# profile -> the kinds it keeps, read once per model from the seed. #}
{% macro free_text_rules() -%}
    {%- set kept = {} -%}
    {%- set seed = ref('free_text_pii_rules') -%}
    {%- if execute -%}
        {%- set rows = run_query(
            "select redaction_profile, pii_kind from " ~ seed
            ~ " where method = 'keep' order by redaction_profile, pii_kind"
        ) -%}
        {%- for row in rows -%}
            {%- if row[0] not in kept -%}{%- do kept.update({row[0]: []}) -%}{%- endif -%}
            {%- do kept[row[0]].append(row[1]) -%}
        {%- endfor -%}
    {%- endif -%}
    {{- return(kept) -}}
{%- endmacro %}

{# One cheap pattern that matches wherever some kind could (the kinds' hints, ASCII: one scan of
   it stays fast where one of all the patterns would not): the rows and columns it spares hold
   none. #}
{% macro free_text_prefilter() -%}
    {%- set hints = [] -%}
    {%- for kind in var('free_text_pii') -%}{%- do hints.append(kind.hint) -%}{%- endfor -%}
    {{- regex_literal('(?:' ~ (hints | join('|')) ~ ')', false) -}}
{%- endmacro %}

{# The digits (text of 0-9 only) pass the Luhn check. #}
{% macro luhn_valid(digits) -%}
    {{ return(adapter.dispatch('luhn_valid', 'tenantproof')(digits)) }}
{%- endmacro %}

{% macro default__luhn_valid(digits) -%}
    (list_sum(list_transform(range(length({{ digits }})), lambda pii_i: cast(case
        when pii_i % 2 = 0 then substr({{ digits }}, length({{ digits }}) - pii_i, 1)
        else substr('0246813579', cast(substr({{ digits }}, length({{ digits }}) - pii_i, 1) as integer) + 1, 1)
    end as integer))) % 10 = 0)
{%- endmacro %}

{% macro spark__luhn_valid(digits) -%}
    (aggregate(sequence(0, length({{ digits }}) - 1), 0, (pii_acc, pii_i) -> pii_acc + cast(case
        when pii_i % 2 = 0 then substr({{ digits }}, length({{ digits }}) - pii_i, 1)
        else substr('0246813579', cast(substr({{ digits }}, length({{ digits }}) - pii_i, 1) as int) + 1, 1)
    end as int)) % 10 = 0)
{%- endmacro %}

{# `value` (the text as the kinds before this one left it) with every match of `pattern` (group
   2) in `source` (the text as it came) whose digits pass the Luhn check replaced: candidates are
   taken from the text as it came so that its SQL is not written twice. A candidate an earlier
   kind already replaced is no longer there to replace. #}
{% macro luhn_checked_replaced(value, source, pattern, placeholder) -%}
    {%- set digits = regex_replace_all('pii_m', "'[^0-9]'", "''") -%}
    {{ return(adapter.dispatch('luhn_checked_replaced', 'tenantproof')(value, source, pattern, placeholder, luhn_valid(digits))) }}
{%- endmacro %}

{% macro default__luhn_checked_replaced(value, source, pattern, placeholder, valid) -%}
    list_reduce(
        list_filter(regexp_extract_all({{ source }}, {{ pattern }}, 2), lambda pii_m: {{ valid }}),
        lambda pii_acc, pii_m: replace(pii_acc, pii_m, {{ placeholder }}),
        {{ value }})
{%- endmacro %}

{% macro spark__luhn_checked_replaced(value, source, pattern, placeholder, valid) -%}
    aggregate(
        filter(regexp_extract_all({{ source }}, {{ pattern }}, 2), pii_m -> {{ valid }}),
        {{ value }},
        (pii_acc, pii_m) -> replace(pii_acc, pii_m, {{ placeholder }}))
{%- endmacro %}

{# The value with every kind of free-text personal data not in `kept` replaced, in order. #}
{% macro free_text_redacted(value, kept=[]) -%}
    {%- set redacted = namespace(text=value) -%}
    {%- for kind in var('free_text_pii') if kind.kind not in kept -%}
        {%- set pattern = regex_literal(var('free_text_boundary') ~ '(' ~ kind.pattern ~ ')', false) -%}
        {%- if kind.check == 'luhn' -%}
            {%- set redacted.text = luhn_checked_replaced(redacted.text, value, pattern, "'" ~ kind.placeholder ~ "'") -%}
        {%- else -%}
            {%- set redacted.text = regex_replace_all(redacted.text, pattern, "'\\1" ~ kind.placeholder ~ "'") -%}
        {%- endif -%}
    {%- endfor -%}
    {{ redacted.text }}
{%- endmacro %}

{# The value redacted as the row's profile says (`profile`: the column holding it; `rules`:
   free_text_rules()): one branch per distinct set of kept kinds, every other profile (or none)
   redacts every kind. #}
{% macro free_text_redacted_for_profile(value, profile, rules) -%}
    {%- set branches = {} -%}
    {%- for name, kept in rules.items() -%}
        {%- set key = kept | join(',') -%}
        {%- if key not in branches -%}{%- do branches.update({key: []}) -%}{%- endif -%}
        {%- do branches[key].append(name) -%}
    {%- endfor -%}
    {%- if branches -%}
    case
        {%- for key, profiles in branches.items() %}
        when {{ profile }} in ('{{ profiles | join("', '") }}') then {{ free_text_redacted(value, key.split(',')) }}
        {%- endfor %}
        else {{ free_text_redacted(value) }}
    end
    {%- else -%}
    {{ free_text_redacted(value) }}
    {%- endif -%}
{%- endmacro %}

{# A text column that holds free text: scrubbed of tenant identifiers, and not one of the PII
   columns, which follow their own method (seeds/redaction_rules.csv). #}
{% macro is_free_text_column(column, tenant_column) -%}
    {{- return(is_scrubbed_column(column, tenant_column) and column.name | lower not in var('pii_columns')) -}}
{%- endmacro %}
