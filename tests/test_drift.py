"""Tenant-aware drift detection (spec §5.4, §6, §9) on hand-made data.

Two homes share one small, clean data set: four tenants of three classes in two regions, fresh
evidence for every applicable control, reasons on admin actions, incidents notified on time.
The clean home is built as it is; the planted home gets one plant per drift kind. Each test
shows its kind absent from the clean home and present in the planted one, attributed to exactly
the right tenants (or global scope and affected tenants)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tenantproof.analytics.snapshot import drift_kinds
from tenantproof.core.drift_text import flag_sentence
from tenantproof.core.home import SEEDS_DIR, Home
from tenantproof.core.oplogs import record_isolation_incident
from tenantproof.core.settings import HOME_ENV
from tenantproof.core.sources import ACCESS_HISTORY, AUDIT_EVENTS, EVIDENCE_EVENTS, INCIDENTS
from tenantproof.core.warehouse import connect
from tests.conftest import AS_OF_ENV, settings_for

AS_OF = dt.datetime(2026, 11, 15)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
ONBOARDED = "2025-01-01T00:00:00Z"
# the planted home's t4 joined inside the freshness history's window and left before its end
T4_ONBOARDED = AS_OF - 20 * DAY + 9 * HOUR  # 2026-10-26 09:00
T4_OFFBOARDED = AS_OF - 3 * DAY + 15 * HOUR  # 2026-11-12 15:00
# tenant -> (class, region): standard 365 d retention / 72 h SLA / 90 d freshness, enterprise
# 730 / 48 / 60, regulated 2555 / 24 / 30 (seeds/tenant_class_policies.csv)
TENANTS = {
    "t1": ("standard", "eu"),
    "t2": ("enterprise", "us"),
    "t3": ("regulated", "eu"),
    "t4": ("standard", "us"),
}
NAMES = {"t1": "Alpha Mills", "t2": "Beta Freight", "t3": "Gamma Clinics", "t4": "Delta Foods"}
EU = ["t1", "t3"]  # svc-observability applies to region eu


def iso(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def controls_of(tenant_class: str) -> list[str]:
    with (SEEDS_DIR / "controls.csv").open(newline="") as fh:
        return [
            r["control_id"]
            for r in csv.DictReader(fh)
            if tenant_class in r["applies_to_classes"].split("|")
        ]


def services() -> list[str]:
    with (SEEDS_DIR / "shared_services.csv").open(newline="") as fh:
        return [r["service_id"] for r in csv.DictReader(fh)]


@dataclass
class Landing:
    """Rows per source, written to landing files by `write`."""

    audit: list[dict]
    access: list[dict]
    evidence: list[dict]
    incidents: list[dict]
    # tenant -> (onboarded_at, offboarded_at) where it differs from (ONBOARDED, not offboarded)
    lifecycle: dict[str, tuple[str, str]] = field(default_factory=dict)

    def write(self, home: Path) -> None:
        landing = home / "landing"
        (landing / "tenants").mkdir(parents=True)
        with (landing / "tenants" / "tenants.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(
                ["tenant_id", "tenant_name", "tenant_class", "residency_region", "onboarded_at"]
                + ["offboarded_at"]
            )
            for t, (cls, region) in TENANTS.items():
                onboarded, offboarded = self.lifecycle.get(t, (ONBOARDED, ""))
                writer.writerow([t, NAMES[t], cls, region, onboarded, offboarded])
        for source, rows in ((AUDIT_EVENTS, self.audit), (INCIDENTS, self.incidents)):
            (landing / source.name).mkdir()
            text = "".join(json.dumps({c: r.get(c) for c in source.columns}) + "\n" for r in rows)
            (landing / source.name / "part-0.jsonl").write_text(text)
        (landing / ACCESS_HISTORY.name).mkdir()
        with (landing / ACCESS_HISTORY.name / "part-0.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(ACCESS_HISTORY.columns))
            writer.writeheader()
            writer.writerows({c: r.get(c, "") for c in ACCESS_HISTORY.columns} for r in self.access)
        (landing / EVIDENCE_EVENTS.name).mkdir()
        columns = {c: [r.get(c) for r in self.evidence] for c in EVIDENCE_EVENTS.columns}
        columns["observed_at"] = pa.array(columns["observed_at"], pa.timestamp("us", tz="UTC"))
        pq.write_table(pa.table(columns), landing / EVIDENCE_EVENTS.name / "part-0.parquet")


def clean_landing() -> Landing:
    audit, access, evidence, incidents = [], [], [], []
    for t, (cls, _) in TENANTS.items():
        audit.append(
            {
                "event_id": f"ae-{t}",
                "occurred_at": iso(AS_OF - 5 * DAY),
                "tenant_id": t,
                "actor_id": f"usr_{t}",
                "actor_tenant_id": t,
                "actor_email": f"admin@{t}.example",
                "service": "app-api",
                "action": "record.update",
                "outcome": "success",
            }
        )
        access.append(
            {
                "access_id": f"ah-{t}",
                "accessed_at": iso(AS_OF - 4 * DAY),
                "tenant_id": t,
                "actor_id": f"usr_{t}",
                "actor_tenant_id": t,
                "access_type": "admin",
                "reason": "quarterly access review",
                "session_id": f"s-{t}",
                "actor_email": f"admin@{t}.example",
            }
        )
        for control in controls_of(cls):
            evidence.append(
                {
                    "evidence_id": f"ev-{t}-{control}",
                    "control_id": control,
                    "tenant_id": t,
                    "observed_at": AS_OF - DAY,
                    "status": "pass",
                    "source": "scanner",
                }
            )
    for service in services():
        for control in ("AC-2", "AU-2", "IR-1"):
            evidence.append(
                {
                    "evidence_id": f"ev-{service}-{control}",
                    "control_id": control,
                    "global_scope": "platform",
                    "scope_justification": "shared service control evidence",
                    "service_id": service,
                    "observed_at": AS_OF - DAY,
                    "status": "pass",
                    "source": "ci",
                }
            )
    # a shared-service change followed by evidence: not drift
    audit.append(
        {
            "event_id": "ae-change-billing",
            "occurred_at": iso(AS_OF - 3 * DAY),
            "global_scope": "platform",
            "scope_justification": "billing pipeline configuration change",
            "actor_id": "ops_1",
            "service": "svc-billing",
            "action": "settings.change",
            "outcome": "success",
        }
    )
    incidents += [
        {
            "incident_id": "inc-t2-ontime",
            "detected_at": iso(AS_OF - 10 * DAY),
            "tenant_id": "t2",
            "severity": "medium",
            "notified_at": iso(AS_OF - 10 * DAY + HOUR),
            "summary": "delayed audit log delivery",
        },
        {
            "incident_id": "inc-obs-ontime",
            "detected_at": iso(AS_OF - 8 * DAY),
            "global_scope": "platform",
            "scope_justification": "shared service incident",
            "service_id": "svc-observability",
            "severity": "high",
            "notified_at": iso(AS_OF - 8 * DAY + 2 * HOUR),
            "summary": "log pipeline outage",
        },
    ]
    return Landing(audit, access, evidence, incidents)


def planted_landing() -> Landing:
    data = clean_landing()
    by_id = {r["evidence_id"]: r for r in data.evidence}
    # stale: t1's own AC-1 evidence is 120 days old (SLA: the stricter of 90 and 90 days)
    by_id["ev-t1-AC-1"]["observed_at"] = AS_OF - 120 * DAY
    # missing: t2 has no EN-1 evidence and no AU-2 evidence of its own; AU-2 is inherited from
    # svc-observability only in eu, so t3 (eu) stays fresh without its own AU-2 and t2 (us) not
    dropped = ("ev-t2-EN-1", "ev-t2-AU-2", "ev-t3-AU-2")
    data.evidence = [r for r in data.evidence if r["evidence_id"] not in dropped]
    # shared-service change without evidence since: svc-observability's evidence predates a key
    # rotation two days ago (due within 24 h); a change 6 h ago is not due yet; a login is no
    # change
    for r in data.evidence:
        if r.get("service_id") == "svc-observability":
            r["observed_at"] = AS_OF - 3 * DAY
    for event_id, hours_ago, service, action in (
        ("ae-rotate-obs", 48, "svc-observability", "key.rotate"),
        ("ae-change-auth-recent", 6, "svc-auth", "settings.change"),
        ("ae-login-messaging", 48, "svc-messaging", "user.login"),
    ):
        data.audit.append(
            {
                "event_id": event_id,
                "occurred_at": iso(AS_OF - hours_ago * HOUR),
                "global_scope": "platform",
                "scope_justification": "scheduled platform change",
                "actor_id": "ops_1",
                "service": service,
                "action": action,
                "outcome": "success",
            }
        )
    # retention: t4 (standard, 365 days) still holds a 400-day-old event and a 500-day-old
    # access row; t3 (regulated, 2555 days) holds a 400-day-old event, within its window
    for t in ("t4", "t3"):
        data.audit.append(
            {
                **data.audit[0],
                "event_id": f"ae-old-{t}",
                "occurred_at": iso(AS_OF - 400 * DAY),
                "tenant_id": t,
                "actor_tenant_id": t,
                "actor_id": f"usr_{t}",
                "actor_email": f"admin@{t}.example",
            }
        )
    data.access.append(
        {**data.access[3], "access_id": "ah-old-t4", "accessed_at": iso(AS_OF - 500 * DAY)}
    )
    # admin action without a reason, on t3
    data.access.append({**data.access[2], "access_id": "ah-noreason-t3", "reason": ""})
    # lifecycle: t4 has freshness history only from its onboarding day to its offboarding day
    data.lifecycle["t4"] = (iso(T4_ONBOARDED), iso(T4_OFFBOARDED))
    # incidents: t4 never notified (72 h SLA lapsed); a svc-billing incident notified after 30 h
    # (late for t3's 24 h, on time for t2's 48 h); t1's incident 1 day old, not yet due
    data.incidents += [
        {
            "incident_id": "inc-t4-silent",
            "detected_at": iso(AS_OF - 5 * DAY),
            "tenant_id": "t4",
            "severity": "high",
            "summary": "suspicious login pattern blocked",
        },
        {
            "incident_id": "inc-billing-late",
            "detected_at": iso(AS_OF - 10 * DAY),
            "global_scope": "platform",
            "scope_justification": "shared service incident",
            "service_id": "svc-billing",
            "severity": "critical",
            "notified_at": iso(AS_OF - 10 * DAY + 30 * HOUR),
            "summary": "invoice export misrouted",
        },
        {
            "incident_id": "inc-t1-due",
            "detected_at": iso(AS_OF - DAY),
            "tenant_id": "t1",
            "severity": "low",
            "summary": "elevated error rate",
        },
    ]
    return data


def plant_bundles(home: Home, tenants: list[str], generated_at: dt.datetime) -> None:
    """Published-bundle manifests (what the export writes): the maturity marts read them."""
    for t in tenants:
        folder = home.exports / TENANTS[t][1] / t / "2026-10"
        folder.mkdir(parents=True)
        manifest = {
            "tenant_id": t,
            "residency_region": TENANTS[t][1],
            "period": {"key": "2026-10"},
            "generated_at": generated_at.isoformat() + "+00:00",
            "run_id": "planted",
            "validation": {"success": True},
        }
        (folder / "manifest.json").write_text(json.dumps(manifest))


@dataclass
class Homes:
    clean: Home
    planted: Home


def flags(home: Home, kind: str) -> list[dict]:
    con = connect(home.warehouse, read_only=True)
    try:
        rows = con.execute(
            "select * from marts.fct_drift_flags where kind = ? order by tenant_id, subject",
            [kind],
        ).fetchall()
        columns = [d[0] for d in con.description]
    finally:
        con.close()
    return [dict(zip(columns, r, strict=True)) for r in rows]


def query(home: Home, sql: str) -> list[tuple]:
    con = connect(home.warehouse, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homes]:
    from orchestration.runner import build

    built = {}
    for name, landing in (("clean", clean_landing()), ("planted", planted_landing())):
        root = tmp_path_factory.mktemp(name)
        landing.write(root)
        home = Home(root).ensure()
        plant_bundles(home, ["t1", "t2", "t3"], AS_OF - 20 * DAY)
        if name == "planted":
            # isolation incidents as exports/isolation_log.py records them: a validation failure
            # in t1's own export, and the tenant scope refusing rows in a run of t2 and t3
            record_isolation_incident(
                home.isolation_log,
                run_id="run-a",
                source="export_validation",
                tenants=["t1"],
                failed_checks=["tenant_isolation", "row_counts"],
                failed_expectations=1,
                unexpected_rows=1,
                detected_at=AS_OF - 2 * DAY,
            )
            record_isolation_incident(
                home.isolation_log,
                run_id="run-b",
                source="tenant_scope",
                tenants=["t3", "t2"],
                failed_checks=["tenant_scope"],
                detected_at=AS_OF - DAY,
            )
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(HOME_ENV, str(root))
            mp.setenv(AS_OF_ENV, AS_OF.isoformat(sep=" "))
            build(settings_for(home))
        built[name] = home
    yield Homes(**built)


def test_clean_data_raises_no_flag_and_every_control_is_fresh(homes: Homes) -> None:
    assert query(homes.clean, "select count(*) from marts.fct_drift_flags") == [(0,)]
    statuses = query(homes.clean, "select distinct status from marts.fct_evidence_freshness")
    assert statuses == [("fresh",)]
    pairs = query(homes.clean, "select count(*) from marts.fct_evidence_freshness")[0][0]
    assert pairs == sum(len(controls_of(c)) for c, _ in TENANTS.values())


def test_stale_evidence_is_flagged_for_its_tenant_and_control(homes: Homes) -> None:
    assert flags(homes.clean, "evidence_stale") == []
    found = flags(homes.planted, "evidence_stale")
    assert [(f["tenant_id"], f["control_id"], f["affected_tenants"]) for f in found] == [
        ("t1", "AC-1", ["t1"])
    ]
    assert found[0]["global_scope"] is None
    assert found[0]["detected_at"] == AS_OF - 120 * DAY + 90 * DAY  # when the SLA lapsed
    assert "120.0 days old; SLA 90 days" in flag_sentence(found[0])


def test_missing_evidence_is_flagged_and_inherited_evidence_counts(homes: Homes) -> None:
    assert flags(homes.clean, "evidence_missing") == []
    found = flags(homes.planted, "evidence_missing")
    assert [(f["tenant_id"], f["control_id"], f["affected_tenants"]) for f in found] == [
        ("t2", "AU-2", ["t2"]),
        ("t2", "EN-1", ["t2"]),
    ]
    inherited = query(
        homes.planted,
        "select status, last_evidence_origin, last_evidence_service_id "
        "from marts.fct_evidence_freshness where tenant_id = 't3' and control_id = 'AU-2'",
    )
    assert inherited == [("fresh", "shared_service", "svc-observability")]


def test_the_stricter_sla_wins(homes: Homes) -> None:
    sla = dict(
        query(
            homes.clean,
            "select tenant_id || ' ' || control_id, freshness_sla_days "
            "from marts.fct_evidence_freshness where control_id in ('IS-1', 'IR-1', 'AC-1')",
        )
    )
    assert sla["t1 IS-1"] == 7  # control 7 days, class 90
    assert sla["t3 IR-1"] == 14  # control 180 days, class 30, its family 14 for the class
    assert sla["t2 AC-1"] == 60  # control 90 days, class 60


def test_retention_violation_follows_each_class_window(homes: Homes) -> None:
    assert flags(homes.clean, "retention_violated") == []
    found = flags(homes.planted, "retention_violated")
    assert [(f["tenant_id"], f["affected_tenants"]) for f in found] == [("t4", ["t4"])]
    oldest = AS_OF - 500 * DAY
    assert found[0]["detected_at"] == oldest + 365 * DAY
    assert flag_sentence(found[0]) == (
        "2 row(s) held past the 365-day retention window (audit_events 1, access_history 1, "
        f"evidence 0); oldest {oldest:%Y-%m-%d %H:%M:%S}"
    )


def test_isolation_incidents_are_flagged_per_tenant_or_run(homes: Homes) -> None:
    assert flags(homes.clean, "tenant_isolation_misconfigured") == []
    found = flags(homes.planted, "tenant_isolation_misconfigured")
    got = [(f["tenant_id"], f["global_scope"], f["affected_tenants"]) for f in found]
    assert got == [("t1", None, ["t1"]), (None, "export_run", ["t2", "t3"])]
    assert "tenant_isolation" in flag_sentence(found[0])


def test_a_shared_service_change_without_evidence_names_exactly_its_tenants(
    homes: Homes,
) -> None:
    assert flags(homes.clean, "shared_service_change_unevidenced") == []
    found = flags(homes.planted, "shared_service_change_unevidenced")
    assert len(found) == 1, "the recent change is not due yet and a login is no change"
    flag = found[0]
    assert flag["tenant_id"] is None and flag["global_scope"] == "platform"
    assert flag["service_id"] == "svc-observability"
    assert flag["affected_tenants"] == EU
    applies = query(
        homes.planted,
        "select tenant_id from intermediate.int_shared_services_applied "
        "where service_id = 'svc-observability' order by 1",
    )
    assert [r[0] for r in applies] == flag["affected_tenants"]
    assert flag["detected_at"] == AS_OF - 48 * HOUR + 24 * HOUR
    assert "ae-rotate-obs" in flag_sentence(flag)


def test_an_admin_action_without_reason_is_flagged_on_its_tenant(homes: Homes) -> None:
    assert flags(homes.clean, "admin_action_without_reason") == []
    found = flags(homes.planted, "admin_action_without_reason")
    assert [(f["tenant_id"], f["subject"], f["affected_tenants"]) for f in found] == [
        ("t3", "access ah-noreason-t3", ["t3"])
    ]
    assert "@" not in flag_sentence(found[0]) and "usr_" not in flag_sentence(found[0])


def test_overdue_notifications_follow_each_class_sla(homes: Homes) -> None:
    assert flags(homes.clean, "incident_notification_overdue") == []
    found = flags(homes.planted, "incident_notification_overdue")
    got = [(f["tenant_id"], f["global_scope"], f["subject"], f["affected_tenants"]) for f in found]
    assert got == [
        ("t4", None, "incident inc-t4-silent", ["t4"]),
        (None, "platform", "incident inc-billing-late", ["t3"]),
    ]
    deadlines = dict(
        query(
            homes.planted,
            "select tenant_id, notification_status from marts.fct_incident_notifications "
            "where incident_id = 'inc-billing-late'",
        )
    )
    assert deadlines == {"t2": "notified_on_time", "t3": "notified_late"}
    status = query(
        homes.planted,
        "select notification_status from marts.fct_incident_notifications "
        "where incident_id = 'inc-t1-due'",
    )
    assert status == [("pending",)]


def test_each_planted_flag_reads_as_one_sentence_of_its_details(homes: Homes) -> None:
    """The mart holds typed details only; tenantproof/core/drift_text.py writes what a person
    reads."""
    found = sorted(
        (f["kind"], f["tenant_id"] or f["global_scope"], f["subject"], flag_sentence(f))
        for kind in sorted({k.kind for k in drift_kinds()})
        for f in flags(homes.planted, kind)
    )
    assert [(kind, who, sentence) for kind, who, _, sentence in found] == [
        (
            "admin_action_without_reason",
            "t3",
            "admin access ah-noreason-t3 at 2026-11-11 00:00:00 has no reason",
        ),
        (
            "evidence_missing",
            "t2",
            "no evidence, own or inherited from a shared service; SLA 30 days",
        ),
        (
            "evidence_missing",
            "t2",
            "no evidence, own or inherited from a shared service; SLA 60 days",
        ),
        (
            "evidence_stale",
            "t1",
            "last evidence ev-t1-AC-1 (own) observed 2026-07-18 00:00:00, 120.0 days old; "
            "SLA 90 days",
        ),
        (
            "incident_notification_overdue",
            "platform",
            "incident inc-billing-late (critical) detected 2026-11-05 00:00:00: notified "
            "2026-11-06 06:00:00, 6.0 h past the deadline (SLA 24 h)",
        ),
        (
            "incident_notification_overdue",
            "t4",
            "incident inc-t4-silent (high) detected 2026-11-10 00:00:00: not notified, 48.0 h "
            "past the deadline (SLA 72 h)",
        ),
        (
            "retention_violated",
            "t4",
            "2 row(s) held past the 365-day retention window (audit_events 1, access_history 1, "
            "evidence 0); oldest 2025-07-03 00:00:00",
        ),
        (
            "shared_service_change_unevidenced",
            "platform",
            "key.rotate on svc-observability at 2026-11-13 00:00:00 (event ae-rotate-obs): no "
            "evidence from svc-observability observed since; due within 24 h",
        ),
        (
            "tenant_isolation_misconfigured",
            "export_run",
            "the tenant scope returned rows outside the scope; the export stopped",
        ),
        (
            "tenant_isolation_misconfigured",
            "t1",
            "export validation failed (row_counts|tenant_isolation): 1 expectation(s), "
            "1 unexpected row(s); the failing bundles were withheld",
        ),
    ]


def test_maturity_levels_and_the_reason_for_each_level_not_reached(homes: Homes) -> None:
    sql = (
        "select tenant_id, maturity_level, level_1_gaps, level_2_gaps, level_3_gaps "
        "from marts.dim_tenant_maturity order by tenant_id"
    )
    clean = {r[0]: r[1:] for r in query(homes.clean, sql)}
    assert clean["t1"] == clean["t2"] == clean["t3"] == (3, None, None, None)
    assert clean["t4"] == (
        1,
        None,
        "no validated audit bundle published",
        "level 2 not reached",
    )
    planted = {r[0]: r[1:] for r in query(homes.planted, sql)}
    isolation = "1 isolation incident(s) not followed by a validated export"
    # t1, t2 and t3: an isolation incident after their last validated bundle (and its flag,
    # critical, affects them); t3 also has a notification that was late for its class
    assert planted["t1"] == (
        0,
        isolation,
        "level 1 not reached",
        "level 2 not reached; 1 stale and 0 missing control(s): AC-1; "
        "1 open critical drift flag(s)",
    )
    assert planted["t2"] == (
        0,
        isolation,
        "level 1 not reached",
        "level 2 not reached; 0 stale and 2 missing control(s): AU-2, EN-1; "
        "1 open critical drift flag(s)",
    )
    assert planted["t3"] == (
        0,
        isolation,
        "level 1 not reached",
        "level 2 not reached; 2 open critical drift flag(s)",
    )
    # t4: no bundle published, and its overdue notification
    assert planted["t4"] == (
        1,
        None,
        "no validated audit bundle published",
        "level 2 not reached; 1 open critical drift flag(s)",
    )


def test_the_snapshot_checks_name_the_impacted_tenants(homes: Homes) -> None:
    import dagster as dg

    expected = {
        "evidence_fresh": ["t1"],
        "evidence_present": ["t2"],
        "retention_respected": ["t4"],
        "tenant_isolation_holds": ["t1", "t2", "t3"],
        "shared_service_changes_evidenced": EU,
        "admin_actions_have_reasons": ["t3"],
        "incident_notifications_on_time": ["t3", "t4"],
    }
    assert {k.check_name for k in drift_kinds()} == set(expected)
    with dg.DagsterInstance.from_config(str(homes.planted.dagster_home)) as instance:
        for check, tenants in expected.items():
            key = dg.AssetCheckKey(dg.AssetKey("analytics_snapshot"), check)
            record = instance.get_latest_asset_check_evaluation_record(key)
            evaluation = record.event.dagster_event.event_specific_data
            assert evaluation.passed is False, check
            metadata = {k: v.value for k, v in evaluation.metadata.items()}
            assert metadata["impacted_tenants"] == tenants, check
            assert metadata["new_flag_tenants"] == tenants, "first snapshot: every flag is new"
            assert metadata["impacted_tenant_count"] == len(tenants)
    with dg.DagsterInstance.from_config(str(homes.clean.dagster_home)) as instance:
        for check in expected:
            key = dg.AssetCheckKey(dg.AssetKey("analytics_snapshot"), check)
            evaluation = instance.get_latest_asset_check_evaluation_record(key)
            assert evaluation.event.dagster_event.event_specific_data.passed is True, check


def test_the_sensor_hands_new_flags_to_the_notifier_once(
    homes: Homes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    from orchestration.analytics import drift_flags_sensor
    from orchestration.resources import DriftNotifierResource, TenantproofResource
    from tenantproof.analytics.snapshot import publish_snapshot

    home = Home(tmp_path / "home")
    shutil.copytree(homes.planted.root, home.root)
    monkeypatch.setenv(HOME_ENV, str(home.root))
    out = tmp_path / "notices.jsonl"
    resources = {
        "tenantproof": TenantproofResource(home=str(home.root)),
        "drift_notifier": DriftNotifierResource(jsonl_path=str(out)),
    }
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources=resources)
        drift_flags_sensor(context)
        sent = [json.loads(x) for x in out.read_text().splitlines()]
        total = query(home, "select count(*) from marts.fct_drift_flags")[0][0]
        assert len(sent) == total > 0
        assert {n["kind"] for n in sent} == {
            k for (k,) in query(home, "select distinct kind from marts.fct_drift_flags")
        }
        text = out.read_text()
        assert "@" not in text and "usr_" not in text and "Alpha" not in text, "ids only"
        change = next(n for n in sent if n["kind"] == "shared_service_change_unevidenced")
        assert change["affected_tenants"] == EU and change["tenant_id"] is None

        # a new snapshot of the same flags: nothing new to send
        con = connect(home.warehouse, read_only=True)
        try:
            publish_snapshot(con, home.analytics, now=dt.datetime.now(dt.UTC) + DAY)
        finally:
            con.close()
        cursor = context.cursor
        again = dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor)
        drift_flags_sensor(again)
        assert again.cursor != cursor, "the new snapshot was seen"
        assert len(out.read_text().splitlines()) == total, "and no flag was sent twice"


def test_the_export_logs_an_isolation_incident_when_validation_catches_a_leak(
    built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import exports.pipeline as pipeline
    from orchestration.runner import export

    home = Home(tmp_path / "home")
    shutil.copytree(built.home.root, home.root)
    monkeypatch.setenv(HOME_ENV, str(home.root))
    real = pipeline.stage_bundles

    def leak(scope, staging_root):
        bundles = real(scope, staging_root)
        t2 = next(b for b in bundles if b.tenant_id == "t2")
        t3 = next(b for b in bundles if b.tenant_id == "t3")
        table = pq.read_table(t2.files["audit_events.parquet"])
        foreign = pq.read_table(t3.files["audit_events.parquet"]).to_pylist()[:1]
        pq.write_table(
            table.from_pylist(table.to_pylist() + foreign, schema=table.schema),
            t2.files["audit_events.parquet"],
        )
        return bundles

    def logged() -> list[dict]:
        log = home.isolation_log
        return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []

    before = logged()
    export(settings_for(home), ["2026-10"], ["t2", "t3"])
    assert logged() == before, "a clean export logs nothing"
    monkeypatch.setattr(pipeline, "stage_bundles", leak)
    with pytest.raises(SystemExit, match="withheld"):
        export(settings_for(home), ["2026-10"], None)  # every tenant in one run
    entries = logged()[len(before) :]
    assert len(entries) == 1
    # the leaking bundle's owner and the tenant whose row it holds, not the whole run
    assert entries[0]["tenants"] == ["t2", "t3"]
    assert entries[0]["source"] == "export_validation"
    assert "tenant_isolation" in entries[0]["failed_checks"]
    assert entries[0]["unexpected_rows"] >= 1

    def mention(scope, staging_root):  # t2's own row whose text names t5
        bundles = real(scope, staging_root)
        t2 = next(b for b in bundles if b.tenant_id == "t2")
        rows = pq.read_table(t2.files["audit_events.parquet"])
        first = rows.slice(0, 1).to_pylist()[0]
        first["reason"] = f"ticket raised by {built.identifiers['t5']}"
        pq.write_table(
            rows.from_pylist(rows.slice(1).to_pylist() + [first], schema=rows.schema),
            t2.files["audit_events.parquet"],
        )
        return bundles

    monkeypatch.setattr(pipeline, "stage_bundles", mention)
    with pytest.raises(SystemExit, match="withheld"):
        export(settings_for(home), ["2026-10"], None)
    entries = logged()[len(before) :]
    assert len(entries) == 2
    assert entries[1]["tenants"] == ["t2", "t5"]


# -- the freshness history (trends) --

HISTORY_FIRST_DAY = AS_OF.date() - 90 * DAY  # freshness_history_days defaults to 90
STANDARD_CONTROLS = 4  # AC-1, AC-2, AU-1, IS-1 (seeds/controls.csv)


def test_the_history_turns_a_control_stale_on_the_day_its_sla_lapses(homes: Homes) -> None:
    """t1's own AC-1 evidence was observed 120 days before the as-of time and its SLA is 90
    days: it lapses at midnight starting 2026-10-16, so the control is fresh at the end of
    2026-10-15 and stale at the end of 2026-10-16 and of every later day."""
    rows = query(
        homes.planted,
        "select snapshot_date, status, last_evidence_at "
        "from marts.fct_evidence_freshness_history "
        "where tenant_id = 't1' and control_id = 'AC-1' order by snapshot_date",
    )
    assert [r[0] for r in rows] == [HISTORY_FIRST_DAY + i * DAY for i in range(91)]
    status = {day: s for day, s, _ in rows}
    assert status[dt.date(2026, 10, 15)] == "fresh"
    assert status[dt.date(2026, 10, 16)] == "stale"
    assert {s for day, s in status.items() if day <= dt.date(2026, 10, 15)} == {"fresh"}
    assert {s for day, s in status.items() if day >= dt.date(2026, 10, 16)} == {"stale"}
    assert {r[2] for r in rows} == {AS_OF - 120 * DAY}
    clean = query(
        homes.clean,
        "select distinct status from marts.fct_evidence_freshness_history "
        "where tenant_id = 't1' and control_id = 'AC-1' order by 1",
    )
    assert clean == [("fresh",), ("missing",)], "a day-old evidence is never stale"


def test_a_tenant_has_history_only_from_its_onboarding_to_its_offboarding(
    homes: Homes,
) -> None:
    """Planted t4 was onboarded on 2026-10-26 (09:00) and offboarded on 2026-11-12 (15:00):
    its rows run over those 18 days only, none before (they are not counted as missing) and
    none after; its evidence, a day before the as-of time, came after it left."""
    span = (
        "select tenant_id, min(snapshot_date), max(snapshot_date), "
        "count(distinct snapshot_date), count(*) "
        "from marts.fct_evidence_freshness_history group by tenant_id order by tenant_id"
    )
    planted = {r[0]: r[1:] for r in query(homes.planted, span)}
    onboarded, offboarded = dt.date(2026, 10, 26), dt.date(2026, 11, 12)
    assert (T4_ONBOARDED.date(), T4_OFFBOARDED.date()) == (onboarded, offboarded)
    assert planted["t4"] == (onboarded, offboarded, 18, 18 * STANDARD_CONTROLS)
    for tenant in ("t1", "t2", "t3"):
        assert planted[tenant][:3] == (HISTORY_FIRST_DAY, AS_OF.date(), 91), tenant
    t4 = query(
        homes.planted,
        "select distinct status from marts.fct_evidence_freshness_history where tenant_id = 't4'",
    )
    assert t4 == [("missing",)]
    # the as-of mart still lists every registered tenant's controls
    current = query(
        homes.planted, "select count(*) from marts.fct_evidence_freshness where tenant_id = 't4'"
    )
    assert current == [(STANDARD_CONTROLS,)]
    # onboarded before the window and never offboarded: every day
    clean = {r[0]: r[1:] for r in query(homes.clean, span)}
    assert clean["t4"] == (HISTORY_FIRST_DAY, AS_OF.date(), 91, 91 * STANDARD_CONTROLS)


def test_the_as_of_day_data_test_ran_and_passed_on_the_planted_home(homes: Homes) -> None:
    """data-tests/marts/assert_freshness_history_ends_at_the_as_of_status.sql is part of the
    build: a failure would have failed the fixture's build; this shows it was not skipped."""
    name = "test.tenantproof.assert_freshness_history_ends_at_the_as_of_status"
    runs = sorted(homes.planted.dbt_target.glob("*/run_results.json"))
    assert runs, "dbt wrote run results"
    results = {r["unique_id"]: r for r in json.loads(runs[-1].read_text())["results"]}
    assert results[name]["status"] == "pass"
    assert results[name]["failures"] == 0


