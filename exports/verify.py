"""Offline verification of tenantproof bundles and certificates: what an auditor runs.

This file and ``contract.py`` beside it (the bundle contract, which the platform writes by) are
the whole verifier. They import only the standard library, pyarrow and cryptography, so an
auditor needs ``pip install pyarrow cryptography`` and the two files, not the platform (no
DuckDB, Dagster, dbt or Great Expectations)::

    python verify.py PATH [--public-key export_public_key.pem] [--key-file keys.json] [--complete]

PATH is a bundle folder, a folder of bundles (a tenant's periods: the chain is checked between
them), a deletion certificate or a retention purge record. Each data file is read on its own,
never through hive partitioning, so a row keeps its own tenant_id. A manifest or certificate is
checked for its structure before anything reads it, so a malformed one is a named failure, and
one broken item never stops the report for the others. ``--complete`` also requires each
tenant's chain to start at its first bundle. Exit status 0 when everything passed, 1 when
anything failed; each problem is named.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import html
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pqe
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

try:  # beside the platform
    from exports import contract
except ImportError:  # the auditor's copy: contract.py beside this file
    import contract  # type: ignore[no-redef]


class TenantKms(pqe.KmsClient):
    """Wraps Parquet data keys with the tenant's key; ``custom_kms_conf`` maps tenant -> hex."""

    def __init__(self, config: pqe.KmsConnectionConfig) -> None:
        super().__init__()
        self.keys = {k: bytes.fromhex(v) for k, v in config.custom_kms_conf.items()}

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> bytes:
        import base64
        import os

        nonce = os.urandom(12)
        aead = AESGCM(self.keys[master_key_identifier])
        sealed = aead.encrypt(nonce, key_bytes, master_key_identifier.encode())
        return base64.b64encode(nonce + sealed)

    def unwrap_key(self, wrapped_key: bytes, master_key_identifier: str) -> bytes:
        import base64

        raw = base64.b64decode(wrapped_key)
        aead = AESGCM(self.keys[master_key_identifier])
        return aead.decrypt(raw[:12], raw[12:], master_key_identifier.encode())


def crypto_factory() -> pqe.CryptoFactory:
    return pqe.CryptoFactory(lambda config: TenantKms(config))


def parquet_decryption(tenant_id: str, key_hex: str) -> pqe.FileDecryptionProperties:
    kms = pqe.KmsConnectionConfig(custom_kms_conf={tenant_id: key_hex})
    return crypto_factory().file_decryption_properties(kms, pqe.DecryptionConfiguration())


def decrypt_csv(data: bytes, key_hex: str, name: str) -> bytes:
    if not data.startswith(contract.CSV_MAGIC):
        raise ValueError(f"{name}: not a {contract.CSV_SCHEME} file")
    body = data[len(contract.CSV_MAGIC) :]
    return AESGCM(bytes.fromhex(key_hex)).decrypt(body[:12], body[12:], name.encode())


def load_tenant_keys(path: Path) -> dict[str, str]:
    """A key file: a JSON map ``{tenant_id: hex key}`` (what the platform hands an auditor)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a JSON object of tenant_id -> hex key")
    return {str(k): str(v) for k, v in doc.items()}


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """sha256 of the raw 32-byte public key: the same whatever the PEM's line breaks."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_public_key(pem: bytes, origin: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise ValueError(f"{origin}: not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{origin}: not an {contract.ALGORITHM} public key")
    return key


@dataclass
class Report:
    """What was checked on one bundle or certificate, and every problem found."""

    kind: str  # bundle | tenant_deletion | retention_purge | unknown
    target: Path
    subject: str = ""
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        head = f"{'PASS' if self.ok else 'FAIL'}  {self.kind} {self.target}"
        lines = [head + (f" ({self.subject})" if self.subject else "")]
        lines += [f"      problem: {p}" for p in self.problems]
        lines += [f"      ok: {c}" for c in self.checked]
        lines += [f"      note: {n}" for n in self.notes]
        return "\n".join(lines)


