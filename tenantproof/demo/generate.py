"""Seeded, realistic demo landing files for tenantproof.

The generator exists so the pipeline can be exercised end to end (and at scale) without real
customer data.  Everything is derived from ``numpy.random.default_rng(seed)`` and ``as_of``, so
the same arguments always produce byte-identical files.  Bulk columns are drawn vectorised with
numpy, turned into Arrow string columns with ``take`` and written by DuckDB ``COPY ... TO``; only
the handful of deliberately planted bad rows and the tiny tenant-delivered files are written with
plain Python.

Landing contract (relative to ``home``)::

    landing/tenants/tenants.csv
    landing/audit_events/part-NNNN.jsonl              bulk, valid and attributed
    landing/audit_events/part-planted.jsonl           planted problems
    landing/audit_events/tenants/<tenant_id>/delivery-0001.jsonl
    landing/access_history/part-NNNN.csv               bulk, valid and attributed
    landing/access_history/part-planted.csv            planted problems
    landing/evidence_events/part-NNNN.parquet          includes the planted stale control
    landing/incidents/part-0000.jsonl                 incidents: on time, late, never notified
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tenantproof.core.home import SEEDS_DIR
from tenantproof.core.policy import read_seed
from tenantproof.core.warehouse import sql_literal

# The regions when the seeds list none (a partial seeds folder); seeds/regions.csv is the list.
REGIONS: tuple[str, ...] = ("eu", "us")
MAX_LINES_PER_FILE = 1_000_000
WINDOW_DAYS = 90
STALE_AFTER_DAYS = 200
UNKNOWN_TENANT = "t9999"
GLOBAL_SCOPE = "platform"
GLOBAL_EVENT_EVERY = 5_000  # one platform-scope change per this many audit events
GLOBAL_EVENTS_MIN = 24
TENANT_PLANE_SERVICES: tuple[str, ...] = ("app-api", "app-web", "app-worker")
PLATFORM_DOMAIN = "ops.saas-platform.example"
PLATFORM_ROLE = "platform_support"
GLOBAL_EVIDENCE_JUSTIFICATION = "shared service control evidence"
FORMULA_PAYLOADS: tuple[str, ...] = (
    '=HYPERLINK("http://attacker.example/x","click")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
)

AUDIT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "occurred_at",
    "tenant_id",
    "global_scope",
    "scope_justification",
    "actor_id",
    "actor_tenant_id",
    "actor_email",
    "actor_ip",
    "user_agent",
    "service",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "reason",
    "details",
)
ACCESS_COLUMNS: tuple[str, ...] = (
    "access_id",
    "accessed_at",
    "tenant_id",
    "actor_id",
    "actor_tenant_id",
    "global_role",
    "access_type",
    "impersonated_user",
    "reason",
    "session_id",
    "actor_email",
    "actor_ip",
)
TENANT_COLUMNS: tuple[str, ...] = (
    "tenant_id",
    "tenant_name",
    "tenant_class",
    "residency_region",
    "onboarded_at",
    "offboarded_at",
)

# Company names are "<first> <second>".  No first word is a suffix of another and no second word
# is a prefix of another, which (with a fixed-width numeric suffix for large N) guarantees that no
# tenant name is a substring of another one -- the foreign-tenant text check relies on that.
_NAME_FIRST: tuple[str, ...] = (
    "Northwind", "Globex", "Initech", "Bluefin", "Silverline", "Ironbark", "Redwood",
    "Brightwater", "Clearpeak", "Stonebridge", "Harborview", "Kestrel", "Meridian", "Larkspur",
    "Quillon", "Tidewell", "Ambergate", "Copperleaf", "Driftmoor", "Evergrove", "Foxglove",
    "Granitefall", "Hollowmere", "Juniper", "Lanternfish", "Marigold", "Nettlefield", "Oakhaven",
    "Pinecrest", "Quarrystone", "Rosemont", "Saltmarsh", "Thistledown", "Umberline", "Vantablue",
    "Westerly", "Yarrowby", "Zephyrine", "Alderbank", "Bramblecote",
)  # fmt: skip
_NAME_SECOND: tuple[str, ...] = (
    "Traders", "Systems", "Logistics", "Analytics", "Health", "Holdings", "Labs", "Partners",
    "Robotics", "Foods", "Energy", "Insurance", "Media", "Capital", "Dynamics", "Outfitters",
    "Pharma", "Networks", "Freight", "Mobility", "Biotech", "Retail", "Telecom", "Textiles",
    "Ventures", "Software", "Clinics", "Payments", "Airlines", "Apparel", "Consulting",
    "Foundry", "Marine", "Studios", "Works", "Aerospace",
)  # fmt: skip
_FIRST_NAMES: tuple[str, ...] = (
    "anna", "ben", "carla", "daniel", "elif", "farid", "greta", "hugo", "ines", "jonas", "keiko",
    "lars", "maria", "nils", "olga", "pedro", "quinn", "rosa", "samir", "tanja", "ugo", "vera",
    "wei", "ximena", "yusuf", "zoe", "amara", "bruno", "chloe", "dmitri", "emma", "felix",
)  # fmt: skip
_LAST_NAMES: tuple[str, ...] = (
    "berg", "costa", "dubois", "eriksen", "fischer", "garcia", "hansen", "ivanova", "jensen",
    "kowalski", "lindqvist", "moreau", "novak", "okafor", "petrov", "quist", "rossi", "schmidt",
    "tanaka", "usman", "varga", "weber", "xu", "yilmaz", "zimmermann", "andersen", "brandt",
    "chen", "delgado", "evans", "fontaine", "gruber",
)  # fmt: skip
_USER_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "python-requests/2.31.0",
    "okhttp/4.12.0",
    "curl/8.5.0",
)
_USER_AGENT_P = (0.34, 0.22, 0.08, 0.12, 0.08, 0.09, 0.04, 0.03)
_AUTOMATION_AGENTS: tuple[str, ...] = (
    "platform-automation/3.2.1 (+change-runner)",
    "terraform/1.7.5",
    "kubectl/v1.29.3 (linux/amd64)",
)

# action, resource_type, resource id prefix, reasons (a reason is drawn for ~75% of such events)
_TENANT_ACTIONS: tuple[tuple[str, str, str, float, tuple[str, ...]], ...] = (
    ("user.login", "session", "sess", 0.22, ()),
    ("record.read", "record", "rec", 0.40, ()),
    ("record.update", "record", "rec", 0.22, ()),
    ("role.grant", "role", "role", 0.04, (
        "onboarding new team member",
        "temporary access for quarter-end close",
        "access review remediation",
        "covering for colleague on leave",
    )),
    ("export.create", "export", "exp", 0.05, (
        "monthly compliance export",
        "customer-requested data export",
        "finance reconciliation extract",
        "auditor evidence request",
    )),
    ("settings.change", "settings", "cfg", 0.07, (
        "enforce SSO for all members",
        "update data retention to 365 days",
        "rotate API credentials after staff change",
        "enable IP allow-list",
    )),
)  # fmt: skip
_GLOBAL_ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("key.rotate", "signing_key", "key"),
    ("service.deploy", "service_release", "rel"),
    ("settings.change", "settings", "cfg"),
)
_GLOBAL_JUSTIFICATIONS: tuple[str, ...] = (
    "shared auth provider key rotation",
    "platform-wide TLS certificate renewal",
    "messaging broker version upgrade",
    "billing pipeline configuration change",
    "observability retention policy update",
    "scheduled dependency patch rollout",
)
_SUPPORT_TEXTS: tuple[str, ...] = (
    "customer reported missing records",
    "investigating failed SSO login",
    "verifying export job failure",
    "assisting with role misconfiguration",
    "checking webhook delivery errors",
    # personal data in free text, as support staff write it (redacted by the scrub)
    "customer wrote from ops.lead@customer.example about missing records",
    "call-back requested on +1 415 555 0134",
    "sign-ins from 203.0.113.42 and 2001:db8::7 blocked",
)
_DENIED_REASONS: tuple[str, ...] = ("blocked by role policy", "IP address not on allow-list")
_FAILURE_REASONS: tuple[str, ...] = ("invalid credentials", "MFA challenge failed")
_OUTCOMES: tuple[str, ...] = ("success", "failure", "denied")
_NOTES: tuple[str, ...] = (
    "via web console",
    "via public API",
    "SSO session",
    "scheduled job",
    "mobile app",
    "bulk operation",
)
_GLOBAL_NOTES: tuple[str, ...] = ("automated change window", "approved change request")
_ACCESS_TYPES: tuple[str, ...] = ("read", "write", "export", "admin", "impersonation")
_ACCESS_TENANT_P = (0.62, 0.25, 0.08, 0.05, 0.0)
_ACCESS_SUPPORT_P = (0.5, 0.0, 0.0, 0.2, 0.3)
_ADMIN_REASONS: tuple[str, ...] = (
    "quarterly access review",
    "offboarding departed employee",
    "resetting MFA for locked-out user",
    "updating billing contact",
)
_EXPORT_REASONS: tuple[str, ...] = ("monthly compliance export", "auditor evidence request")
_EVIDENCE_SOURCES: tuple[str, ...] = ("scanner", "ci", "manual")
INCIDENT_COLUMNS: tuple[str, ...] = (
    "incident_id",
    "detected_at",
    "tenant_id",
    "global_scope",
    "scope_justification",
    "service_id",
    "severity",
    "notified_at",
    "summary",
)
GLOBAL_INCIDENT_JUSTIFICATION = "shared service incident affecting the tenants it serves"
_INCIDENT_SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
_INCIDENT_SUMMARIES: tuple[str, ...] = (
    "elevated error rate on tenant API",
    "suspicious login pattern blocked",
    "misrouted notification detected",
    "delayed audit log delivery",
    "certificate expiry caused outage",
)
# (tenant incident?, days before the window end, hours to notify or None) per incident: notified
# on time, notified late (after every class SLA), never notified, a global one notified on time,
# a global one notified after 36 h (late only for classes with a shorter SLA), and a recent one
# still within any SLA.
_INCIDENT_PLAN: tuple[tuple[bool, float, float | None], ...] = (
    (True, 40, 3),
    (True, 30, 100),
    (True, 20, None),
    (False, 15, 6),
    (False, 10, 36),
    (True, 0.25, None),
)


@dataclass(frozen=True)
class GenerateSummary:
    """What ``generate`` wrote, so callers (CLI, tests) need not re-read the files."""

    tenants: int
    audit_events: int
    access_history: int
    evidence_events: int
    planted: dict[str, int]
    files: list[str]
    incidents: int = 0


@dataclass(frozen=True)
class _Control:
    control_id: str
    applies_to: frozenset[str] | None  # None: applies to every class


@dataclass(frozen=True)
class _World:
    """Tenants and actors shared by every dataset, so they reference each other consistently."""

    start: int  # window start, epoch seconds (inclusive)
    end: int  # window end = as_of 00:00 UTC, epoch seconds (exclusive)
    tenant_ids: list[str]
    tenant_names: list[str]
    tenant_weights: np.ndarray
    pool_size: np.ndarray  # users per tenant
    pool_offset: np.ndarray  # first actor index of each tenant
    n_staff: int  # platform staff actors follow the tenant users
    actor_ids: list[str]
    actor_emails: list[str]
    actor_tenant: np.ndarray  # tenant index per actor, -1 for platform staff
    actor_home_ip: np.ndarray
    ips: list[str]


def generate(
    home: Path,
    tenants: int = 12,
    events: int = 5000,
    seed: int = 7,
    as_of: dt.date | None = None,
    *,
    classes: Sequence[str] | None = None,
    controls: Sequence[str] | None = None,
    services: Sequence[str] | None = None,
    max_lines_per_file: int = MAX_LINES_PER_FILE,
    seeds_dir: Path | None = None,
) -> GenerateSummary:
    """Write seeded demo landing files under ``home / "landing"`` and summarise them.

    ``classes``, ``controls`` and ``services`` default to the seed files (``seeds_dir``, default
    the project's) so that adding a tenant class, control or shared service is a data change; each
    tenant's region is one its class allows there.  Previously generated files of this layout are
    removed first so a smaller run never leaves stale parts behind for ingest.
    """
    if tenants < 2:
        raise ValueError("need at least 2 tenants (planted cross-tenant rows need a neighbour)")
    if events < 1:
        raise ValueError("events must be positive")
    if max_lines_per_file < 1:
        raise ValueError("max_lines_per_file must be positive")
    seeds = Path(seeds_dir) if seeds_dir is not None else SEEDS_DIR
    class_list = list(dict.fromkeys(classes)) if classes is not None else _seed_classes(seeds)
    control_list = (
        [_Control(c, None) for c in dict.fromkeys(controls)]
        if controls is not None
        else _seed_controls(seeds)
    )
    service_list = list(dict.fromkeys(services)) if services is not None else _seed_services(seeds)
    if not class_list or not control_list or not service_list:
        raise ValueError("classes, controls and services must not be empty")
    as_of = as_of or dt.datetime.now(dt.UTC).date()

    home = Path(home)
    landing = home / "landing"
    _clear_previous(landing)
    rng = np.random.default_rng(seed)
    world = _make_world(rng, tenants, as_of)
    tenant_classes = [class_list[i % len(class_list)] for i in range(tenants)]
    regions, misplaced = tenant_regions(tenants, class_list, *_seed_residency(seeds))

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = true")
    try:
        paths: list[Path] = []
        paths.append(_write_tenants(con, rng, world, class_list, regions, landing))
        audit_paths, n_audit = _write_audit(
            con, rng, world, service_list, events, landing, max_lines_per_file
        )
        access_paths, n_access = _write_access(con, rng, world, events, landing, max_lines_per_file)
        ev_paths, n_evidence, n_stale = _write_evidence(
            con, rng, world, tenant_classes, control_list, service_list, landing, max_lines_per_file
        )
    finally:
        con.close()
    planted_paths, planted, planted_audit, planted_access = _write_planted(
        rng, world, service_list, landing, n_stale
    )
    if misplaced:
        planted["region_not_allowed"] = misplaced
    # A generator of its own, so that adding incidents left every other file byte-identical.
    incident_path, n_incidents = _write_incidents(
        np.random.default_rng((seed, 4)), world, service_list, landing
    )
    paths += audit_paths + access_paths + ev_paths + planted_paths + [incident_path]
    return GenerateSummary(
        tenants=tenants,
        audit_events=n_audit + planted_audit,
        access_history=n_access + planted_access,
        evidence_events=n_evidence,
        planted=planted,
        files=[p.relative_to(home).as_posix() for p in paths],
        incidents=n_incidents,
    )


# --------------------------------------------------------------------------- seed files


def _seed_classes(seeds: Path) -> list[str]:
    """Tenant classes live in the policy seed so adding a class is a data change."""
    return list(
        dict.fromkeys(
            r["tenant_class"].strip()
            for r in read_seed(seeds / "tenant_class_policies.csv")
            if r["tenant_class"].strip()
        )
    )


def _seed_residency(seeds: Path) -> tuple[list[str], dict[str, list[str]]]:
    """The regions (seeds/regions.csv) and each class's allowed ones, in that order. A class
    without ``allowed_regions`` (or a folder without regions.csv) is allowed everywhere: the
    generator reads partial seed folders too; the policy loader is the one that refuses them."""
    path = seeds / "regions.csv"
    names = [r["region"].strip() for r in read_seed(seeds / "regions.csv")] if path.exists() else []
    regions = list(dict.fromkeys(r for r in names if r)) or list(REGIONS)
    allowed: dict[str, list[str]] = {}
    for row in read_seed(seeds / "tenant_class_policies.csv"):
        named = {r.strip() for r in (row.get("allowed_regions") or "").split("|") if r.strip()}
        if named:
            allowed[row["tenant_class"].strip()] = [r for r in regions if r in named] + sorted(
                named - set(regions)
            )
    return regions, allowed


def tenant_regions(
    tenants: int,
    class_list: Sequence[str],
    regions: Sequence[str],
    allowed: dict[str, list[str]],
) -> tuple[list[str], int]:
    """Each tenant's region, and how many were planted outside their class's regions.

    Classes cycle over the tenants and regions alternate (shifted every round when the number of
    classes is a multiple of the number of regions), so that a class allowed everywhere appears in
    every region. A tenant whose alternate region its class does not allow gets one it does,
    except that the first tenant of such a class is planted outside them when the class has
    another tenant: ingest must quarantine it, and the class keeps a tenant that exports.
    """
    k, n = len(class_list), len(regions)
    out: list[str] = []
    misplaced = 0
    for idx in range(tenants):
        cls = class_list[idx % k]
        preferred = regions[(idx + (idx // k if k % n == 0 else 0)) % n]
        ok = allowed.get(cls, list(regions))
        outside = [r for r in regions if r not in ok]
        if outside and idx < k and tenants > idx + k:
            out.append(outside[0])
            misplaced += 1
        else:
            out.append(preferred if preferred in ok else ok[(idx // k) % len(ok)])
    return out, misplaced


def _seed_controls(seeds: Path) -> list[_Control]:
    """Controls with their ``|``-separated class applicability (empty means every class)."""
    out: dict[str, _Control] = {}
    for row in read_seed(seeds / "controls.csv"):
        cid = row["control_id"].strip()
        applies = frozenset(c.strip() for c in (row.get("applies_to_classes") or "").split("|"))
        applies -= {""}
        if cid:
            out.setdefault(cid, _Control(cid, applies or None))
    return list(out.values())


def _seed_services(seeds: Path) -> list[str]:
    """Shared services own the platform-scope (global) audit events and evidence."""
    rows = read_seed(seeds / "shared_services.csv")
    return list(dict.fromkeys(r["service_id"].strip() for r in rows if r["service_id"].strip()))


def _clear_previous(landing: Path) -> None:
    """Remove files of this generator's layout (only those) so reruns never mix generations."""
    patterns = (
        "tenants/tenants.csv",
        "audit_events/part-*.jsonl",
        "audit_events/tenants/*/delivery-*.jsonl",
        "access_history/part-*.csv",
        "evidence_events/part-*.parquet",
        "incidents/part-*.jsonl",
    )
    for pattern in patterns:
        for path in sorted(landing.glob(pattern)):
            path.unlink()


# --------------------------------------------------------------------------- shared world


def _window(as_of: dt.date) -> tuple[int, int]:
    """90 days before ``as_of``, stretched back to a month start so two full months are covered."""
    end = dt.datetime.combine(as_of, dt.time(), dt.UTC)
    month = as_of.month - 2
    year = as_of.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    start = min(end - dt.timedelta(days=WINDOW_DAYS), dt.datetime(year, month, 1, tzinfo=dt.UTC))
    return int(start.timestamp()), int(end.timestamp())


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tenant_names(rng: np.random.Generator, n: int) -> list[str]:
    """Unique two-word names; a fixed-width suffix keeps them substring-free beyond the combos."""
    combos = [f"{a} {b}" for a in _NAME_FIRST for b in _NAME_SECOND]
    order = rng.permutation(len(combos))
    if n <= len(combos):
        return [combos[i] for i in order[:n]]
    width = len(str((n - 1) // len(combos) + 1))
    return [f"{combos[order[i % len(combos)]]} {i // len(combos) + 1:0{width}d}" for i in range(n)]


def _make_world(rng: np.random.Generator, n_tenants: int, as_of: dt.date) -> _World:
    start, end = _window(as_of)
    tenant_ids = [f"t{i + 1}" for i in range(n_tenants)]
    names = _tenant_names(rng, n_tenants)
    slugs = [name.lower().replace(" ", "-") for name in names]
    raw = rng.lognormal(0.0, 1.0, n_tenants)
    weights = 0.3 / n_tenants + 0.7 * raw / raw.sum()
    weights /= weights.sum()

    pool = (4 + rng.poisson(10, n_tenants)).astype(np.int64)
    offset = np.concatenate(([0], np.cumsum(pool)[:-1]))
    n_users = int(pool.sum())
    n_staff = 8
    total = n_users + n_staff
    first = rng.integers(0, len(_FIRST_NAMES), total)
    last = rng.integers(0, len(_LAST_NAMES), total)
    id_base = int(rng.integers(0, 2**32))
    # Odd multiplier mod 2**32 is a bijection: opaque-looking yet unique ids.
    actor_ids = [
        f"{'usr' if i < n_users else 'ops'}_{(i * 2654435761 + id_base) % 2**32:08x}"
        for i in range(total)
    ]
    actor_tenant = np.full(total, -1, dtype=np.int64)
    emails: list[str] = []
    for t in range(n_tenants):
        actor_tenant[offset[t] : offset[t] + pool[t]] = t
    seen: set[str] = set()
    for i in range(total):
        domain = slugs[actor_tenant[i]] + ".example" if i < n_users else PLATFORM_DOMAIN
        local = f"{_FIRST_NAMES[first[i]]}.{_LAST_NAMES[last[i]]}"
        email, k = f"{local}@{domain}", 2
        while email in seen:
            email, k = f"{local}{k}@{domain}", k + 1
        seen.add(email)
        emails.append(email)
    ips = [f"{net}.{h}" for net in ("192.0.2", "198.51.100", "203.0.113") for h in range(1, 255)]
    return _World(
        start=start,
        end=end,
        tenant_ids=tenant_ids,
        tenant_names=names,
        tenant_weights=weights,
        pool_size=pool,
        pool_offset=offset,
        n_staff=n_staff,
        actor_ids=actor_ids,
        actor_emails=emails,
        actor_tenant=actor_tenant,
        actor_home_ip=rng.integers(0, len(ips), total),
        ips=ips,
    )


def _draw_times(rng: np.random.Generator, n: int, start: int, end: int) -> np.ndarray:
    """Sorted epoch seconds with a weekday/working-hours shape, as real activity has."""
    days = (end - start) // 86400
    weekday = (dt.date(1970, 1, 1).weekday() + (start // 86400 + np.arange(days))) % 7
    day_p = np.where(weekday >= 5, 0.4, 1.0)
    day = rng.choice(days, size=n, p=day_p / day_p.sum())
    busy = rng.random(n) < 0.75
    sec = np.where(busy, rng.normal(13.5 * 3600, 3.5 * 3600, n), rng.uniform(0, 86400, n))
    out = start + day * 86400 + np.clip(sec, 0, 86399).astype(np.int64)
    out.sort()
    return out


def _users(rng: np.random.Generator, world: _World, tenant_idx: np.ndarray) -> np.ndarray:
    """A random user (global actor index) of each given tenant."""
    local = (rng.random(tenant_idx.size) * world.pool_size[tenant_idx]).astype(np.int64)
    return world.pool_offset[tenant_idx] + local


def _pick(values: Sequence[str] | pa.Array, idx: np.ndarray) -> pa.Array:
    """Vectorised lookup; negative indices become nulls."""
    arr = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
    null = idx < 0
    return pc.take(arr, pa.array(np.where(null, 0, idx), mask=null))


def _ts(epoch: np.ndarray) -> pa.Array:
    return pa.array(epoch.astype("datetime64[s]"))


def _copy_chunks(
    con: duckdb.DuckDBPyConnection,
    n_rows: int,
    max_rows: int,
    directory: Path,
    suffix: str,
    build: Callable[[int, int], pa.Table],
    select: str,
    options: str,
) -> list[Path]:
    """Write ``part-NNNN<suffix>`` files of at most ``max_rows`` rows each via DuckDB COPY."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for part, lo in enumerate(range(0, n_rows, max_rows)):
        con.register("chunk", build(lo, min(lo + max_rows, n_rows)))
        path = directory / f"part-{part:04d}{suffix}"
        con.execute(f"COPY ({select} FROM chunk ORDER BY seq) TO {sql_literal(path)} ({options})")
        con.unregister("chunk")
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- tenants


def _write_tenants(
    con: duckdb.DuckDBPyConnection,
    rng: np.random.Generator,
    world: _World,
    class_list: Sequence[str],
    regions: Sequence[str],
    landing: Path,
) -> Path:
    """Classes cycle; each tenant's region comes from ``tenant_regions``."""
    n, k = len(world.tenant_ids), len(class_list)
    idx = np.arange(n)
    onboarded = world.start - rng.integers(30 * 86400, 900 * 86400, n)
    table = pa.table(
        {
            "seq": idx,
            "tenant_id": world.tenant_ids,
            "tenant_name": world.tenant_names,
            "tenant_class": _pick(class_list, idx % k),
            "residency_region": pa.array(regions, pa.string()),
            "onboarded_at": _ts(onboarded),
        }
    )
    directory = landing / "tenants"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tenants.csv"
    con.register("chunk", table)
    con.execute(
        "COPY (SELECT tenant_id, tenant_name, tenant_class, residency_region, "
        "strftime(onboarded_at, '%Y-%m-%dT%H:%M:%SZ') AS onboarded_at, "
        "CAST(NULL AS VARCHAR) AS offboarded_at FROM chunk ORDER BY seq) "
        f"TO {sql_literal(path)} (FORMAT csv, HEADER)"
    )
    con.unregister("chunk")
    return path


# --------------------------------------------------------------------------- audit events


def _write_audit(
    con: duckdb.DuckDBPyConnection,
    rng: np.random.Generator,
    world: _World,
    shared: Sequence[str],
    n: int,
    landing: Path,
    max_rows: int,
) -> tuple[list[Path], int]:
    """Bulk audit events: tenant-scoped, plus a few justified platform-scope changes, all valid.

    Platform changes (key rotations, config changes) are rare next to tenant activity, and
    each reaches every tenant its service applies to: about one in 5,000 events, at least 24.
    """
    n_t = len(world.tenant_ids)
    times = _draw_times(rng, n, world.start, world.end)
    is_global = np.zeros(n, dtype=bool)
    is_global[
        rng.choice(n, size=min(n, max(GLOBAL_EVENTS_MIN, n // GLOBAL_EVENT_EVERY)), replace=False)
    ] = True
    tenant = rng.choice(n_t, size=n, p=world.tenant_weights)
    support = (rng.random(n) < 0.03) & ~is_global
    staff = world.pool_offset[-1] + world.pool_size[-1] + rng.integers(0, world.n_staff, n)
    actor = np.where(is_global | support, staff, _users(rng, world, tenant))
    ip = np.where(rng.random(n) < 0.8, world.actor_home_ip[actor], rng.integers(0, 762, n))
    tenant = np.where(is_global, -1, tenant)

    # Actions: tenant actions (support staff only read/update/change settings) then global ones.
    n_ta = len(_TENANT_ACTIONS)
    p = np.array([a[3] for a in _TENANT_ACTIONS])
    action = rng.choice(n_ta, size=n, p=p / p.sum())
    support_actions = np.array([1, 2, 5])
    action = np.where(support, support_actions[rng.integers(0, 3, n)], action)
    action = np.where(is_global, n_ta + rng.integers(0, len(_GLOBAL_ACTIONS), n), action)
    actions = [a[0] for a in _TENANT_ACTIONS] + [a[0] for a in _GLOBAL_ACTIONS]
    rtypes = [a[1] for a in _TENANT_ACTIONS] + [a[1] for a in _GLOBAL_ACTIONS]
    rprefix = [a[2] for a in _TENANT_ACTIONS] + [a[2] for a in _GLOBAL_ACTIONS]

    services = list(TENANT_PLANE_SERVICES) + list(shared)
    n_tp = len(TENANT_PLANE_SERVICES)
    service = rng.choice(n_tp, size=n, p=(0.5, 0.38, 0.12))
    shared_pick = n_tp + rng.integers(0, len(shared), n)
    service = np.where(is_global | (rng.random(n) < 0.12), shared_pick, service)

    outcome = rng.choice(3, size=n, p=(0.93, 0.05, 0.02))
    outcome = np.where(is_global, 0, outcome)

    # Reasons: one flat list with per-action ranges, then support, denied and failure texts.
    reasons: list[str] = []
    r_off = np.zeros(n_ta + len(_GLOBAL_ACTIONS), np.int64)
    r_len = np.zeros_like(r_off)
    for i, a in enumerate(_TENANT_ACTIONS):
        r_off[i], r_len[i] = len(reasons), len(a[4])
        reasons.extend(a[4])
    support_off = len(reasons)
    tickets = rng.integers(10000, 99999, 40)
    reasons.extend(
        f"support ticket SUP-{tk}: {_SUPPORT_TEXTS[j % len(_SUPPORT_TEXTS)]}"
        for j, tk in enumerate(tickets)
    )
    denied_off = len(reasons)
    reasons.extend(_DENIED_REASONS)
    failure_off = len(reasons)
    reasons.extend(_FAILURE_REASONS)
    u = rng.random(n)
    has_action_reason = (r_len[action] > 0) & (u < 0.75)
    reason = np.where(
        has_action_reason, r_off[action] + (u / 0.75 * np.maximum(r_len[action], 1)), -1
    ).astype(np.int64)
    pick2 = rng.integers(0, 2, n)
    reason = np.where((reason < 0) & (outcome == 2), denied_off + pick2, reason)
    reason = np.where((reason < 0) & (outcome == 1) & (action == 0), failure_off + pick2, reason)
    reason = np.where(support, support_off + rng.integers(0, len(tickets), n), reason)
    reason = np.where(is_global, -1, reason)

    agents = list(_USER_AGENTS) + list(_AUTOMATION_AGENTS)
    agent = rng.choice(len(_USER_AGENTS), size=n, p=_USER_AGENT_P)
    agent = np.where(is_global, len(_USER_AGENTS) + rng.integers(0, 3, n), agent)
    justification = np.where(is_global, rng.integers(0, len(_GLOBAL_JUSTIFICATIONS), n), -1)
    notes = list(_NOTES) + list(_GLOBAL_NOTES)
    note = np.where(is_global, len(_NOTES) + rng.integers(0, 2, n), rng.integers(0, 6, n))
    resource_num = rng.integers(0, 2**40, n)
    request_num = rng.integers(0, 2**62, n)

    str_ = {
        "tenant": pa.array(world.tenant_ids, pa.string()),
        "actor_id": pa.array(world.actor_ids, pa.string()),
        "email": pa.array(world.actor_emails, pa.string()),
        "ip": pa.array(world.ips, pa.string()),
    }

    def build(lo: int, hi: int) -> pa.Table:
        s = slice(lo, hi)
        act = actor[s]
        return pa.table(
            {
                "seq": np.arange(lo + 1, hi + 1),
                "occurred_at": _ts(times[s]),
                "tenant_id": _pick(str_["tenant"], tenant[s]),
                "global_scope": _pick((GLOBAL_SCOPE,), np.where(is_global[s], 0, -1)),
                "scope_justification": _pick(_GLOBAL_JUSTIFICATIONS, justification[s]),
                "actor_id": _pick(str_["actor_id"], act),
                "actor_tenant_id": _pick(str_["tenant"], world.actor_tenant[act]),
                "actor_email": _pick(str_["email"], act),
                "actor_ip": _pick(str_["ip"], ip[s]),
                "user_agent": _pick(agents, agent[s]),
                "service": _pick(services, service[s]),
                "action": _pick(actions, action[s]),
                "resource_type": _pick(rtypes, action[s]),
                "resource_prefix": _pick(rprefix, action[s]),
                "resource_num": resource_num[s],
                "outcome": _pick(_OUTCOMES, outcome[s]),
                "reason": _pick(reasons, reason[s]),
                "request_num": request_num[s],
                "note": _pick(notes, note[s]),
            }
        )

    select = (
        "SELECT printf('ae-%09d', seq) AS event_id, "
        "strftime(occurred_at, '%Y-%m-%dT%H:%M:%SZ') AS occurred_at, tenant_id, global_scope, "
        "scope_justification, actor_id, actor_tenant_id, actor_email, actor_ip, user_agent, "
        "service, action, resource_type, printf('%s_%010x', resource_prefix, resource_num) "
        "AS resource_id, outcome, reason, "
        "{'request_id': printf('req-%016x', request_num), 'note': note} AS details"
    )
    paths = _copy_chunks(
        con, n, max_rows, landing / "audit_events", ".jsonl", build, select, "FORMAT json"
    )
    return paths, n


# --------------------------------------------------------------------------- access history


def _write_access(
    con: duckdb.DuckDBPyConnection,
    rng: np.random.Generator,
    world: _World,
    events: int,
    landing: Path,
    max_rows: int,
) -> tuple[list[Path], int]:
    """Bulk access history; every admin/impersonation row carries a reason."""
    n_t = len(world.tenant_ids)
    n = max(events // 5, 200, n_t)
    times = _draw_times(rng, n, world.start, world.end)
    tenant = rng.choice(n_t, size=n, p=world.tenant_weights)
    support = rng.random(n) < 0.1
    kind = np.where(
        support,
        rng.choice(5, size=n, p=_ACCESS_SUPPORT_P),
        rng.choice(5, size=n, p=_ACCESS_TENANT_P),
    )
    # Every tenant gets at least one reasoned impersonation, at random positions in time.
    forced = rng.choice(n, size=n_t, replace=False)
    tenant[forced] = np.arange(n_t)
    support[forced] = True
    kind[forced] = 4
    staff = world.pool_offset[-1] + world.pool_size[-1] + rng.integers(0, world.n_staff, n)
    actor = np.where(support, staff, _users(rng, world, tenant))
    impersonated = np.where(kind == 4, _users(rng, world, tenant), -1)
    ip = np.where(rng.random(n) < 0.8, world.actor_home_ip[actor], rng.integers(0, 762, n))

    reasons = list(_ADMIN_REASONS) + list(_EXPORT_REASONS)
    support_off = len(reasons)
    tickets = rng.integers(10000, 99999, 40)
    reasons.extend(
        f"support ticket SUP-{tk}: {_SUPPORT_TEXTS[j % len(_SUPPORT_TEXTS)]}"
        for j, tk in enumerate(tickets)
    )
    reason = np.full(n, -1, np.int64)
    reason = np.where(kind == 3, rng.integers(0, len(_ADMIN_REASONS), n), reason)
    export_reason = len(_ADMIN_REASONS) + rng.integers(0, len(_EXPORT_REASONS), n)
    reason = np.where((kind == 2) & (rng.random(n) < 0.5), export_reason, reason)
    reason = np.where(support, support_off + rng.integers(0, len(tickets), n), reason)
    session_num = rng.integers(0, 2**62, n)

    tenant_arr = pa.array(world.tenant_ids, pa.string())
    email_arr = pa.array(world.actor_emails, pa.string())

    def build(lo: int, hi: int) -> pa.Table:
        s = slice(lo, hi)
        act = actor[s]
        return pa.table(
            {
                "seq": np.arange(lo + 1, hi + 1),
                "accessed_at": _ts(times[s]),
                "tenant_id": _pick(tenant_arr, tenant[s]),
                "actor_id": _pick(world.actor_ids, act),
                "actor_tenant_id": _pick(tenant_arr, world.actor_tenant[act]),
                "global_role": _pick((PLATFORM_ROLE,), np.where(support[s], 0, -1)),
                "access_type": _pick(_ACCESS_TYPES, kind[s]),
                "impersonated_user": _pick(email_arr, impersonated[s]),
                "reason": _pick(reasons, reason[s]),
                "session_num": session_num[s],
                "actor_email": _pick(email_arr, act),
                "actor_ip": _pick(world.ips, ip[s]),
            }
        )

    select = (
        "SELECT printf('ah-%09d', seq) AS access_id, "
        "strftime(accessed_at, '%Y-%m-%dT%H:%M:%SZ') AS accessed_at, tenant_id, actor_id, "
        "actor_tenant_id, global_role, access_type, impersonated_user, reason, "
        "printf('sess_%016x', session_num) AS session_id, actor_email, actor_ip"
    )
    paths = _copy_chunks(
        con, n, max_rows, landing / "access_history", ".csv", build, select, "FORMAT csv, HEADER"
    )
    return paths, n


# --------------------------------------------------------------------------- evidence


def _write_evidence(
    con: duckdb.DuckDBPyConnection,
    rng: np.random.Generator,
    world: _World,
    tenant_classes: Sequence[str],
    controls: Sequence[_Control],
    shared: Sequence[str],
    landing: Path,
    max_rows: int,
) -> tuple[list[Path], int, int]:
    """Evidence per tenant x applicable control (fresh), per shared service, plus one stale pair."""
    n_t, n_c = len(world.tenant_ids), len(controls)
    applies = np.array(
        [[c.applies_to is None or cls in c.applies_to for c in controls] for cls in tenant_classes]
    ).reshape(n_t, n_c)
    pair_t, pair_c = np.nonzero(applies)
    # Global evidence: one "pair" per shared service x control, encoded with tenant index -1.
    g_svc, g_c = np.divmod(np.arange(len(shared) * n_c), n_c)
    owner_t = np.concatenate((pair_t, np.full(g_svc.size, -1)))
    owner_s = np.concatenate((np.full(pair_t.size, -1), g_svc))
    owner_c = np.concatenate((pair_c, g_c))
    n_pairs = owner_t.size
    per_pair = rng.integers(3, 7, n_pairs)
    row_pair = np.repeat(np.arange(n_pairs), per_pair)
    n = row_pair.size

    day = 86400
    obs = rng.integers(world.start, world.end, n)
    last = np.cumsum(per_pair) - 1  # newest row of each pair is recent, so nothing else is stale
    obs[last] = world.end - rng.integers(60, 3 * day, n_pairs)
    stale = -1
    if pair_t.size:
        stale = int(rng.integers(0, pair_t.size))
        rows = row_pair == stale
        old_end = world.end - (STALE_AFTER_DAYS + 10) * day
        obs[rows] = rng.integers(old_end - 120 * day, old_end, int(rows.sum()))
    obs_us = obs * 1_000_000 + rng.integers(0, 1_000_000, n)

    order = np.lexsort((obs_us, row_pair))
    row_pair, obs_us = row_pair[order], obs_us[order]
    t_idx, s_idx, c_idx = owner_t[row_pair], owner_s[row_pair], owner_c[row_pair]
    status = np.where(rng.random(n) < 0.06, 1, 0)
    source = rng.choice(3, size=n, p=(0.6, 0.3, 0.1))
    is_global = t_idx < 0

    def build(lo: int, hi: int) -> pa.Table:
        s = slice(lo, hi)
        g = is_global[s]
        return pa.table(
            {
                "seq": np.arange(lo + 1, hi + 1),
                "control_id": _pick([c.control_id for c in controls], c_idx[s]),
                "tenant_id": _pick(world.tenant_ids, t_idx[s]),
                "global_scope": _pick((GLOBAL_SCOPE,), np.where(g, 0, -1)),
                "scope_justification": _pick((GLOBAL_EVIDENCE_JUSTIFICATION,), np.where(g, 0, -1)),
                "service_id": _pick(shared, s_idx[s]),
                "observed_at": pa.array(obs_us[s], pa.timestamp("us", tz="UTC")),
                "status": _pick(("pass", "fail"), status[s]),
                "source": _pick(_EVIDENCE_SOURCES, source[s]),
            }
        )

    select = (
        "SELECT printf('ev-%09d', seq) AS evidence_id, control_id, tenant_id, global_scope, "
        "scope_justification, service_id, observed_at, status, source, "
        "CASE WHEN tenant_id IS NULL "
        "THEN printf('s3://evidence/platform/%s/%s/ev-%09d.json', service_id, control_id, seq) "
        "ELSE printf('s3://evidence/%s/%s/ev-%09d.json', tenant_id, control_id, seq) "
        "END AS artefact_uri"
    )
    paths = _copy_chunks(
        con, n, max_rows, landing / "evidence_events", ".parquet", build, select, "FORMAT parquet"
    )
    return paths, n, int(stale >= 0)


# --------------------------------------------------------------------------- planted problems


def _write_planted(
    rng: np.random.Generator, world: _World, shared: Sequence[str], landing: Path, n_stale: int
) -> tuple[list[Path], dict[str, int], int, int]:
    """Known bad rows, kept apart from the bulk so tests can count exactly what must be caught."""
    n_t = len(world.tenant_ids)
    counter = iter(range(1, 1_000_000))
    staff0 = int(world.pool_offset[-1] + world.pool_size[-1])

    def when() -> str:
        return _iso(int(rng.integers(world.start, world.end)))

    def audit(tenant: int | None, **over: Any) -> dict[str, Any]:
        actor = (
            int(_users(rng, world, np.array([tenant]))[0])
            if tenant is not None
            else staff0 + int(rng.integers(0, world.n_staff))
        )
        a_t = int(world.actor_tenant[actor])
        row: dict[str, Any] = {
            "event_id": f"ae-p{next(counter):08d}",
            "occurred_at": when(),
            "tenant_id": world.tenant_ids[tenant] if tenant is not None else None,
            "global_scope": None,
            "scope_justification": None,
            "actor_id": world.actor_ids[actor],
            "actor_tenant_id": world.tenant_ids[a_t] if a_t >= 0 else None,
            "actor_email": world.actor_emails[actor],
            "actor_ip": world.ips[int(world.actor_home_ip[actor])],
            "user_agent": _USER_AGENTS[int(rng.integers(0, 5))],
            "service": "app-api",
            "action": "record.update",
            "resource_type": "record",
            "resource_id": f"rec_{int(rng.integers(0, 2**40)):010x}",
            "outcome": "success",
            "reason": None,
            "details": {
                "request_id": f"req-{int(rng.integers(0, 2**62)):016x}",
                "note": _NOTES[int(rng.integers(0, len(_NOTES)))],
            },
        }
        row.update(over)
        return row

    def line(row: dict[str, Any]) -> str:
        return json.dumps(row, separators=(",", ":"), ensure_ascii=False)

    foreign_id = world.tenant_ids[9] if n_t >= 10 else world.tenant_ids[1]
    foreign_named = world.tenant_names[2 if n_t >= 3 else 1]
    foreign_id2 = world.tenant_ids[n_t - 1]
    lines: list[str] = []
    planted: dict[str, int] = {}

    def plant(name: str, rows: list[str]) -> None:
        planted[name] = planted.get(name, 0) + len(rows)
        lines.extend(rows)

    plant("no_tenant_context", [line(audit(None, service="app-worker")) for _ in range(3)])
    plant(
        "global_without_justification",
        [
            line(
                audit(
                    None,
                    global_scope=GLOBAL_SCOPE,
                    service=shared[0],
                    action="key.rotate",
                    resource_type="signing_key",
                    resource_id="key_00c0ffee01",
                )
            )
        ],
    )
    unknown = [
        audit(None, tenant_id=UNKNOWN_TENANT, actor_tenant_id=UNKNOWN_TENANT) for _ in range(2)
    ]
    for row in unknown:
        row["actor_id"] = f"usr_{int(rng.integers(0, 2**32)):08x}"
        row["actor_email"] = row["actor_email"].split("@")[0] + "@legacy-workspace.example"
    plant("unknown_tenant", [line(r) for r in unknown])
    plant("malformed_line", [line(audit(3 % n_t))[:97], line(audit(4 % n_t))[:-23]])
    plant("type_error", [line(audit(5 % n_t, occurred_at="not-a-timestamp")) for _ in range(2)])
    plant(
        "foreign_tenant_in_text",
        [
            line(
                audit(
                    0,
                    action="settings.change",
                    resource_type="settings",
                    resource_id="cfg_0000a1b2c3",
                    reason=f"copied settings from {foreign_id} workspace",
                )
            ),
            line(audit(0, reason=f"ticket raised by {foreign_named} admin")),
            line(
                audit(
                    0,
                    action="export.create",
                    resource_type="export",
                    resource_id="exp_0000d4e5f6",
                    reason=f"merged duplicate records with {foreign_id2} account",
                )
            ),
        ],
    )
    plant(
        "csv_formula_payload",
        [
            line(audit(1, reason=FORMULA_PAYLOADS[0])),
            line(audit(2 % n_t, reason=FORMULA_PAYLOADS[2])),
        ],
    )
    audit_dir = landing / "audit_events"
    audit_dir.mkdir(parents=True, exist_ok=True)
    audit_path = audit_dir / "part-planted.jsonl"
    audit_path.write_text("".join(f"{x}\n" for x in lines), encoding="utf-8")
    n_audit = len(lines)

    # Tenant-declared deliveries: 20 rows each for two tenants, one cross-tenant write in the first.
    delivering = (1, 2) if n_t >= 3 else (0, 1)
    paths = [audit_path]
    for k, t in enumerate(delivering):
        rows = [audit(t) for _ in range(20)]
        rows.sort(key=lambda r: r["occurred_at"])
        if k == 0:
            rows[7]["tenant_id"] = world.tenant_ids[(t + 1) % n_t]
            planted["cross_tenant_write"] = 1
        for i, row in enumerate(rows, 1):
            row["event_id"] = f"ae-d{k + 1}{i:07d}"
        path = audit_dir / "tenants" / world.tenant_ids[t] / "delivery-0001.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{line(r)}\n" for r in rows), encoding="utf-8")
        paths.append(path)
        n_audit += len(rows)
    planted["stale_control"] = n_stale  # written with the bulk evidence

    # Access history planted rows.
    def access(tenant: int | None, support: bool, **over: Any) -> dict[str, str]:
        actor = (
            staff0 + int(rng.integers(0, world.n_staff))
            if support or tenant is None
            else int(_users(rng, world, np.array([tenant]))[0])
        )
        a_t = int(world.actor_tenant[actor])
        row = {
            "access_id": f"ah-p{next(counter):08d}",
            "accessed_at": when(),
            "tenant_id": world.tenant_ids[tenant] if tenant is not None else "",
            "actor_id": world.actor_ids[actor],
            "actor_tenant_id": world.tenant_ids[a_t] if a_t >= 0 else "",
            "global_role": PLATFORM_ROLE if support else "",
            "access_type": "read",
            "impersonated_user": "",
            "reason": "",
            "session_id": f"sess_{int(rng.integers(0, 2**62)):016x}",
            "actor_email": world.actor_emails[actor],
            "actor_ip": world.ips[int(world.actor_home_ip[actor])],
        }
        row.update(over)
        return row

    access_rows = [access(1, False, access_type="write", reason=FORMULA_PAYLOADS[1])]
    planted["csv_formula_payload"] += 1
    access_rows += [access(t % n_t, False, access_type="admin") for t in (0, 3, 6)]
    planted["admin_without_reason"] = 3
    access_rows += [
        access(None, True, reason="support ticket SUP-31337: customer reported missing records"),
        access(None, True, reason="support ticket SUP-31338: checking webhook delivery errors"),
    ]
    planted["access_no_tenant"] = 2
    access_dir = landing / "access_history"
    access_dir.mkdir(parents=True, exist_ok=True)
    access_path = access_dir / "part-planted.csv"
    with access_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=ACCESS_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(access_rows)
    paths.append(access_path)
    order = (
        "no_tenant_context", "global_without_justification", "unknown_tenant", "malformed_line",
        "type_error", "foreign_tenant_in_text", "csv_formula_payload", "admin_without_reason",
        "cross_tenant_write", "stale_control", "access_no_tenant",
    )  # fmt: skip
    return paths, {k: planted[k] for k in order}, n_audit, len(access_rows)


# --------------------------------------------------------------------------- incidents


def _write_incidents(
    rng: np.random.Generator, world: _World, shared: Sequence[str], landing: Path
) -> tuple[Path, int]:
    """A handful of incidents whose notification is on time, late, missing or still due, for
    tenants and for shared services (global scope, affecting the tenants the service serves)."""
    n_t = len(world.tenant_ids)
    tenants = rng.choice(n_t, size=len(_INCIDENT_PLAN), replace=n_t < len(_INCIDENT_PLAN))
    rows = []
    for i, (tenant_scoped, days, notify_hours) in enumerate(_INCIDENT_PLAN):
        detected = world.end - int(days * 86400) - int(rng.integers(0, 3600))
        service = shared[0] if i % 2 else shared[-1]
        rows.append(
            {
                "incident_id": f"inc-{i + 1:06d}",
                "detected_at": _iso(detected),
                "tenant_id": world.tenant_ids[int(tenants[i])] if tenant_scoped else None,
                "global_scope": None if tenant_scoped else GLOBAL_SCOPE,
                "scope_justification": None if tenant_scoped else GLOBAL_INCIDENT_JUSTIFICATION,
                "service_id": None if tenant_scoped else service,
                "severity": _INCIDENT_SEVERITIES[int(rng.integers(0, len(_INCIDENT_SEVERITIES)))],
                "notified_at": (
                    None
                    if notify_hours is None
                    else _iso(detected + int(notify_hours * 3600) + int(rng.integers(0, 600)))
                ),
                "summary": _INCIDENT_SUMMARIES[int(rng.integers(0, len(_INCIDENT_SUMMARIES)))],
            }
        )
    directory = landing / "incidents"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "part-0000.jsonl"
    path.write_text(
        "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows), encoding="utf-8"
    )
    return path, len(rows)
