"""Pure pieces of the analytics: operational logs, the dashboard's views, check outcomes and
notices (no warehouse, no Dagster)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa

from tenantproof.analytics.notify import LogNotifier, new_notices
from tenantproof.analytics.snapshot import (
    DriftKind,
    flags_for,
    freshness_matrix,
    kind_outcomes,
    matrix_html,
    natural_key,
)
from tenantproof.core.oplogs import (
    published_bundles,
    read_isolation_incidents,
    record_isolation_incident,
)

T0 = dt.datetime(2026, 11, 15)


def flags_table(rows: list[dict]) -> pa.Table:
    return pa.table(
        {
            "flag_id": pa.array([r["flag_id"] for r in rows], pa.string()),
            "kind": pa.array([r["kind"] for r in rows], pa.string()),
            "severity": pa.array(["high"] * len(rows), pa.string()),
            "tenant_id": pa.array([r.get("tenant_id") for r in rows], pa.string()),
            "global_scope": pa.array([r.get("global_scope") for r in rows], pa.string()),
            "affected_tenants": pa.array([r["affected"] for r in rows], pa.list_(pa.string())),
            "detected_at": pa.array([T0] * len(rows), pa.timestamp("us")),
            "first_seen_at": pa.array([r["seen"] for r in rows], pa.timestamp("us")),
        }
    )


FLAGS = [
    {"flag_id": "a", "kind": "k1", "tenant_id": "t1", "affected": ["t1"], "seen": T0},
    {
        "flag_id": "b",
        "kind": "k1",
        "global_scope": "platform",
        "affected": ["t2", "t10"],
        "seen": T0 + dt.timedelta(days=1),
    },
    {"flag_id": "c", "kind": "k2", "tenant_id": "t3", "affected": ["t3"], "seen": T0},
]


def test_the_isolation_log_is_read_one_row_per_tenant_and_skips_a_broken_line(
    tmp_path: Path,
) -> None:
    log = tmp_path / "logs" / "isolation_incidents.jsonl"
    record_isolation_incident(
        log,
        run_id="r1",
        source="export_validation",
        tenants=["t3", "t2", "t3"],
        failed_checks=["tenant_isolation"],
        failed_expectations=2,
        unexpected_rows=5,
        detected_at=dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC),
    )
    with log.open("a") as fh:
        fh.write('{"not": "an incident"}\n')
    rows, unreadable = read_isolation_incidents(log)
    assert unreadable == 1
    assert [(r["tenant_id"], r["tenants_in_incident"]) for r in rows] == [("t2", 2), ("t3", 2)]
    assert rows[0]["detected_at"] == dt.datetime(2026, 11, 1, 12)  # naive UTC
    assert rows[0]["failed_checks"] == "tenant_isolation" and rows[0]["unexpected_rows"] == 5


def test_published_bundles_come_from_manifests_only(tmp_path: Path) -> None:
    folder = tmp_path / "eu" / "t1" / "2026-10"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "tenant_id": "t1",
                "residency_region": "eu",
                "period": {"key": "2026-10"},
                "generated_at": "2026-11-02T06:00:00+00:00",
                "run_id": "r",
                "validation": {"success": True},
            }
        )
    )
    broken = tmp_path / "us" / "t2" / "2026-10"
    broken.mkdir(parents=True)
    (broken / "manifest.json").write_text("{")
    rows = published_bundles(tmp_path)
    assert rows == [
        {
            "tenant_id": "t1",
            "period": "2026-10",
            "residency_region": "eu",
            "generated_at": dt.datetime(2026, 11, 2, 6),
            "run_id": "r",
            "validation_success": True,
        }
    ]


def test_a_filtered_view_names_only_the_chosen_tenants() -> None:
    flags = flags_table(FLAGS).to_pandas()
    view = flags_for(flags, ["t10"])
    assert list(view["flag_id"]) == ["b"]
    assert list(view["affected_tenants"]) == [["t10"]] and list(view["affected_total"]) == [2]


def test_the_matrix_is_controls_by_tenants_in_natural_order() -> None:
    freshness = pd.DataFrame(
        {
            "tenant_id": ["t10", "t2", "t2", "t9"],
            "control_id": ["AC-1", "AC-1", "IR-1", "AC-1"],
            "status": ["stale", "fresh", "missing", "fresh"],
        }
    )
    tenants = sorted(["t10", "t2", "t9"], key=natural_key)
    matrix = freshness_matrix(freshness, tenants)
    assert list(matrix.columns) == ["t2", "t9", "t10"]
    assert matrix.loc["IR-1"].tolist() == ["missing", "", ""]
    page = matrix_html(matrix)
    assert page.count("<td") == 6 and "n/a" in page and "<script" not in page


def test_check_outcomes_name_open_and_new_flags_per_kind() -> None:
    kinds = [
        DriftKind("k1", "c1", "high", ""),
        DriftKind("k2", "c2", "low", ""),
        DriftKind("k3", "c3", "low", ""),
    ]
    outcomes = {o.kind.kind: o for o in kind_outcomes(flags_table(FLAGS), {"a", "c"}, kinds)}
    assert (outcomes["k1"].open_flags, outcomes["k1"].new_flags) == (2, 1)
    assert outcomes["k1"].impacted_tenants == ["t1", "t10", "t2"]
    assert outcomes["k1"].new_impacted_tenants == ["t10", "t2"]
    assert not outcomes["k1"].passed and not outcomes["k2"].passed
    assert outcomes["k3"].passed and outcomes["k3"].impacted_tenants == []


def test_notices_are_the_flags_first_seen_after_the_cursor() -> None:
    table = flags_table(FLAGS)
    assert [n.flag_id for n in new_notices(table, None)] == ["a", "b", "c"]
    later = new_notices(table, T0)
    assert [n.flag_id for n in later] == ["b"]
    # a newer snapshot that replaced the file after the cursor's one was read: its flags wait
    # for the next call instead of being sent now and again then
    assert [n.flag_id for n in new_notices(table, None, until=T0)] == ["a", "c"]
    assert new_notices(table, T0, until=T0) == []
    lines: list[str] = []
    LogNotifier(lines.append).notify(later)
    assert lines == [
        "drift k1 [high] on global scope platform (2 tenant(s)): affected tenants t2, t10; "
        "detected 2026-11-15T00:00:00; flag b"
    ]


def test_a_deleted_tenant_leaves_the_isolation_log(tmp_path: Path) -> None:
    from tenantproof.core.oplogs import forget_tenant

    log = tmp_path / "isolation_incidents.jsonl"
    for run, tenants in (("r1", ["t1"]), ("r2", ["t1", "t2"]), ("r3", ["t3"])):
        record_isolation_incident(
            log, run_id=run, source="tenant_scope", tenants=tenants, failed_checks=["x"]
        )
    assert forget_tenant(log, "t1") == 2
    rows, _ = read_isolation_incidents(log)
    assert [(r["run_id"], r["tenant_id"]) for r in rows] == [("r2", "t2"), ("r3", "t3")]
    assert "t1" not in log.read_text()
    assert forget_tenant(tmp_path / "absent.jsonl", "t1") == 0