# -- structure: every field a later check reads, validated before it is read --


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _field_problem(value: Any, wanted: str) -> str | None:
    """What is wrong with one field, or None: ``wanted`` is text, time, count, sha256, list or
    object."""
    ok = {
        "text": lambda v: isinstance(v, str) and v != "",
        "time": _is_time,
        "count": _is_count,
        "sha256": lambda v: isinstance(v, str) and contract.SHA256_RE.match(v) is not None,
        "list": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }[wanted](value)
    if ok:
        return None
    what = {
        "text": "a non-empty string",
        "time": "an ISO 8601 time",
        "count": "a non-negative integer",
        "sha256": "a sha256 (64 lowercase hex digits)",
        "list": "a list",
        "object": "an object",
    }[wanted]
    return f"is not {what} (got {value!r:.60})"


def _fields(doc: dict[str, Any], where: str, wanted: dict[str, str]) -> list[str]:
    """One line per field of ``doc`` that is missing or of the wrong kind."""
    problems = []
    for name, kind in wanted.items():
        if name not in doc:
            problems.append(f"{where}{name} is missing")
        elif (problem := _field_problem(doc[name], kind)) is not None:
            problems.append(f"{where}{name} {problem}")
    return problems


def _safe_name(name: str) -> bool:
    """A file name inside the bundle folder: no path, so nothing outside the bundle is read."""
    return name not in (".", "..") and "/" not in name and "\\" not in name and "\0" not in name


def manifest_problems(manifest: Any) -> list[str]:
    """Every way the manifest's structure is wrong, by field; empty when every field the checks
    read is there and of its kind. Checked before the bundle, so that a malformed manifest (even
    a validly signed one) is a named failure, never a crash of the verifier."""
    if not isinstance(manifest, dict):
        return [f"{contract.MANIFEST}: not a JSON object"]
    problems: list[str] = []
    missing = [k for k in contract.MANIFEST_KEYS if k not in manifest]
    if missing:
        problems.append(f"{contract.MANIFEST}: missing {', '.join(missing)}")
    problems += _fields(
        manifest,
        f"{contract.MANIFEST}: ",
        {k: "text" for k in contract.MANIFEST_TEXT_KEYS if k in manifest},
    )
    period = manifest.get("period")
    if "period" in manifest:
        if not isinstance(period, dict):
            problems.append(f"{contract.MANIFEST}: period {_field_problem(period, 'object')}")
        elif not isinstance(period.get("key"), str) or not contract.PERIOD_RE.match(period["key"]):
            problems.append(
                f"{contract.MANIFEST}: period.key is not a month YYYY-MM ({period.get('key')!r})"
            )
    if "validation" in manifest and not isinstance(manifest["validation"], dict):
        problems.append(
            f"{contract.MANIFEST}: validation {_field_problem(manifest['validation'], 'object')}"
        )
    if "csv_encryption" in manifest and not isinstance(manifest["csv_encryption"], str):
        problems.append(f"{contract.MANIFEST}: csv_encryption is not a string")
    if "files" in manifest:
        problems += _file_list_problems(manifest["files"])
    link = manifest.get("previous_manifest")
    if link is not None:
        if not isinstance(link, dict):
            problems.append(
                f"{contract.MANIFEST}: previous_manifest is not null or an object "
                f"{{period, sha256}} (got {link!r:.60})"
            )
        else:
            problems += _fields(
                link,
                f"{contract.MANIFEST}: previous_manifest.",
                {"period": "text", "sha256": "sha256"},
            )
            if isinstance(link.get("period"), str) and not contract.PERIOD_RE.match(link["period"]):
                problems.append(
                    f"{contract.MANIFEST}: previous_manifest.period is not a month YYYY-MM"
                )
    replaces = manifest.get("replaces")
    if replaces is not None and (
        not isinstance(replaces, list) or not all(isinstance(r, str) for r in replaces)
    ):
        problems.append(f"{contract.MANIFEST}: replaces is not a list of sha256 strings")
    return problems


