{# One row per tenant with everything its class's policy says, its redaction methods pivoted
   to one column per PII column (<column>_method) and its hashing key. A view, never a table:
   the keys stay in their 0600 store (models/staging/_raw__sources.yml), and the warehouse file
   holds only what is hashed with them. #}
{{ config(materialized='view') }}
with tenants as (
    select * from {{ ref('stg_raw__tenants') }}
),

policies as (
    select * from {{ ref('tenant_class_policies') }}
),

rules as (
    select * from {{ ref('redaction_rules') }}
),

profiles as (
    select
        redaction_profile,
        {%- for column in var('pii_columns') %}
            max(case when column_name = '{{ column }}' then method end) as {{ column }}_method
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from rules
    group by redaction_profile
),

hash_keys as (
    select * from {{ ref('stg_raw__tenant_hash_keys') }}
),

final as (
    select
        tenants.tenant_id,
        tenants.tenant_name,
        tenants.tenant_class,
        tenants.residency_region,
        tenants.onboarded_at,
        tenants.offboarded_at,
        policies.redaction_profile,
        policies.retention_days,
        policies.encryption_required,
        policies.export_cadence,
        policies.export_formats,
        policies.notification_sla_hours,
        policies.evidence_freshness_days,
        {%- for column in var('pii_columns') %}
            profiles.{{ column }}_method,
        {%- endfor %}
        hash_keys.hash_key
    from tenants
    inner join policies on tenants.tenant_class = policies.tenant_class
    left join profiles on policies.redaction_profile = profiles.redaction_profile
    left join hash_keys on tenants.tenant_id = hash_keys.tenant_id
)

select * from final