def test_the_trend_counts_each_day_of_the_snapshot(homes: Homes) -> None:
    """trend() on the planted home's analytics snapshot. t1 (4 controls): AC-1 fresh, then
    stale from 2026-10-16; its other 3 controls' evidence (observed at midnight starting
    2026-11-14) counts from the end of 2026-11-13. t4 (4 controls, all missing) only from its
    onboarding day to its offboarding day."""
    from tenantproof.analytics.snapshot import read_table, trend

    history = read_table(homes.planted.analytics, "evidence_freshness_history")

    def by_day(tenants: list[str]) -> dict[dt.date, dict[str, int]]:
        out: dict[dt.date, dict[str, int]] = {}
        for row in trend(history, tenants).itertuples():
            out.setdefault(row.snapshot_date.date(), {})[row.status] = row.controls
        return out

    t1 = by_day(["t1"])
    assert len(t1) == 91
    assert t1[HISTORY_FIRST_DAY] == {"fresh": 1, "missing": 3}
    assert t1[dt.date(2026, 10, 15)] == {"fresh": 1, "missing": 3}
    assert t1[dt.date(2026, 10, 16)] == {"stale": 1, "missing": 3}
    assert t1[dt.date(2026, 11, 12)] == {"stale": 1, "missing": 3}
    assert t1[dt.date(2026, 11, 13)] == {"stale": 1, "fresh": 3}
    assert t1[AS_OF.date()] == {"stale": 1, "fresh": 3}

    t4 = by_day(["t4"])
    days = [dt.date(2026, 10, 26) + i * DAY for i in range(18)]
    assert t4 == {day: {"missing": 4} for day in days}

    both = by_day(["t1", "t4"])
    assert both[dt.date(2026, 10, 25)] == {"stale": 1, "missing": 3}, "t4 not onboarded yet"
    assert both[dt.date(2026, 10, 26)] == {"stale": 1, "missing": 7}
    assert both[dt.date(2026, 11, 13)] == {"stale": 1, "fresh": 3}, "t4 offboarded"
