{# Shared-service evidence on every tenant its service applies to, every text column
   scrubbed of other tenants' identifiers (each tenant's copy keeps its own). #}
with final as (
    {{ scrubbed(ref('int_shared_service_evidence_per_tenant')) }}
)

select * from final
