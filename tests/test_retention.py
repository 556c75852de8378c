"""Retention beyond the event tables: quarantined lines age out too, and a purge stopped midway
never loses its signed records (spec §2.4, §5.5)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

import tenantproof.erasure.retention as retention
from exports import verify
from tenantproof.analytics.reconcile import reconcile
from tenantproof.core.home import Home
from tenantproof.core.policy import load_policy
from tenantproof.core.warehouse import connect
from tests.conftest import platform_key

AS_OF = datetime(2027, 9, 1)  # standard (365 days) loses rows before 2026-09-01
LEDGER_BALANCE = (
    "select source, sum(rows_read) - sum(rows_loaded) - sum(rows_quarantined) "
    "from raw.file_ledger group by 1 order by 1"
)


def records(home: Home, tenant: str) -> list[dict]:
    folder = home.deletions / tenant / "retention"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def test_quarantined_lines_of_a_tenant_age_out_with_its_class_window(home: Home) -> None:
    policy = load_policy()
    con = connect(home.warehouse)
    try:
        tenant, cls = con.execute(
            "select q.tenant_hint, t.tenant_class from raw.quarantine q "
            "join raw.tenants t on t.tenant_id = q.tenant_hint "
            "where t.tenant_class <> 'standard' limit 1"
        ).fetchone()
        lines = con.execute(
            "update raw.quarantine set quarantined_at = timestamp '2018-01-01' "
            "where tenant_hint = ?",
            [tenant],
        ).fetchone()[0]
        assert lines >= 1
        found = [
            (v.tenant_id, v.rows)
            for v in retention.retention_violations(con, policy, AS_OF)
            if v.table == "raw.quarantine"
        ]
        assert found == [(tenant, lines)]
        balance = con.execute(LEDGER_BALANCE).fetchall()
        retention.purge_expired(con, home, policy, AS_OF)
        assert retention.retention_violations(con, policy, AS_OF) == []
        assert con.execute(
            "select count(*) from raw.quarantine where tenant_hint = ?", [tenant]
        ).fetchone() == (0,)
        assert con.execute(LEDGER_BALANCE).fetchall() == balance
        assert all(r.balanced for r in reconcile(con) if r.source != "incidents")
    finally:
        con.close()
    (doc,) = records(home, tenant)
    assert doc["policy"]["tenant_class"] == cls
    row = next(t for t in doc["tables"] if t["table"] == "raw.quarantine")
    assert (row["rows_before"], row["rows_after"]) == (lines, 0)


def test_a_purge_stopped_after_its_commit_gets_its_records_on_the_next_run(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = load_policy()
    con = connect(home.warehouse)
    try:
        expected: dict[str, int] = {}
        for v in retention.retention_violations(con, policy, AS_OF):
            expected[v.tenant_id] = expected.get(v.tenant_id, 0) + v.rows
        assert expected
        real = retention.write_purge_record

        def stopped(*args, **kwargs):
            raise KeyboardInterrupt  # the process stops after the commit

        monkeypatch.setattr(retention, "write_purge_record", stopped)
        with pytest.raises(KeyboardInterrupt):
            retention.purge_expired(con, home, policy, AS_OF)
        assert retention.retention_violations(con, policy, AS_OF) == [], "the purge committed"
        assert (home.deletions / retention.PENDING).exists()
        assert all(records(home, t) == [] for t in expected)
        # a load before the next run: the record keeps the counts the purge left
        tenant = sorted(expected)[0]
        left = con.execute(
            "select count(*) from raw.audit_events where tenant_id = ?", [tenant]
        ).fetchone()[0]
        con.execute(
            "create temp table late as select * from raw.audit_events where tenant_id = ? limit 1",
            [tenant],
        )
        con.execute("update late set event_id = 'late-arrival'")
        con.execute("insert into raw.audit_events select * from late")
        monkeypatch.setattr(retention, "write_purge_record", real)
        again = retention.purge_expired(con, home, policy, AS_OF)
    finally:
        con.close()
    assert all(p.removed == 0 for p in again), "nothing was left to purge"
    assert not (home.deletions / retention.PENDING).exists()
    assert {p.tenant_id for p in again if p.record} == set(expected), "recovered records"
    for tenant_id, rows in expected.items():
        (doc,) = records(home, tenant_id)
        assert sum(t["rows_purged"] for t in doc["tables"]) == rows  # counts of the first run
        path = sorted((home.deletions / tenant_id / "retention").glob("*.json"))[0]
        assert verify.verify_certificate(path, platform_key(home)).ok
    (doc,) = records(home, tenant)
    audit = next(t for t in doc["tables"] if t["table"] == "raw.audit_events")
    assert audit["rows_after"] == left


def test_a_purge_stopped_before_its_commit_changes_nothing_and_runs_again(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = load_policy()
    con = connect(home.warehouse)
    try:
        before = retention.retention_violations(con, policy, AS_OF)
        real = retention._unledger

        def stopped(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(retention, "_unledger", stopped)
        with pytest.raises(KeyboardInterrupt):
            retention.purge_expired(con, home, policy, AS_OF)
        assert retention.retention_violations(con, policy, AS_OF) == before
        assert not (home.deletions / retention.PENDING).exists()
        monkeypatch.setattr(retention, "_unledger", real)
        purges = retention.purge_expired(con, home, policy, AS_OF)
        assert retention.retention_violations(con, policy, AS_OF) == []
    finally:
        con.close()
    assert sum(p.removed for p in purges) == sum(v.rows for v in before)
    assert all(len(records(home, p.tenant_id)) == 1 for p in purges if p.removed)


def test_a_pending_purge_that_never_committed_is_dropped(home: Home) -> None:
    """A process killed between writing its pending file and committing (no rollback ran):
    the id is not in raw.retention_purges, so the next purge forgets it and purges anew."""
    pending = home.deletions / retention.PENDING
    pending.parent.mkdir(parents=True, exist_ok=True)
    pending.write_text(json.dumps({"purge_id": "never-committed", "tenants": {}, "tables": []}))
    policy = load_policy()
    con = connect(home.warehouse)
    try:
        expected = sum(v.rows for v in retention.retention_violations(con, policy, AS_OF))
        purges = retention.purge_expired(con, home, policy, AS_OF)
    finally:
        con.close()
    assert not pending.exists()
    assert sum(p.removed for p in purges) == expected > 0
