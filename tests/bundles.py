"""Reading a published bundle's data files as the auditor does with the key file: encrypted
files are decrypted with the tenant's key from the home's local key store."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from exports import contract, verify
from exports.encryption import KEY_STORE


def _encryption(path: Path, home_root: Path) -> tuple[str, str] | None:
    """(tenant, key) when the bundle's manifest marks the file encrypted, else None."""
    manifest = path.parent / contract.MANIFEST
    if not manifest.exists():
        return None
    doc = json.loads(manifest.read_text(encoding="utf-8"))
    if "files" not in doc:  # not a bundle's manifest (dbt writes one of its own)
        return None
    entry = next((f for f in doc["files"] if f["name"] == path.name), None)
    if not entry or not entry.get("encrypted"):
        return None
    keys = verify.load_tenant_keys(home_root / "keys" / KEY_STORE)
    return doc["tenant_id"], keys[doc["tenant_id"]]


def read_table(path: Path, home_root: Path) -> pa.Table:
    found = _encryption(path, home_root)
    decryption = verify.parquet_decryption(*found) if found else None
    return pq.read_table(path, partitioning=None, decryption_properties=decryption)


def read_text(path: Path, home_root: Path) -> str:
    found = _encryption(path, home_root)
    if found is None:
        return path.read_text(encoding="utf-8", errors="replace")
    return verify.decrypt_csv(path.read_bytes(), found[1], path.name).decode("utf-8")


def free_text_redacted(text: str | None) -> str | None:
    """The text with every kind of free-text personal data redacted, as the warehouse's scrub
    does for a profile that keeps none (docs/FREE_TEXT_PII.md): an independent implementation
    with Python's `regex` (Unicode classes), from the same patterns."""
    import regex

    from tenantproof.core.catalog import free_text_pii

    if text is None:
        return None
    source = text  # a checked kind takes its candidates from the text as it came
    for kind in free_text_pii():
        pattern = regex.compile(kind.bounded)
        if kind.check is None:
            text = pattern.sub(lambda m, k=kind: m.group(1) + k.placeholder, text)
        else:
            for candidate in [m.group(2) for m in pattern.finditer(source)]:
                if kind.accepts(candidate):
                    text = text.replace(candidate, kind.placeholder)
    return text
