"""Encryption of a bundle's data files for the classes whose policy requires it (spec §2.4).

Order, so that "validated on the exact files" still holds: the staged files are validated in
plaintext; then each Parquet file is rewritten with pyarrow's Parquet modular encryption under
the tenant's key, and each CSV is encrypted (AES-256-GCM) or left out, as the class's
``csv_encryption`` says; each encrypted file is decrypted again and must equal the validated
plaintext exactly (same rows, same values) before the manifest is written, which records
``"encrypted": true`` and the scheme per file. Schemes and the decrypting side live in
``exports/verify.py`` (the auditor's single file).

Keys come from a key provider: by default the local store ``<home>/keys/
tenant_encryption_keys.json`` (a JSON map keyed by tenant id, so a tenant deletion's
crypto-shredding removes the key with the others); anything with ``key_for`` can replace it.
DuckDB cannot write encrypted Parquet offline (PITFALLS), hence pyarrow.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pqe
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from exports.bundle import StagedBundle
from exports.contract import CSV_MAGIC, CSV_SCHEME, PARQUET_SCHEME
from exports.signing import ExportSigner, sign_file
from exports.verify import crypto_factory, decrypt_csv, load_tenant_keys, parquet_decryption
from tenantproof.core.files import replacing, write_atomic
from tenantproof.core.home import Home
from tenantproof.core.keys import LocalKeyStore
from tenantproof.core.policy import Policy

KEY_STORE = "tenant_encryption_keys.json"


class EncryptionProofFailed(RuntimeError):
    """An encrypted file does not decrypt to the validated plaintext: nothing is published."""


class KeyProvider(Protocol):
    def key_for(self, tenant_id: str) -> str:
        """The tenant's 32-byte key, hex."""
        ...


@dataclass(frozen=True)
class LocalEncryptionKeys:
    """Per-tenant keys in ``<home>/keys/tenant_encryption_keys.json`` (created on first use)."""

    path: Path

    def key_for(self, tenant_id: str) -> str:
        return LocalKeyStore(self.path).ensure([tenant_id])[tenant_id]


def encrypt_parquet(path: Path, tenant_id: str, key_hex: str) -> None:
    """Rewrite ``path`` encrypted; prove it decrypts to exactly the plaintext first."""
    plain = pq.read_table(path, partitioning=None)
    kms = pqe.KmsConnectionConfig(custom_kms_conf={tenant_id: key_hex})
    config = pqe.EncryptionConfiguration(
        footer_key=tenant_id,
        uniform_encryption=True,
        double_wrapping=False,
        plaintext_footer=False,
        encryption_algorithm="AES_GCM_V1",
    )
    props = crypto_factory().file_encryption_properties(kms, config)
    with replacing(path) as tmp:
        pq.write_table(plain, tmp, encryption_properties=props)
        back = pq.read_table(
            tmp, partitioning=None, decryption_properties=parquet_decryption(tenant_id, key_hex)
        )
        if back.num_rows != plain.num_rows or not back.equals(plain):
            raise EncryptionProofFailed(f"tenant {tenant_id}: {path.name} does not decrypt back")


def encrypt_csv(path: Path, tenant_id: str, key_hex: str) -> None:
    """AES-256-GCM of the CSV bytes, the file name as associated data; proven to decrypt back."""
    plain = path.read_bytes()
    nonce = os.urandom(12)
    sealed = (
        CSV_MAGIC + nonce + AESGCM(bytes.fromhex(key_hex)).encrypt(nonce, plain, path.name.encode())
    )
    if decrypt_csv(sealed, key_hex, path.name) != plain:
        raise EncryptionProofFailed(f"tenant {tenant_id}: {path.name} does not decrypt back")
    write_atomic(path, sealed)


def requires_encryption(bundle: StagedBundle, policy: Policy) -> bool:
    cls = policy.require_class(bundle.tenant_class, bundle.tenant_id)["tenant_class"]
    return policy.encryption_required(cls)


class FetchedKeys:
    """Keys fetched once, up front, from another provider: what concurrent encryption uses, so
    that no two threads create or read the key store at the same time."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys

    def key_for(self, tenant_id: str) -> str:
        return self.keys[tenant_id]


def encrypt_bundle(
    bundle: StagedBundle, policy: Policy, keys: KeyProvider
) -> dict[str, Any] | None:
    """Encrypt (or leave out) the bundle's data files as its class says. Returns the manifest
    additions (``files``: name -> fields; ``csv_encryption``), or None for a clear class."""
    if not requires_encryption(bundle, policy):
        return None
    key = keys.key_for(bundle.tenant_id)
    csv_mode = policy.csv_encryption(bundle.tenant_class)
    files: dict[str, dict[str, Any]] = {}
    for name, path in sorted(bundle.files.items()):
        if name.endswith(".parquet"):
            encrypt_parquet(path, bundle.tenant_id, key)
            files[name] = {"encrypted": True, "scheme": PARQUET_SCHEME}
        elif name.endswith(".csv"):
            if csv_mode == "omit":
                path.unlink()
                del bundle.files[name]
                continue
            encrypt_csv(path, bundle.tenant_id, key)
            files[name] = {"encrypted": True, "scheme": CSV_SCHEME}
    return {"files": files, "csv_encryption": csv_mode}


def seal_manifest(path: Path, additions: dict[str, Any], signer: ExportSigner) -> None:
    """Record the encryption in the manifest (per file and for the bundle) and sign it again:
    the manifest an auditor receives says which files need the key."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    for entry in doc["files"]:
        entry.update(additions["files"].get(entry["name"], {}))
    doc["csv_encryption"] = additions["csv_encryption"]
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    sign_file(path, signer)


def auditor_key_file(home: Home, tenant: str, out: Path) -> Path:
    """Write the key file an auditor of one tenant needs for ``verify --key-file``: that
    tenant's encryption key alone, owner-readable only. Refused, naming the reason, for a tenant
    with no encryption key (its class does not encrypt, or it was deleted) or an existing file."""
    store = home.keys / KEY_STORE
    keys = load_tenant_keys(store) if store.exists() else {}
    if tenant not in keys:
        raise SystemExit(
            f"tenant {tenant} has no encryption key in {store}: its bundles are not encrypted "
            "(or the tenant was deleted)"
        )
    if out.exists():
        raise SystemExit(f"{out} exists: not overwritten")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({tenant: keys[tenant]}, fh)
    return out
