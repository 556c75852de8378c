"""When the incremental marts must be rebuilt in full.

The large marts (audit events, access history) are built incrementally: a build appends only
the rows loaded since the last one. That is right as long as what shapes existing rows is
unchanged: the policy (redaction, applicability), the scrub's rules (the PII, vocabulary and
free-text vars of dbt_project.yml), the tenant registry (classes, regions, names scrubbed from
text) and the rows already loaded. A change of the first two is detected from
their fingerprint; operations that remove loaded rows (retention purges, tenant deletion)
ask for a full rebuild explicitly.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from tenantproof.core.catalog import scrub_rules
from tenantproof.core.home import Home


def _state_file(home: Home) -> Path:
    return home.warehouse.parent / "build_state.json"


def _request_file(home: Home) -> Path:
    return home.warehouse.parent / "full_refresh_requested.json"


def fingerprint(home: Home, policy_version: str) -> str:
    digest = hashlib.sha256(policy_version.encode())
    digest.update(json.dumps(scrub_rules(), sort_keys=True).encode())
    if home.registry.exists():
        rows = pq.read_table(home.registry).sort_by("tenant_id").to_pylist()
        digest.update(json.dumps(rows, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def request_full_refresh(home: Home, reason: str) -> None:
    """Ask the next build to rebuild every incremental model (rows were removed)."""
    path = _request_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    requests = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    requests.append({"reason": reason, "at": datetime.now(UTC).isoformat(timespec="seconds")})
    path.write_text(json.dumps(requests, indent=1), encoding="utf-8")


def full_refresh_reason(home: Home, policy_version: str, engine: str = "duckdb") -> str | None:
    """Why the next build must be a full one, or None when appending new rows is enough."""
    state = _state_file(home)
    if not state.exists():
        return "first build"
    if _request_file(home).exists():
        reasons = json.loads(_request_file(home).read_text(encoding="utf-8"))
        return "requested: " + "; ".join(r["reason"] for r in reasons)
    recorded = json.loads(state.read_text(encoding="utf-8"))
    if recorded.get("engine", "duckdb") != engine:
        return f"engine changed from {recorded.get('engine', 'duckdb')} to {engine}"
    if recorded.get("fingerprint") != fingerprint(home, policy_version):
        return "policy or tenant registry changed since the last build"
    return None


def record_build(
    home: Home, policy_version: str, full_refresh: bool, engine: str = "duckdb"
) -> None:
    _state_file(home).write_text(
        json.dumps(
            {
                "fingerprint": fingerprint(home, policy_version),
                "policy_version": policy_version,
                "full_refresh": full_refresh,
                "engine": engine,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    _request_file(home).unlink(missing_ok=True)