def _file_list_problems(files: Any) -> list[str]:
    """The manifest's ``files``: a list of entries, each with a safe unique name, its format,
    bytes and sha256, and a row count for the tabular formats (null for the others)."""
    if not isinstance(files, list):
        return [f"{contract.MANIFEST}: files {_field_problem(files, 'list')}"]
    problems: list[str] = []
    seen: set[str] = set()
    for i, entry in enumerate(files):
        if not isinstance(entry, dict):
            problems.append(f"{contract.MANIFEST}: files[{i}] is not an object")
            continue
        name = entry.get("name")
        where = f"{contract.MANIFEST}: files[{i}] ({name}): " if isinstance(name, str) else ""
        where = where or f"{contract.MANIFEST}: files[{i}]: "
        problems += _fields(
            entry, where, {"name": "text", "format": "text", "bytes": "count", "sha256": "sha256"}
        )
        if isinstance(name, str) and name:
            if not _safe_name(name):
                problems.append(f"{where}name is not a file name inside the bundle")
            elif name in seen:
                problems.append(f"{where}listed more than once")
            seen.add(name)
        if "rows" not in entry:
            problems.append(f"{where}rows is missing")
        elif entry.get("format") in contract.TABULAR:
            if not _is_count(entry["rows"]):
                problems.append(f"{where}rows {_field_problem(entry['rows'], 'count')}")
        elif entry["rows"] is not None and not _is_count(entry["rows"]):
            problems.append(f"{where}rows is not null or a non-negative integer")
        if "encrypted" in entry and not isinstance(entry["encrypted"], bool):
            problems.append(f"{where}encrypted is not true or false")
    return problems


def certificate_problems(doc: dict[str, Any], name: str) -> list[str]:
    """Every field a certificate of its kind must state, missing or of the wrong kind, every
    table row, removed bundle and verification check that is not an object, and at least one
    check: a signed certificate that leaves any out proves less than it claims."""
    wanted = {
        "certificate_version": "count",
        "tenant_id": "text",
        "tables": "list",
        "verification": "list",
        **contract.CERTIFICATE_FIELDS.get(doc.get("kind"), {}),
    }
    missing = [k for k in (*contract.CERTIFICATE_KEYS, *wanted) if k not in doc]
    problems = [f"{name}: missing {', '.join(dict.fromkeys(missing))}"] if missing else []
    problems += _fields(doc, f"{name}: ", {k: v for k, v in wanted.items() if k in doc})
    for i, row in enumerate(doc["tables"] if isinstance(doc.get("tables"), list) else []):
        if not isinstance(row, dict):
            problems.append(f"tables[{i}] is not an object")
        elif (problem := _field_problem(row.get("table"), "text")) is not None:
            problems.append(f"tables[{i}]: table {problem}")
    for i, entry in enumerate(
        doc["bundles_removed"] if isinstance(doc.get("bundles_removed"), list) else []
    ):
        if not isinstance(entry, dict):
            problems.append(f"bundles_removed[{i}] is not an object")
        else:
            problems += _fields(
                entry,
                f"bundles_removed[{i}]: ",
                {"bundle": "text", "manifest_sha256": "sha256"},
            )
    checks = doc.get("verification")
    if checks == []:
        problems.append(f"{name}: verification records no check (at least one is required)")
    elif isinstance(checks, list):
        for i, check in enumerate(checks):
            if not isinstance(check, dict):
                problems.append(f"verification[{i}] is not an object")
            else:
                problems += _fields(check, f"verification[{i}]: ", {"check": "text"})
    start, end = doc.get("requested_at"), doc.get("completed_at")
    if _is_time(start) and _is_time(end):
        a, b = datetime.fromisoformat(start), datetime.fromisoformat(end)
        if (a.tzinfo is None) == (b.tzinfo is None) and b < a:
            problems.append(f"{name}: completed_at is before requested_at")
    return problems


# -- the bundle contract (DESIGN, "The bundle") --


def _csv_stats(
    path: Path,
    name: str,
    tenant: str,
    pattern: _Mentions | None,
    problems: list[str],
    text: str | None = None,
) -> tuple[list[str], int, int, int]:
    """Header, rows, rows of another tenant and cells naming another tenant, streamed (or from
    ``text``, a decrypted file's content)."""
    import io

    rows = foreign = hits = 0
    with (
        io.StringIO(text, newline="")
        if text is not None
        else path.open(newline="", encoding="utf-8") as fh
    ):
        csv.field_size_limit(CSV_FIELD_LIMIT)
        reader = csv.reader(fh)
        header = next(reader, [])
        index = header.index("tenant_id") if "tenant_id" in header else None
        for line, r in enumerate(reader, start=2):
            rows += 1
            for column, cell in zip(header, r, strict=False):
                if cell.startswith(contract.FORMULA_START):
                    problems.append(f"{name}:{line}: {column} starts a spreadsheet formula")
                if pattern is not None and column != "tenant_id" and pattern.search(cell):
                    hits += 1
            if index is not None and (len(r) <= index or r[index] != tenant):
                foreign += 1
    return header, rows, foreign, hits


