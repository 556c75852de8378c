"""Incremental builds: new rows are appended; a changed registry or policy rebuilds in full."""

from __future__ import annotations

import json
import shutil

import pytest

from orchestration.runner import build
from tenantproof.core.home import Home
from tenantproof.core.policy import load_policy
from tenantproof.core.settings import HOME_ENV
from tenantproof.core.warehouse import connect
from tenantproof.transform.buildstate import full_refresh_reason, request_full_refresh
from tests.conftest import settings_for


@pytest.fixture
def home(built, tmp_path, monkeypatch) -> Home:
    root = tmp_path / "home"
    shutil.copytree(built.home.root, root)
    monkeypatch.setenv(HOME_ENV, str(root))
    return Home(root)


def q(home: Home, sql: str) -> list[tuple]:
    con = connect(home.warehouse, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def add_events(home: Home, tenant: str, n: int, **fields) -> None:
    lines = [
        json.dumps(
            {
                "event_id": f"ae-new-{i}",
                "occurred_at": "2026-10-20T10:00:00Z",
                "tenant_id": tenant,
                "actor_id": "u-new",
                "actor_email": "new.person@example.com",
                "action": "record.read",
                "reason": None,
                **fields,
            }
        )
        for i in range(n)
    ]
    (home.landing / "audit_events" / "late-delivery.jsonl").write_text("\n".join(lines) + "\n")


def test_new_events_are_appended_without_a_full_rebuild(home):
    version = load_policy().version
    assert full_refresh_reason(home, version) is None
    before = q(home, "select count(*), max(loaded_at) from marts.fct_audit_events")[0]
    kept = q(home, "select count(*) from marts.fct_audit_events where tenant_id = 't2'")[0][0]
    add_events(home, "t1", 5, reason="see Globex ticket and t10")
    build(settings_for(home))
    after = q(home, "select count(*) from marts.fct_audit_events")[0][0]
    assert after == before[0] + 5
    new = q(
        home,
        f"select reason from marts.fct_audit_events where loaded_at > '{before[1]}'",
    )
    assert len(new) == 5
    assert all("t10" not in r[0] and "[other tenant]" in r[0] for r in new)
    assert (
        q(home, "select count(*) from marts.fct_audit_events where tenant_id = 't2'")[0][0] == kept
    )


def test_a_tenant_moving_class_rebuilds_with_its_new_redaction(home):
    version = load_policy().version
    policy = load_policy()
    tenant, old_class = q(home, "select tenant_id, tenant_class from raw.tenants order by 1")[0]
    new_class = next(
        c for c in policy.classes if policy.profile_of(c) != policy.profile_of(old_class)
    )
    row = q(
        home,
        "select tenant_id, tenant_name, residency_region from raw.tenants "
        f"where tenant_id = '{tenant}'",
    )[0]
    (home.landing / "tenants" / "moves.csv").write_text(
        "tenant_id,tenant_name,tenant_class,residency_region,onboarded_at,offboarded_at\n"
        f"{row[0]},{row[1]},{new_class},{row[2]},2025-01-01T00:00:00Z,\n"
    )
    assert full_refresh_reason(home, version) is None
    build(settings_for(home))
    assert q(home, f"select tenant_class from raw.tenants where tenant_id = '{tenant}'") == [
        (new_class,)
    ]
    method = policy.redaction[policy.profile_of(new_class)]["actor_email"]
    emails = [
        r[0]
        for r in q(
            home,
            "select actor_email from marts.fct_audit_events "
            f"where tenant_id = '{tenant}' and attribution = 'tenant'",
        )
    ]
    if method == "drop":
        assert set(emails) == {None}
    elif method == "hash":
        assert all(e is None or len(e) == 64 for e in emails)
    else:
        assert any(e and not (len(e) == 64) for e in emails)
    assert full_refresh_reason(home, version) is None


def test_removed_rows_ask_for_a_full_rebuild(home):
    version = load_policy().version
    request_full_refresh(home, "retention purge removed rows")
    assert full_refresh_reason(home, version) == "requested: retention purge removed rows"
    build(settings_for(home))
    assert full_refresh_reason(home, version) is None
