with events as (
    select * from {{ ref('fct_audit_events') }}
),

final as (
    select
        tenant_id,
        period,
        event_id,
        occurred_at,
        attribution,
        global_scope,
        scope_justification,
        applies_because,
        actor_id,
        actor_tenant_id,
        actor_email,
        actor_ip,
        user_agent,
        service,
        action,
        resource_type,
        resource_id,
        outcome,
        reason,
        details
    from events
)

select * from final