def _parquet_stats(
    path: Path,
    tenant: str,
    pattern: _Mentions | None,
    decryption: pqe.FileDecryptionProperties | None = None,
) -> tuple[list[str], int, int, int]:
    table = pq.read_table(path, partitioning=None, decryption_properties=decryption)
    header = table.column_names
    foreign = hits = 0
    if "tenant_id" in header:
        same = pc.equal(table.column("tenant_id").cast(pa.string()), tenant).fill_null(False)
        foreign = table.num_rows - (pc.sum(same.cast(pa.int64())).as_py() or 0)
    if pattern is not None:
        for column in header:
            if column == "tenant_id" or not pa.types.is_string(table.schema.field(column).type):
                continue
            hits += sum(1 for v in table.column(column).to_pylist() if v and pattern.search(v))
    return header, table.num_rows, foreign, hits


# The biggest CSV cell read (Python's default is 128 KiB): well past the most a bundle's cell holds.
CSV_FIELD_LIMIT = 1024 * 1024 * 1024

# A self-contained page loads nothing: no script, no external stylesheet, image or font.
EXTERNAL_HTML = re.compile(
    r"<script|(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//|@import|url\(", re.I
)


def _html_problems(path: Path, name: str, pattern: _Mentions | None) -> list[str]:
    """A bundle's HTML page must be offline and name no other tenant."""
    text = path.read_text(encoding="utf-8")
    problems = []
    if EXTERNAL_HTML.search(text):
        problems.append(f"{name}: loads a script or a resource (the page must be self-contained)")
    if pattern is not None and pattern.search(html.unescape(text)):
        problems.append(f"{name}: names another tenant")
    return problems


class _Mentions:
    """Whether a text names one of the given other tenants' identifiers (contract.Recogniser,
    the platform's rule), the bundle's own tenant winning where both could be meant."""

    def __init__(self, tenant: str, foreign: Sequence[str]) -> None:
        self.tenant = tenant
        self.recogniser = contract.Recogniser([(tenant, None)], words=[("", w) for w in foreign])

    def search(self, text: str) -> bool:
        return bool(self.recogniser.foreign_mentions(text, self.tenant))


