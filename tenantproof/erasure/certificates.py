"""Signed records that a tenant's data is gone: deletion certificates and retention purge records.

Spec §5.5 asks that deletion be tenant-scoped and provable. Both kinds are one JSON document in
the global area of the home (``<home>/deletions/<tenant_id>/``), signed with the platform's
export key like the bundles (``exports.signing``), and checked offline by ``exports/verify.py``:
every table's rows before and after, and every verification query with its result and the
result it must have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from exports.contract import PURGE
from exports.signing import ExportSigner, LocalSigningKey, write_signed_json
from tenantproof.core.home import Home

CERTIFICATE_VERSION = 1
RETENTION_DIR = "retention"


@dataclass(frozen=True)
class Check:
    """One verification: what it checks, the query (or file scan) that checks it, the result."""

    check: str
    query: str
    result: int
    expected: int = 0

    @property
    def passed(self) -> bool:
        return self.result == self.expected

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "query": self.query,
            "result": self.result,
            "expected": self.expected,
            "passed": self.passed,
        }


def tenant_area(home: Home, tenant_id: str) -> Path:
    return home.deletions / tenant_id


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_certificate(
    path: Path, document: Mapping[str, Any], signer: ExportSigner | None, home: Home
) -> Path:
    """Write and sign one certificate; the public key is copied beside it."""
    body = {"certificate_version": CERTIFICATE_VERSION, **document}
    return write_signed_json(path, body, signer or LocalSigningKey.for_home(home))


def write_purge_record(
    home: Home,
    tenant_id: str,
    tables: Mapping[str, tuple[int, int]],
    *,
    policy: Mapping[str, Any],
    cutoff: date | datetime | str,
    requested_by: str = "retention",
    checks: Sequence[Check] = (),
    purged_at: datetime | None = None,
    signer: ExportSigner | None = None,
) -> Path:
    """The signed record of one retention purge of one tenant's rows.

    ``tables`` maps each table to its rows of the tenant before and after the purge; ``policy``
    names the rule applied (e.g. tenant_class, retention_days, policy_version); ``checks`` are
    the queries that show nothing older than ``cutoff`` remains. Written under
    ``<home>/deletions/<tenant_id>/retention/``, one file per purge."""
    when = purged_at or datetime.now(UTC)
    for table, (before, after) in tables.items():
        if after > before:
            raise ValueError(
                f"{table}: {after} rows after the purge of {tenant_id}, {before} before"
            )
    document = {
        "kind": PURGE,
        "tenant_id": tenant_id,
        "policy": dict(policy),
        "cutoff": cutoff if isinstance(cutoff, str) else cutoff.isoformat(),
        "requested_by": requested_by,
        "purged_at": when.isoformat(timespec="seconds"),
        "tables": [
            {"table": t, "rows_before": b, "rows_after": a, "rows_purged": b - a}
            for t, (b, a) in sorted(tables.items())
        ],
        "verification": [c.as_dict() for c in checks],
        "verified": all(c.passed for c in checks),
    }
    folder = tenant_area(home, tenant_id) / RETENTION_DIR
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{stamp}.json"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{stamp}-{n}.json"
    return write_certificate(path, document, signer, home)
