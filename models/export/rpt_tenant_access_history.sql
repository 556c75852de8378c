with access as (
    select * from {{ ref('fct_access_history') }}
),

final as (
    select
        tenant_id,
        period,
        access_id,
        accessed_at,
        actor_id,
        actor_tenant_id,
        global_role,
        access_type,
        impersonated_user,
        reason,
        session_id,
        actor_email,
        actor_ip,
        is_admin_action,
        admin_without_reason
    from access
)

select * from final
