{# Invariant: the freshness history's as-of day is the as-of status itself. Each (tenant,
   control) of fct_evidence_freshness whose tenant is a tenant on the as-of day (onboarded by
   that day, not offboarded before it) has a row on that day of fct_evidence_freshness_history
   with the same status and last evidence time, and that day holds no other row. Returns the
   pairs that break it. #}
with current_status as (
    select
        freshness.tenant_id,
        freshness.control_id,
        freshness.status,
        freshness.last_evidence_at
    from {{ ref('fct_evidence_freshness') }} as freshness
    inner join {{ ref('dim_tenants') }} as tenants
        on freshness.tenant_id = tenants.tenant_id
    where
        (
            tenants.onboarded_at is null
            or cast(tenants.onboarded_at as date) <= {{ history_end_date() }}
        )
        and (
            tenants.offboarded_at is null
            or cast(tenants.offboarded_at as date) >= {{ history_end_date() }}
        )
),

as_of_day as (
    select tenant_id, control_id, status, last_evidence_at
    from {{ ref('fct_evidence_freshness_history') }}
    where snapshot_date = {{ history_end_date() }}
),

final as (
    select
        coalesce(current_status.tenant_id, as_of_day.tenant_id) as tenant_id,
        coalesce(current_status.control_id, as_of_day.control_id) as control_id,
        current_status.status as as_of_status,
        as_of_day.status as history_status,
        current_status.last_evidence_at as as_of_last_evidence_at,
        as_of_day.last_evidence_at as history_last_evidence_at
    from current_status
    full outer join as_of_day
        on current_status.tenant_id = as_of_day.tenant_id
        and current_status.control_id = as_of_day.control_id
    where
        current_status.tenant_id is null
        or as_of_day.tenant_id is null
        or current_status.status <> as_of_day.status
        or not (
            current_status.last_evidence_at = as_of_day.last_evidence_at
            or (current_status.last_evidence_at is null and as_of_day.last_evidence_at is null)
        )
)

select * from final
