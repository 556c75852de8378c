with source as (
    select * from {{ source('raw', 'audit_events') }}
),

final as (
    select
        event_id,
        occurred_at,
        tenant_id,
        global_scope,
        scope_justification,
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
        details,
        _file as source_file,
        _line as source_line,
        _loaded_at as loaded_at
    from source
)

select * from final
