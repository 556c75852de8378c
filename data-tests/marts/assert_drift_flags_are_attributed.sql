{# Invariant (spec §6): every drift flag is attributable, to one tenant (tenant_id set, no
   global_scope, affected_tenants is exactly that tenant) or to a global scope with a non-empty
   set of affected tenants. Returns the flags that break it. #}
with flags as (
    select * from {{ ref('fct_drift_flags') }}
),

final as (
    select flag_id, kind
    from flags
    where not (
        (
            tenant_id is not null
            and global_scope is null
            and affected_tenant_count = 1
            and {{ list_has('affected_tenants', 'tenant_id') }}
        )
        or (tenant_id is null and global_scope is not null and affected_tenant_count > 0)
    )
)

select * from final
