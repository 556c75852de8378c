{# Access to each tenant's data (spec §5.1): admin actions and impersonations flagged, and
   admin actions without a logged reason marked for follow-up. Incremental like
   fct_audit_events. #}
{{ config(materialized='incremental', incremental_strategy='append') }}

with access as (
    select * from {{ ref('stg_raw__access_history') }}
    {% if is_incremental() %}
        where loaded_at > (
            select coalesce(max(built.loaded_at), cast('1970-01-01' as timestamp))
            from {{ this }} as built
        )
    {% endif %}
),

redaction as (
    select * from {{ ref('int_tenants_joined_to_policies') }}
),

mentions as (
    {{ tenant_mentions('access', ['access_id'], 'tenant_id', ['reason']) }}
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
        {{ scrub_if_mentioned(
            'mentions.access_id is not null', 'access.reason', 'redaction.tenant_id',
            'redaction.tenant_name'
        ) }} as reason,
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
    left join mentions on access.access_id = mentions.access_id
)

-- clustered by tenant and period: a scoped read of a few tenants skips the other row groups
select * from final
order by tenant_id, period
