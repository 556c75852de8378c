{# The notification deadline of each incident for each tenant it affects: detected_at plus the
   tenant class's notification_sla_hours (spec §2.4), and whether the notification was on time,
   late, is still pending or is overdue as of the build's as-of time. A notification sent after
   the as-of time counts as not sent yet, so history can be rebuilt for any as-of time. Only
   incidents within the tenant's retention window as of the build (as the retention purge). #}
with incidents as (
    select * from {{ ref('int_incidents_attributed') }}
    where detected_at <= {{ as_of() }}
),

tenants as (
    select * from {{ ref('dim_tenants') }}
),

deadlines as (
    select
        tenants.tenant_id,
        tenants.tenant_name,
        tenants.tenant_class,
        incidents.incident_id,
        incidents.attribution,
        incidents.global_scope,
        incidents.service_id,
        incidents.applies_because,
        incidents.severity,
        incidents.summary,
        incidents.detected_at,
        tenants.notification_sla_hours,
        {{ timestamp_add('hour', 'tenants.notification_sla_hours', 'incidents.detected_at') }}
            as notify_by,
        case
            when incidents.notified_at <= {{ as_of() }} then incidents.notified_at
        end as notified_at
    from incidents
    inner join tenants on incidents.affected_tenant_id = tenants.tenant_id
    where
        incidents.detected_at
        >= {{ timestamp_add('day', '-1 * tenants.retention_days', as_of()) }}
),

final as (
    select
        tenant_id,
        incident_id,
        attribution,
        global_scope,
        service_id,
        applies_because,
        severity,
        summary,
        detected_at,
        notification_sla_hours,
        notify_by,
        notified_at,
        case
            when notified_at is not null and notified_at <= notify_by then 'notified_on_time'
            when notified_at is not null then 'notified_late'
            when {{ as_of() }} > notify_by then 'overdue'
            else 'pending'
        end as notification_status,
        (
            (notified_at is not null and notified_at > notify_by)
            or (notified_at is null and {{ as_of() }} > notify_by)
        ) as is_overdue,
        case
            when notified_at is not null and notified_at > notify_by
                then {{ hours_between('notify_by', 'notified_at') }}
            when notified_at is null and {{ as_of() }} > notify_by
                then {{ hours_between('notify_by', as_of()) }}
        end as hours_past_deadline,
        {{ as_of() }} as as_of
    from deadlines
)

select * from final
