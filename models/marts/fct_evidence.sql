{# A tenant's own compliance evidence (spec §5.4), every text column scrubbed of other
   tenants' identifiers. #}
with final as (
    {{ scrubbed(ref('int_evidence_per_tenant')) }}
)

select * from final
