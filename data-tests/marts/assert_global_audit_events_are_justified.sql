{# Invariant (spec §2.3): a global-scope audit event that reaches a tenant's bundle says why it is
   global. Every event attributed 'global_scope' (or carrying a global_scope) has a non-empty
   scope_justification; blank text counts as none. Returns the events that break it. #}
with events as (
    select * from {{ ref('fct_audit_events') }}
),

final as (
    select tenant_id, event_id, global_scope
    from events
    where (attribution = 'global_scope' or global_scope is not null)
        and coalesce(trim(scope_justification), '') = ''
)

select * from final
