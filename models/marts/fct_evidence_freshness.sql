{# Evidence freshness per tenant x applicable control as of the build's as-of time (macro as_of):
   the newest evidence that counts for the control (own, or inherited from a shared service),
   its age, the SLA and a status. The SLA is the stricter of the control's freshness_days and
   the tenant class's days for the control's family (seeds/freshness_by_family.csv, else the
   class's evidence_freshness_days). #}
with controls as (
    select * from {{ ref('dim_tenant_controls') }}
),

tenants as (
    select * from {{ ref('dim_tenants') }}
),

evidence as (
    select * from {{ ref('int_control_evidence_unioned') }}
    where observed_at <= {{ as_of() }}
),

ranked as (
    select
        evidence.*,
        row_number() over (
            partition by evidence.tenant_id, evidence.control_id
            order by
                evidence.observed_at desc,
                evidence.evidence_origin desc,
                evidence.evidence_id asc
        ) as recency
    from evidence
),

counted as (
    select
        tenant_id,
        control_id,
        count(*) as evidence_count,
        sum(case when evidence_origin = 'tenant' then 1 else 0 end) as own_evidence_count
    from evidence
    group by tenant_id, control_id
),

latest as (
    select * from ranked
    where recency = 1
),

family_days as (
    select * from {{ ref('freshness_by_family') }}
),

sla as (
    select
        controls.*,
        tenants.tenant_class,
        tenants.onboarded_at,
        coalesce(family_days.freshness_days, tenants.evidence_freshness_days)
            as class_freshness_days,
        case
            when class_freshness_days is null then controls.freshness_days
            when controls.freshness_days is null then class_freshness_days
            when class_freshness_days < controls.freshness_days then class_freshness_days
            else controls.freshness_days
        end as freshness_sla_days
    from controls
    inner join tenants on controls.tenant_id = tenants.tenant_id
    left join family_days
        on tenants.tenant_class = family_days.tenant_class
        and controls.family = family_days.family
),

final as (
    select
        sla.tenant_id,
        sla.control_id,
        sla.family,
        sla.title,
        sla.tenant_class,
        sla.freshness_days as control_freshness_days,
        sla.class_freshness_days,
        sla.freshness_sla_days,
        latest.observed_at as last_evidence_at,
        latest.evidence_id as last_evidence_id,
        latest.evidence_origin as last_evidence_origin,
        latest.service_id as last_evidence_service_id,
        latest.status as last_evidence_status,
        coalesce(counted.evidence_count, 0) as evidence_count,
        coalesce(counted.own_evidence_count, 0) as own_evidence_count,
        {{ hours_between('latest.observed_at', as_of()) }} / 24.0 as age_days,
        {{ timestamp_add('day', 'sla.freshness_sla_days', 'latest.observed_at') }} as fresh_until,
        case
            when latest.observed_at is null then 'missing'
            when
                {{ timestamp_add('day', 'sla.freshness_sla_days', 'latest.observed_at') }}
                < {{ as_of() }} then 'stale'
            else 'fresh'
        end as status,
        sla.onboarded_at,
        {{ as_of() }} as as_of
    from sla
    left join latest
        on sla.tenant_id = latest.tenant_id and sla.control_id = latest.control_id
    left join counted
        on sla.tenant_id = counted.tenant_id and sla.control_id = counted.control_id
)

select * from final