def check_bundle(
    folder: Path,
    foreign_identifiers: Iterable[str] = (),
    *,
    layout: bool = True,
    keys: dict[str, str] | None = None,
) -> list[str]:
    """Every way the bundle breaks its contract, as readable lines; empty when it holds.

    ``layout`` also requires the folder to sit at ``<region>/<tenant_id>/<period>``, as published;
    an auditor's copy may sit anywhere, so verification checks only what the manifest signs.
    """
    problems: list[str] = []
    manifest_path = folder / contract.MANIFEST
    if not manifest_path.exists():
        return [f"{folder}: {contract.MANIFEST} is missing"]
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return [f"{contract.MANIFEST}: not valid JSON ({exc})"]
    structure = manifest_problems(manifest)
    if structure:
        return structure
    tenant = manifest["tenant_id"]
    expected_place = (manifest["residency_region"], tenant, manifest["period"]["key"])
    if layout and tuple(folder.parts[-3:]) != expected_place:
        problems.append(
            f"bundle folder {'/'.join(folder.parts[-3:])} does not match the manifest "
            f"{'/'.join(expected_place)}"
        )
    listed = {f["name"]: f for f in manifest["files"]}
    formats = contract.FORMATS if manifest.get("csv_encryption") != "omit" else ("parquet",)
    wanted = {f"{k}.{fmt}" for k in contract.DATA_KINDS for fmt in formats} | {
        contract.VALIDATION,
        contract.FRESHNESS_REPORT,
    }
    for name in sorted(wanted - set(listed)):
        problems.append(f"{contract.MANIFEST}: {name} is not listed")
    present = {p.name for p in folder.iterdir() if p.is_file()}
    for name in sorted(present - set(listed) - set(contract.UNLISTED)):
        problems.append(f"{name}: file is not in the manifest")
    for name in sorted(p.name for p in folder.iterdir() if p.is_dir()):
        problems.append(f"{name}/: folder is not in the manifest")
    foreign = [w for w in foreign_identifiers if w]
    pattern = _Mentions(tenant, foreign) if foreign else None
    for name, entry in sorted(listed.items()):
        path = folder / name
        if not path.exists():
            problems.append(f"{name}: listed in the manifest but missing")
            continue
        if not path.is_file():
            problems.append(f"{name}: listed in the manifest as a file, but is not one")
            continue
        if path.stat().st_size != entry["bytes"]:
            problems.append(f"{name}: {path.stat().st_size} bytes, manifest says {entry['bytes']}")
        if contract.sha256_file(path) != entry["sha256"]:
            problems.append(f"{name}: sha256 does not match the manifest")
        key = (keys or {}).get(tenant)
        if entry.get("encrypted") and key is None:
            continue  # hashes and sizes only; verify_bundle notes it
        try:
            if entry["format"] == "parquet":
                decryption = parquet_decryption(tenant, key) if entry.get("encrypted") else None
                header, rows, foreign, hits = _parquet_stats(path, tenant, pattern, decryption)
            elif entry["format"] == "csv":
                text = None
                if entry.get("encrypted"):
                    text = decrypt_csv(path.read_bytes(), key, name).decode("utf-8")
                header, rows, foreign, hits = _csv_stats(
                    path, name, tenant, pattern, problems, text
                )
            else:
                if entry["format"] == "html":
                    problems += _html_problems(path, name, pattern)
                if name == contract.VALIDATION:
                    doc = json.loads(path.read_text(encoding="utf-8"))
                    if not isinstance(doc, dict) or not doc.get("success"):
                        problems.append(f"{contract.VALIDATION}: validation did not succeed")
                continue
        except (OSError, ValueError, pa.ArrowException, csv.Error, InvalidTag) as exc:
            problems.append(f"{name}: cannot be read as {entry['format']} ({exc})")
            continue
        if entry["rows"] != rows:
            problems.append(f"{name}: {rows} rows, manifest says {entry['rows']}")
        if "tenant_id" not in header:
            problems.append(f"{name}: no tenant_id column")
            continue
        if foreign:
            problems.append(f"{name}: {foreign} row(s) whose tenant_id is not {tenant}")
        if hits:
            problems.append(f"{name}: {hits} cell(s) name another tenant")
    if not manifest["validation"].get("success"):
        problems.append(f"{contract.MANIFEST}: validation.success is not true")
    return problems


# -- signatures --


def check_signature(
    document: Path, signature: Path, public_key_pem: bytes | None, signing: Any
) -> tuple[list[str], list[str], list[str]]:
    """Problems, ok-lines and notes for a detached Ed25519 signature over the document's bytes.

    Without a given key the document's own copy (next to it) is used: that proves the files
    agree with each other, not who signed them, so the caller is told to pin the key."""
    problems: list[str] = []
    notes: list[str] = []
    if not signature.exists():
        return [f"{signature.name} is missing: {document.name} is not signed"], [], notes
    shipped = document.parent / contract.PUBLIC_KEY
    if public_key_pem is None:
        if not shipped.exists():
            return [f"{contract.PUBLIC_KEY} is missing and no --public-key was given"], [], notes
        public_key_pem = shipped.read_bytes()
        origin = f"the {contract.PUBLIC_KEY} shipped with it"
        notes.append(
            f"verified with the {contract.PUBLIC_KEY} shipped beside {document.name}; "
            "pass --public-key with the platform's published key to prove who signed it"
        )
    else:
        origin = "the given public key"
    try:
        key = load_public_key(public_key_pem, origin)
    except ValueError as exc:
        return [str(exc)], [], notes
    fingerprint = key_fingerprint(key)
    try:
        key.verify(signature.read_bytes(), document.read_bytes())
    except InvalidSignature:
        problems.append(
            f"{signature.name}: the signature does not match {document.name} under {origin} "
            f"(key sha256 {fingerprint[:16]}): {document.name} was changed after signing, or "
            "was signed with another key"
        )
        return problems, [], notes
    stated = signing.get("public_key_sha256") if isinstance(signing, dict) else None
    if not isinstance(stated, str):
        problems.append(f"{document.name}: does not state the key it was signed with (signing)")
    elif stated != fingerprint:
        problems.append(
            f"{document.name}: states signing key sha256 {stated[:16]}, verified with "
            f"{fingerprint[:16]}"
        )
    if shipped.exists() and public_key_pem != shipped.read_bytes():
        try:
            if (
                key_fingerprint(load_public_key(shipped.read_bytes(), contract.PUBLIC_KEY))
                != fingerprint
            ):
                notes.append(f"the {contract.PUBLIC_KEY} shipped beside it is not the given key")
        except ValueError as exc:
            notes.append(str(exc))
    ok = [f"signature {contract.ALGORITHM} over {document.name}, key sha256 {fingerprint[:16]}"]
    return problems, ok, notes


