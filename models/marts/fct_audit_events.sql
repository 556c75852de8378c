{# Audit events per bundle tenant, redacted by the tenant's profile and with other tenants'
   identifiers scrubbed from every text column (macros/tenant_scrub.sql). Incremental: a build
   appends the events loaded since the last one; a change of policy or registry rebuilds it in
   full (tenantproof/transform/buildstate.py). #}
{{ config(materialized='incremental', incremental_strategy='append') }}

{% set new_rows %}
    {% if is_incremental() %}
    where unscrubbed.loaded_at > (
        select coalesce(max(built.loaded_at), cast('1970-01-01' as timestamp))
        from {{ this }} as built
    )
    {% endif %}
{% endset %}

with final as (
    {{ scrubbed(ref('int_audit_events_redacted'), where=new_rows) }}
)

-- clustered by tenant and period: a scoped read of a few tenants skips the other row groups
select * from final
order by tenant_id, period
