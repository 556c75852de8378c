"""The canonical entities: the raw tables landing records become, their column types and
attribution rules.

This is the one place that says which columns an entity has. The source mappings
(``sources/*.yml``, ``tenantproof.ingest.mapping``) map each vendor's records onto them; ingest,
the dbt source definitions (``models/staging/_raw__sources.yml``) and the tests all follow it.
Each entity has a shipped mapping of the same name that reads tenantproof's own landing format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

# What a tenant id may be: a letter or digit, then letters, digits, '_', '.' or '-', 63 at most
# (ingest refuses a tenants row whose id is not, naming it).
# A tenant id is a slug (docs/TENANT_MENTIONS.md): it names folders, keys and log lines, so it
# is ASCII, starts and ends with a letter or digit, and holds only letters, digits, hyphens,
# dots and underscores between. A tenant's name may be any text.
TENANT_ID_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$"
TENANT_ID_RULE = (
    "a tenant id is 1 to 63 ASCII letters, digits, hyphens, dots or underscores, "
    "starting and ending with a letter or digit"
)

# The most a cell (one field of a landing record) may hold, in UTF-8 bytes: a record with a bigger
# one is quarantined as cell_too_large naming the field; everything downstream (the export's CSV
# read-back, verify's CSV reader) reads cells of this size.
MAX_CELL_BYTES = 4 * 1024 * 1024
MAX_CELL_TEXT = "4 MiB"


class Attribution(Enum):
    """How a source's rows must be attributed (spec §2.1, §5.2)."""

    REGISTRY = "registry"  # the tenant registry itself
    TENANT = "tenant"  # tenant_id is mandatory
    TENANT_OR_GLOBAL = "tenant_or_global"  # tenant_id, or global_scope with a justification


@dataclass(frozen=True)
class Source:
    """A canonical entity (its raw table). ``format``: the format of its own landing files (the
    shipped mapping of the same name); ``replaces``: a later row with the same key replaces the
    earlier one (a registry), instead of being a duplicate."""

    name: str
    format: str  # jsonl | csv | parquet
    key: str
    columns: dict[str, str]  # column -> DuckDB type, in file order
    attribution: Attribution
    required: tuple[str, ...] = ()
    json_columns: tuple[str, ...] = field(default=())  # kept as JSON text
    replaces: bool = False

    @property
    def raw_table(self) -> str:
        return f"raw.{self.name}"


TENANTS = Source(
    name="tenants",
    format="csv",
    key="tenant_id",
    columns={
        "tenant_id": "VARCHAR",
        "tenant_name": "VARCHAR",
        "tenant_class": "VARCHAR",
        "residency_region": "VARCHAR",
        "onboarded_at": "TIMESTAMP",
        "offboarded_at": "TIMESTAMP",
    },
    attribution=Attribution.REGISTRY,
    required=("tenant_id", "tenant_name", "tenant_class", "residency_region"),
    replaces=True,
)

# The lookup of tenant attribution (docs/SOURCES.md): which tenant a vendor's key belongs to (an
# AWS account id, an Okta org, a GitHub organisation, a Kubernetes namespace), per namespace
# (``lookup``), or that the key is the platform's own (global_scope with a justification).
TENANT_SOURCE_ACCOUNTS = Source(
    name="tenant_source_accounts",
    format="csv",
    key="entry_id",
    columns={
        "entry_id": "VARCHAR",
        "lookup": "VARCHAR",
        "source_key": "VARCHAR",
        "tenant_id": "VARCHAR",
        "global_scope": "VARCHAR",
        "scope_justification": "VARCHAR",
    },
    attribution=Attribution.TENANT_OR_GLOBAL,
    required=("entry_id", "lookup", "source_key"),
    replaces=True,
)

AUDIT_EVENTS = Source(
    name="audit_events",
    format="jsonl",
    key="event_id",
    columns={
        "event_id": "VARCHAR",
        "occurred_at": "TIMESTAMP",
        "tenant_id": "VARCHAR",
        "global_scope": "VARCHAR",
        "scope_justification": "VARCHAR",
        "actor_id": "VARCHAR",
        "actor_tenant_id": "VARCHAR",
        "actor_email": "VARCHAR",
        "actor_ip": "VARCHAR",
        "user_agent": "VARCHAR",
        "service": "VARCHAR",
        "action": "VARCHAR",
        "resource_type": "VARCHAR",
        "resource_id": "VARCHAR",
        "outcome": "VARCHAR",
        "reason": "VARCHAR",
        "details": "VARCHAR",
    },
    attribution=Attribution.TENANT_OR_GLOBAL,
    required=("event_id", "occurred_at", "action"),
    json_columns=("details",),
)

ACCESS_HISTORY = Source(
    name="access_history",
    format="csv",
    key="access_id",
    columns={
        "access_id": "VARCHAR",
        "accessed_at": "TIMESTAMP",
        "tenant_id": "VARCHAR",
        "actor_id": "VARCHAR",
        "actor_tenant_id": "VARCHAR",
        "global_role": "VARCHAR",
        "access_type": "VARCHAR",
        "impersonated_user": "VARCHAR",
        "reason": "VARCHAR",
        "session_id": "VARCHAR",
        "actor_email": "VARCHAR",
        "actor_ip": "VARCHAR",
    },
    attribution=Attribution.TENANT,
    required=("access_id", "accessed_at", "access_type"),
)

EVIDENCE_EVENTS = Source(
    name="evidence_events",
    format="parquet",
    key="evidence_id",
    columns={
        "evidence_id": "VARCHAR",
        "control_id": "VARCHAR",
        "tenant_id": "VARCHAR",
        "global_scope": "VARCHAR",
        "scope_justification": "VARCHAR",
        "service_id": "VARCHAR",
        "observed_at": "TIMESTAMP",
        "status": "VARCHAR",
        "source": "VARCHAR",
        "artefact_uri": "VARCHAR",
    },
    attribution=Attribution.TENANT_OR_GLOBAL,
    required=("evidence_id", "control_id", "observed_at", "status"),
)

INCIDENTS = Source(
    name="incidents",
    format="jsonl",
    key="incident_id",
    columns={
        "incident_id": "VARCHAR",
        "detected_at": "TIMESTAMP",
        "tenant_id": "VARCHAR",
        "global_scope": "VARCHAR",
        "scope_justification": "VARCHAR",
        "service_id": "VARCHAR",
        "severity": "VARCHAR",
        "notified_at": "TIMESTAMP",
        "summary": "VARCHAR",
    },
    attribution=Attribution.TENANT_OR_GLOBAL,
    required=("incident_id", "detected_at", "severity"),
)

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        TENANTS,
        TENANT_SOURCE_ACCOUNTS,
        AUDIT_EVENTS,
        ACCESS_HISTORY,
        EVIDENCE_EVENTS,
        INCIDENTS,
    )
}
EVENT_SOURCES: tuple[Source, ...] = (AUDIT_EVENTS, ACCESS_HISTORY, EVIDENCE_EVENTS, INCIDENTS)
FORMAT_SUFFIXES = {"jsonl": (".jsonl", ".ndjson"), "csv": (".csv",), "parquet": (".parquet",)}
