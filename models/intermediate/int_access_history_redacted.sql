{# Access to each tenant's data (spec §5.1), redacted by the tenant's profile: admin actions
   and impersonations flagged, and admin actions without a logged reason marked for follow-up.
   fct_access_history scrubs the text of other tenants' identifiers. #}
with access as (
    select * from {{ ref('stg_raw__access_history') }}
),

redaction as (
    select * from {{ ref('int_tenants_joined_to_policies') }}
),

final as (
    select
        redaction.tenant_id,
        access.access_id,
        access.accessed_at,
        {{ month_key('access.accessed_at') }} as period,
        {{ redact('actor_id') }} as actor_id,
        {{ own_tenant_or_hidden(
            'access.actor_tenant_id', 'redaction.tenant_id'
        ) }} as actor_tenant_id,
        access.global_role,
        access.access_type,
        {{ redact('impersonated_user') }} as impersonated_user,
        access.reason,
        access.session_id,
        {{ redact('actor_email') }} as actor_email,
        {{ redact('actor_ip') }} as actor_ip,
        access.access_type in ('admin', 'impersonation') as is_admin_action,
        (
            access.access_type in ('admin', 'impersonation')
            and coalesce(trim(access.reason), '') = ''
        ) as admin_without_reason,
        access.source_file,
        access.source_line,
        access.loaded_at
    from access
    inner join redaction on access.tenant_id = redaction.tenant_id
)

select * from final
