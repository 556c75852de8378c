"""The bundle contract (DESIGN, "The bundle"): one definition, read by the platform and by the
auditor's verifier.

The names of a bundle's files, the data kinds and formats, the manifest's and certificates'
required fields, the period key, the hashing and the encryption schemes. Standard library only:
``verify.py`` imports it, and an auditor runs the two files, this one and ``verify.py``, side by
side with pyarrow and cryptography (docs/AUDITOR.md); the platform writes what it defines.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

MANIFEST = "manifest.json"
VALIDATION = "validation.json"
FRESHNESS_REPORT = "freshness_report.html"  # the tenant's offline freshness and drift page
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "export_public_key.pem"
SIGNATURE_SUFFIX = ".sig"
ALGORITHM = "Ed25519"
# Files a bundle holds besides the ones its manifest lists: the manifest itself, and its detached
# signature and the public key, which cannot be hashed inside the manifest they sign.
UNLISTED = (MANIFEST, SIGNATURE, PUBLIC_KEY)
DATA_KINDS = ("audit_events", "access_history", "evidence", "controls", "shared_service_evidence")
FORMATS = ("parquet", "csv")
MANIFEST_KEYS = (
    "tenant_id",
    "tenant_class",
    "residency_region",
    "period",
    "generated_at",
    "policy_version",
    "redaction_profile",
    "files",
    "validation",
)
# The manifest's text fields: each must be a non-empty string.
MANIFEST_TEXT_KEYS = (
    "tenant_id",
    "tenant_class",
    "residency_region",
    "generated_at",
    "policy_version",
    "redaction_profile",
)
TABULAR = FORMATS  # the formats whose files have rows (and a count in the manifest)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A period is a calendar month (UTC), keyed YYYY-MM (tenantproof.core.periods parses it).
PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
DELETION = "tenant_deletion"
PURGE = "retention_purge"
CERTIFICATE_KINDS = (DELETION, PURGE)
CERTIFICATE_KEYS = ("certificate_version", "kind", "tenant_id", "tables", "verification", "signing")
# What each kind must state besides CERTIFICATE_KEYS, as tenantproof.erasure.deletion and
# tenantproof.erasure.certificates write it: field -> what it must be (see _field_problem).
CERTIFICATE_FIELDS: dict[str, dict[str, str]] = {
    DELETION: {
        "reason": "text",
        "requested_by": "text",
        "requested_at": "time",
        "completed_at": "time",
        "bundles_removed": "list",
    },
    PURGE: {
        "policy": "object",
        "cutoff": "time",
        "requested_by": "text",
        "purged_at": "time",
    },
}


# -- encrypted files: classes whose policy requires it get encrypted data files --
# Parquet: pyarrow's Parquet modular encryption (AES_GCM_V1), footer and columns under one data
# key, itself wrapped (AES-GCM) with the tenant's 32-byte key; the master key id is the tenant id.
PARQUET_SCHEME = "parquet-modular-encryption/AES_GCM_V1/tenant-key-wrapped"
# CSV: MAGIC, a 12-byte nonce, then AES-256-GCM(tenant key) of the CSV bytes with the file's
# name as associated data (a file renamed to another slot fails to decrypt).
CSV_SCHEME = "aes-256-gcm/tpenc1"
CSV_MAGIC = b"TPENC1\n"


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file's bytes: what a manifest and a certificate record."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- tenant identifiers in text: the one rule for "this text names that tenant" --

NEVER = r"[^\s\S]"  # a pattern that matches nothing, for an empty list of identifiers


def alternation(words: Iterable[str]) -> str:
    """The identifiers as one regex group, longest first, so that a longer identifier wins over
    a shorter one it contains; Python's ``re`` and DuckDB's RE2 read it alike."""
    ordered = sorted({w for w in words if w}, key=lambda w: (-len(w), w))
    return "(" + "|".join(re.escape(w) for w in ordered) + ")"


def mention_pattern(words: Iterable[str]) -> str | None:
    """Each identifier as a whole word, in any case (None when there are none): what the
    validation, the deletion's redaction and this verifier search text for."""
    present = [w for w in words if w]
    return r"(?i)\b" + alternation(present) + r"\b" if present else None


WORD_SPLIT = re.compile(r"[^a-z0-9_]+")


def first_word(identifier: str) -> str | None:
    words = [w for w in WORD_SPLIT.split(identifier.lower()) if w]
    return words[0] if words else None


class IdentifierIndex:
    """The identifiers of many tenants, looked up fast: one pattern of thousands of alternatives
    costs too much per search, so a text's words are first looked up by the first word of each
    identifier (a superset of what can match), and only the few found go into the pattern."""

    def __init__(self, identifiers: Iterable[tuple[str, str | None]]) -> None:
        self.by_first_word: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.own: dict[str, set[str]] = defaultdict(set)
        self.owners: dict[str, set[str]] = defaultdict(set)  # identifier, lowered -> tenants
        for tenant_id, name in identifiers:
            for word in (tenant_id, name):
                if not word:
                    continue
                self.own[tenant_id].add(word.lower())
                self.owners[word.lower()].add(tenant_id)
                key = first_word(word)
                if key:
                    self.by_first_word[key].append((tenant_id, word))

    def foreign_mentions(self, text: str, tenant_id: str) -> list[str]:
        """The identifiers of tenants other than `tenant_id` that `text` names."""
        words = set(WORD_SPLIT.split(text.lower()))
        candidates = {
            word
            for token in words
            for owner, word in self.by_first_word.get(token, ())
            if owner != tenant_id
        }
        if not candidates:
            return []
        pattern = re.compile(mention_pattern(candidates) or NEVER)
        own = self.own.get(tenant_id, set())
        return [m for m in pattern.findall(text) if m.lower() not in own]

    def tenants_named(self, identifiers: Iterable[str]) -> list[str]:
        """The tenants whose ids or names these are (as ``foreign_mentions`` returns them)."""
        return sorted({t for word in identifiers for t in self.owners.get(word.lower(), ())})
