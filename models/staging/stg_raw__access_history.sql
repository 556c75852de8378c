with source as (
    select * from {{ source('raw', 'access_history') }}
),

final as (
    select
        access_id,
        accessed_at,
        tenant_id,
        actor_id,
        actor_tenant_id,
        global_role,
        access_type,
        impersonated_user,
        reason,
        session_id,
        actor_email,
        actor_ip,
        _file as source_file,
        _line as source_line,
        _loaded_at as loaded_at
    from source
)

select * from final
