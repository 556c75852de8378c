"""The export's hook into the isolation incident log (``Home.isolation_log``).

A tenant isolation failure, caught by the tenant scope (CrossTenantAccess) or by the isolation
suite on the staged files, is recorded with the tenants it involves (the failing bundles' owners
and the foreign tenants found; the run's tenants only when the check cannot tell) and the failed
checks (counts only), so that the next warehouse build turns it into a drift flag
(fct_drift_flags). Both hooks re-raise or leave the raising to the caller: recording never hides
a failure.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from exports.scope import CrossTenantAccess
from exports.validation import ISOLATION_SUITE, ValidationResult
from tenantproof.core.home import Home
from tenantproof.core.oplogs import record_isolation_incident


@contextmanager
def watch_tenant_scope(home: Home, run_id: str, tenants: Sequence[str]) -> Iterator[None]:
    """Record a CrossTenantAccess raised inside, remove the run's staged files (they may hold
    the rows that were refused) and re-raise."""
    try:
        yield
    except CrossTenantAccess as exc:
        shutil.rmtree(home.staging / run_id, ignore_errors=True)
        record_isolation_incident(
            home.isolation_log,
            run_id=run_id,
            source="tenant_scope",
            tenants=exc.tenants or tenants,
            failed_checks=["tenant_scope"],
        )
        raise


def record_validation_failure(
    home: Home, run_id: str, tenants: Sequence[str], result: ValidationResult
) -> bool:
    """Record the failure if the isolation suite failed; other suites are not isolation
    incidents (their counts-only report stays in staging/<run_id>.failed.json)."""
    failed = [o for o in result.failures() if o.suite == ISOLATION_SUITE]
    if not failed:
        return False
    record_isolation_incident(
        home.isolation_log,
        run_id=run_id,
        source="export_validation",
        tenants=result.isolation_tenants or tenants,
        failed_checks=sorted({o.suite for o in result.failures()}),
        failed_expectations=len(failed),
        unexpected_rows=sum(o.unexpected_count for o in failed),
    )
    return True
