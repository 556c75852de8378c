{# Access to each tenant's data (spec §5.1), redacted and with other tenants' identifiers
   scrubbed from every text column. Incremental like fct_audit_events. #}
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
    {{ scrubbed(ref('int_access_history_redacted'), where=new_rows) }}
)

-- clustered by tenant and period: a scoped read of a few tenants skips the other row groups
select * from final
order by tenant_id, period
