{# Multi-tenant compliance maturity per tenant (spec §9), from what is in place as of the build's
   as-of time. Levels are cumulative; each level's column says why it is not reached.
   Level 1, tenant awareness and basic isolation: registered with class, region and hashing
   key; tenant-attributed audit or access rows; no isolation incident that a validated export
   has not followed.
   Level 2, tenant audit export and policy variance: a validated bundle published for the
   tenant; its class policy complete (retention, notification SLA, freshness SLA, redaction,
   export formats and cadence).
   Level 3, tenant-scoped drift detection and evidence automation: at least one applicable
   control, each with a freshness SLA; no applicable control stale or missing; no open critical
   drift flag affecting the tenant. #}
with tenants as (
    select * from {{ ref('int_tenants_joined_to_policies') }}
),

activity as (
    select
        tenant_id,
        count(*) as attributed_rows
    from (
        select tenant_id from {{ ref('fct_audit_events') }}
        where attribution = 'tenant' and occurred_at <= {{ as_of() }}
        union all
        select tenant_id from {{ ref('fct_access_history') }}
        where accessed_at <= {{ as_of() }}
    ) as attributed
    group by tenant_id
),

bundles as (
    select
        tenant_id,
        count(*) as published_bundles,
        max(generated_at) as last_bundle_at
    from {{ ref('stg_raw__published_bundles') }}
    where validation_success and generated_at <= {{ as_of() }}
    group by tenant_id
),

isolation_open as (
    select
        isolation.tenant_id,
        count(distinct isolation.incident_id) as open_isolation_incidents
    from {{ ref('stg_raw__isolation_incidents') }} as isolation
    left join bundles
        on isolation.tenant_id = bundles.tenant_id
        and isolation.detected_at < bundles.last_bundle_at
    where isolation.detected_at <= {{ as_of() }} and bundles.tenant_id is null
    group by isolation.tenant_id
),

freshness as (
    select
        tenant_id,
        count(*) as controls_applicable,
        count(freshness_sla_days) as controls_with_sla,
        sum(case when status = 'stale' then 1 else 0 end) as controls_stale,
        sum(case when status = 'missing' then 1 else 0 end) as controls_missing,
        {{ sorted_text_agg("case when status <> 'fresh' then control_id end") }}
            as controls_not_fresh
    from {{ ref('fct_evidence_freshness') }}
    group by tenant_id
),

critical_flags as (
    select
        tenants.tenant_id,
        count(*) as open_critical_flags
    from {{ ref('fct_drift_flags') }} as flags
    inner join tenants on {{ list_has('flags.affected_tenants', 'tenants.tenant_id') }}
    where flags.severity = 'critical'
    group by tenants.tenant_id
),

facts as (
    select
        tenants.tenant_id,
        tenants.tenant_class,
        tenants.residency_region,
        tenants.hash_key is not null as has_hash_key,
        coalesce(activity.attributed_rows, 0) as attributed_rows,
        coalesce(isolation_open.open_isolation_incidents, 0) as open_isolation_incidents,
        coalesce(bundles.published_bundles, 0) as published_bundles,
        bundles.last_bundle_at,
        (
            tenants.retention_days is not null
            and tenants.notification_sla_hours is not null
            and tenants.evidence_freshness_days is not null
            and tenants.redaction_profile is not null
            and tenants.export_formats is not null
            and tenants.export_cadence is not null
        ) as policy_complete,
        coalesce(freshness.controls_applicable, 0) as controls_applicable,
        coalesce(freshness.controls_with_sla, 0) as controls_with_sla,
        coalesce(freshness.controls_stale, 0) as controls_stale,
        coalesce(freshness.controls_missing, 0) as controls_missing,
        freshness.controls_not_fresh,
        coalesce(critical_flags.open_critical_flags, 0) as open_critical_flags
    from tenants
    left join activity on tenants.tenant_id = activity.tenant_id
    left join bundles on tenants.tenant_id = bundles.tenant_id
    left join isolation_open on tenants.tenant_id = isolation_open.tenant_id
    left join freshness on tenants.tenant_id = freshness.tenant_id
    left join critical_flags on tenants.tenant_id = critical_flags.tenant_id
),

gaps as (
    select
        facts.*,
        {{ join_texts([
            "case when tenant_class is null or residency_region is null then 'class or residency region not registered' end",
            "case when not has_hash_key then 'no hashing key' end",
            "case when attributed_rows = 0 then 'no tenant-attributed audit or access rows' end",
            "case when open_isolation_incidents > 0 then cast(open_isolation_incidents as string) || ' isolation incident(s) not followed by a validated export' end",
        ]) }} as level_1_own_gaps,
        {{ join_texts([
            "case when published_bundles = 0 then 'no validated audit bundle published' end",
            "case when not policy_complete then 'class policy incomplete (retention, notification SLA, freshness SLA, redaction, export)' end",
        ]) }} as level_2_own_gaps,
        {{ join_texts([
            "case when controls_applicable = 0 then 'no applicable controls' end",
            "case when controls_with_sla < controls_applicable then cast(controls_applicable - controls_with_sla as string) || ' control(s) without a freshness SLA' end",
            "case when controls_stale + controls_missing > 0 then cast(controls_stale as string) || ' stale and ' || cast(controls_missing as string) || ' missing control(s): ' || controls_not_fresh end",
            "case when open_critical_flags > 0 then cast(open_critical_flags as string) || ' open critical drift flag(s)' end",
        ]) }} as level_3_own_gaps
    from facts
),

final as (
    select
        tenant_id,
        tenant_class,
        residency_region,
        case
            when level_1_own_gaps is not null then 0
            when level_2_own_gaps is not null then 1
            when level_3_own_gaps is not null then 2
            else 3
        end as maturity_level,
        level_1_own_gaps is null as level_1_reached,
        level_1_own_gaps is null and level_2_own_gaps is null as level_2_reached,
        level_1_own_gaps is null and level_2_own_gaps is null and level_3_own_gaps is null
            as level_3_reached,
        level_1_own_gaps as level_1_gaps,
        {{ join_texts([
            "case when level_1_own_gaps is not null then 'level 1 not reached' end",
            "level_2_own_gaps",
        ]) }} as level_2_gaps,
        {{ join_texts([
            "case when level_1_own_gaps is not null or level_2_own_gaps is not null then 'level 2 not reached' end",
            "level_3_own_gaps",
        ]) }} as level_3_gaps,
        attributed_rows,
        open_isolation_incidents,
        published_bundles,
        last_bundle_at,
        policy_complete,
        controls_applicable,
        controls_stale,
        controls_missing,
        open_critical_flags,
        {{ as_of() }} as as_of
    from gaps
)

select * from final