# -- bundles --


def _manifest_of(folder: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((folder / contract.MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _siblings(folder: Path, tenant: str) -> dict[str, Path]:
    """Other bundles of the same tenant beside this one, by period (from their manifests)."""
    out: dict[str, Path] = {}
    parent = folder.resolve().parent
    for other in sorted(p for p in parent.iterdir() if p.is_dir() and p != folder.resolve()):
        doc = _manifest_of(other)
        if doc and doc.get("tenant_id") == tenant and isinstance(doc.get("period"), dict):
            out.setdefault(str(doc["period"].get("key")), other)
    return out


def check_chain(
    folder: Path, manifest: dict[str, Any], complete: bool = False
) -> tuple[list[str], list[str], list[str]]:
    """The link to the tenant's previous bundle, when that bundle is beside this one.

    A previous bundle absent with nothing earlier beside it is only a note: an auditor may hold
    just the recent periods. ``complete`` makes it a failure, so that removing a tenant's oldest
    periods is caught: the earliest bundle held must then be the chain's first."""
    problems: list[str] = []
    checked: list[str] = []
    notes: list[str] = []
    if "previous_manifest" not in manifest:
        return (
            [f"{contract.MANIFEST}: previous_manifest is missing (the chain cannot be checked)"],
            [],
            [],
        )
    tenant, period = manifest["tenant_id"], manifest["period"]["key"]
    link = manifest["previous_manifest"]
    siblings = _siblings(folder, tenant)
    earlier = sorted(p for p in siblings if p < period)
    if link is None:
        if earlier:
            notes.append(
                f"chain: {period} was the tenant's first bundle when issued; the earlier "
                f"bundle(s) {', '.join(earlier)} beside it were issued after it"
            )
        else:
            checked.append(f"chain: {period} is the tenant's first bundle")
        return problems, checked, notes
    prev_period, prev_sha = link.get("period"), link.get("sha256")
    if not isinstance(prev_period, str) or not isinstance(prev_sha, str) or prev_period >= period:
        return [f"{contract.MANIFEST}: previous_manifest is malformed ({link!r})"], [], []
    target = siblings.get(prev_period)
    if target is None:
        before = [p for p in earlier if p < prev_period]
        if before:
            problems.append(
                f"chain: {period} links to {prev_period}, which is missing while earlier "
                f"bundle(s) {', '.join(before)} are present: a bundle of the chain was removed"
            )
        elif complete:
            problems.append(
                f"chain: tenant {tenant}: {period} links to {prev_period}, which is missing, and "
                f"no earlier bundle is here: the chain does not start at the tenant's first "
                "bundle (--complete)"
            )
        else:
            notes.append(
                f"chain: the previous bundle {prev_period} is not here; link not checked "
                "(--complete requires it)"
            )
        return problems, checked, notes
    actual = contract.sha256_file(target / contract.MANIFEST)
    replaced = (_manifest_of(target) or {}).get("replaces") or []
    if actual == prev_sha:
        checked.append(f"chain: links to {prev_period} (present, manifest sha256 matches)")
    elif prev_sha in replaced:
        checked.append(f"chain: links to {prev_period}, which was re-exported since (signed)")
        notes.append(f"chain: {prev_period} present is a declared re-export of the one linked")
    else:
        problems.append(
            f"chain: {period} links to the {prev_period} manifest sha256 {prev_sha[:16]}, but "
            f"the {prev_period} bundle present has {actual[:16]}: it was replaced or altered"
        )
    between = [p for p in siblings if prev_period < p < period]
    if between:
        notes.append(f"chain: {', '.join(between)} issued after {period} (a backfill)")
    return problems, checked, notes


def verify_bundle(
    folder: Path,
    public_key_pem: bytes | None = None,
    foreign_identifiers: Iterable[str] = (),
    keys: dict[str, str] | None = None,
    complete: bool = False,
) -> Report:
    """Signature, the manifest's structure, every listed file's sha256/bytes/rows, every row's
    tenant, the chain link (with ``complete``, back to the tenant's first bundle)."""
    report = Report("bundle", folder)
    manifest_path = folder / contract.MANIFEST
    if not manifest_path.exists():
        report.problems.append(f"{contract.MANIFEST} is missing")
        return report
    manifest = _manifest_of(folder)
    if manifest is None:
        report.problems.append(f"{contract.MANIFEST}: not a valid JSON object")
        return report
    period_doc = manifest.get("period")
    period = period_doc.get("key") if isinstance(period_doc, dict) else None
    report.subject = f"tenant {manifest.get('tenant_id')}, period {period}"
    problems, checked, notes = check_signature(
        manifest_path, folder / contract.SIGNATURE, public_key_pem, manifest.get("signing")
    )
    report.problems += problems
    report.checked += checked
    report.notes += notes
    structure = manifest_problems(manifest)
    if structure:
        report.problems += structure
        return report
    broken = check_bundle(folder, foreign_identifiers, layout=False, keys=keys)
    report.problems += broken
    encrypted = sorted(f["name"] for f in manifest["files"] if f.get("encrypted"))
    if encrypted and (keys or {}).get(str(manifest.get("tenant_id"))) is None:
        report.notes.append(
            f"{len(encrypted)} file(s) encrypted, content not checked (sha256 and bytes were; "
            "pass --key-file to check rows and tenant_id)"
        )
    elif encrypted:
        report.checked.append(f"{len(encrypted)} encrypted file(s) decrypted with the tenant key")
    if contract.PERIOD_RE.match(folder.name) and folder.name != period:
        report.problems.append(f"folder {folder.name} holds the bundle of period {period}")
    files = {f["name"]: f for f in manifest["files"]}
    for kind in contract.DATA_KINDS:
        a, b = files.get(f"{kind}.parquet"), files.get(f"{kind}.csv")
        if a and b and a.get("rows") != b.get("rows"):
            report.problems.append(
                f"{contract.MANIFEST}: {kind}.parquet has {a.get('rows')} rows, "
                f"{kind}.csv {b.get('rows')}"
            )
    if not broken:
        rows = sum(f.get("rows") or 0 for f in manifest["files"] if f["format"] == "parquet")
        report.checked.append(
            f"{len(files)} files: sha256, bytes and rows match the manifest ({rows} rows in "
            f"Parquet, the same in CSV); every row's tenant_id is {manifest['tenant_id']}"
        )
    problems, checked, notes = check_chain(folder, manifest, complete)
    report.problems += problems
    report.checked += checked
    report.notes += notes
    return report


# -- certificates (tenant deletion, retention purge) --


def verify_certificate(path: Path, public_key_pem: bytes | None = None) -> Report:
    """Signature, completeness, and that every recorded check had its expected result."""
    report = Report("certificate", path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        report.problems.append(f"{path.name}: not valid JSON ({exc})")
        return report
    if not isinstance(doc, dict):
        report.problems.append(f"{path.name}: not a JSON object")
        return report
    report.kind = str(doc.get("kind", "certificate"))
    report.subject = f"tenant {doc.get('tenant_id')}"
    problems, checked, notes = check_signature(
        path, path.with_suffix(contract.SIGNATURE_SUFFIX), public_key_pem, doc.get("signing")
    )
    report.problems += problems
    report.checked += checked
    report.notes += notes
    if doc.get("kind") not in contract.CERTIFICATE_KINDS:
        report.problems.append(f"{path.name}: unknown kind {doc.get('kind')!r}")
        return report
    report.problems += certificate_problems(doc, path.name)
    tables = [r for r in doc.get("tables") or [] if isinstance(r, dict)]
    checks = [c for c in doc.get("verification") or [] if isinstance(c, dict)]
    if not isinstance(doc.get("tables"), list) or not isinstance(doc.get("verification"), list):
        return report
    for row in tables:
        name, before, after = row.get("table"), row.get("rows_before"), row.get("rows_after")
        if not isinstance(before, int) or not isinstance(after, int):
            report.problems.append(f"tables: {name}: rows_before/rows_after are not counts")
        elif doc["kind"] == contract.DELETION and after != 0:
            report.problems.append(f"tables: {name}: {after} row(s) of the tenant remain")
        elif doc["kind"] == contract.DELETION and row.get("mentions_after", 0) != 0:
            report.problems.append(
                f"tables: {name}: {row['mentions_after']} row(s) still name the tenant"
            )
        elif doc["kind"] == contract.PURGE:
            if after > before:
                report.problems.append(f"tables: {name}: more rows after the purge than before")
            elif row.get("rows_purged", before - after) != before - after:
                report.problems.append(f"tables: {name}: rows_purged is not before - after")
    failed = 0
    for check in checks:
        passed = check.get("result") == check.get("expected")
        if not passed or check.get("passed") is not True:
            failed += 1
            report.problems.append(
                f"verification: {check.get('check')}: result {check.get('result')!r}, "
                f"expected {check.get('expected')!r}"
            )
    if doc["kind"] == contract.DELETION and doc.get("verified") is not True:
        report.problems.append(f"{path.name}: the deletion is not marked verified")
    if report.ok:
        report.checked.append(
            f"{len(tables)} table count(s) and {len(checks)} verification check(s) as expected"
        )
    return report


# -- entry point --


def _certificate_kind(path: Path) -> str | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kind = doc.get("kind") if isinstance(doc, dict) else None
    return kind if kind in contract.CERTIFICATE_KINDS else None


def _guarded(kind: str, target: Path, run: Callable[[], Report]) -> Report:
    """One item's report; anything the checks did not foresee fails that item alone, so the
    report goes on for the others."""
    try:
        return run()
    except Exception as exc:  # reported as this item's failure, never raised past it
        return Report(
            kind, target, problems=[f"could not be verified: {type(exc).__name__}: {exc}"]
        )


def verify_path(
    path: Path,
    public_key_pem: bytes | None = None,
    keys: dict[str, str] | None = None,
    complete: bool = False,
) -> list[Report]:
    """Everything verifiable at PATH: one bundle, one certificate, or all of them below it.

    ``complete``: each tenant's earliest bundle must be its chain's first (see check_chain)."""

    def bundle(folder: Path) -> Report:
        return _guarded(
            "bundle",
            folder,
            lambda: verify_bundle(folder, public_key_pem, keys=keys, complete=complete),
        )

    def certificate(file: Path) -> Report:
        return _guarded("certificate", file, lambda: verify_certificate(file, public_key_pem))

    if path.is_file():
        if path.name == contract.MANIFEST:
            return [bundle(path.parent)]
        if path.suffix == ".json":
            return [certificate(path)]
        return [Report("unknown", path, problems=["not a bundle folder or a certificate"])]
    if not path.is_dir():
        return [Report("unknown", path, problems=["does not exist"])]
    if (path / contract.MANIFEST).exists():
        return [bundle(path)]
    reports = []
    for candidate in sorted(path.rglob("*.json")):
        if candidate.name == contract.MANIFEST:
            reports.append(bundle(candidate.parent))
        elif candidate.name != contract.VALIDATION and _certificate_kind(candidate):
            reports.append(certificate(candidate))
    return reports or [Report("unknown", path, problems=["no bundle or certificate found"])]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="verify", description=__doc__.split("\n")[0])
    p.add_argument("path", type=Path, help="a bundle folder, a folder of bundles, a certificate")
    p.add_argument(
        "--public-key",
        type=Path,
        help=f"the platform's published {contract.PUBLIC_KEY} (recommended)",
    )
    p.add_argument(
        "--key-file",
        type=Path,
        help="JSON {tenant_id: hex key}: decrypt encrypted files and check their rows",
    )
    p.add_argument(
        "--complete",
        action="store_true",
        help="each tenant's earliest bundle must be its chain's first (no older period removed)",
    )
    args = p.parse_args(argv)
    key = args.public_key.read_bytes() if args.public_key else None
    keys = load_tenant_keys(args.key_file) if args.key_file else None
    reports = verify_path(args.path, key, keys, complete=args.complete)
    for report in reports:
        print(report.render())
    failed = sum(not r.ok for r in reports)
    print(f"{len(reports) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
