{# The drift flags that affect a tenant, as they go into its bundle's freshness_report.html,
   with every text column drawn from landing data or logs scrubbed of other tenants'
   identifiers; the page writes its sentence from these columns
   (tenantproof/core/drift_text.py). #}
{# A table, not a view: the scrub's SQL grows with the registry, past what a metastore keeps
   as a view's text (Spark's Derby metastore stops at 32,700 characters). #}
{{ config(materialized='table') }}

with final as (
    {{ scrubbed(ref('int_drift_flags_per_tenant')) }}
)

select * from final
