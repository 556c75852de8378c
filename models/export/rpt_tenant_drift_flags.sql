{# The drift flags that affect a tenant, as they go into its bundle's freshness_report.html,
   with every text column drawn from landing data or logs scrubbed of other tenants'
   identifiers; the page writes its sentence from these columns
   (tenantproof/core/drift_text.py). #}
with final as (
    {{ scrubbed(ref('int_drift_flags_per_tenant')) }}
)

select * from final
