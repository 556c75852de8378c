"""The platform's export key: signed manifests and certificates, and each tenant's manifest chain.

Every manifest (and every deletion certificate and retention purge record) gets a detached
Ed25519 signature over its exact bytes, and the public key ships beside it and is published at
``<home>/exports/export_public_key.pem``; ``exports/verify.py`` checks them offline. The key
provider is a small protocol: ``LocalSigningKey`` (a PEM file under ``<home>/keys/``) is the
default, and a KMS- or HSM-backed provider only needs ``sign`` and ``public_key_pem``.

Each tenant's manifests form a chain: a manifest records the sha256 of the tenant's previous
period's manifest, so a removed or replaced period shows up when the bundles are verified
together. A re-exported period records the manifests it replaces, signed, so that a later
period's link to the replaced one stays explainable.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exports.contract import (
    ALGORITHM,
    MANIFEST,
    PUBLIC_KEY,
    SIGNATURE_SUFFIX,
    dsse_pae,
    sha256_file,
)
from exports.verify import key_fingerprint, load_public_key
from tenantproof.core.files import write_atomic
from tenantproof.core.home import Home
from tenantproof.core.periods import PERIOD_RE


class ExportSigner(Protocol):
    """What signing needs from a key provider; the private key need not leave it."""

    def sign(self, data: bytes) -> bytes: ...

    def public_key_pem(self) -> bytes: ...


class LocalSigningKey:
    """An Ed25519 private key in a PEM file, created on first use, readable by the owner only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: Ed25519PrivateKey | None = None

    @classmethod
    def for_home(cls, home: Home) -> LocalSigningKey:
        """The home's key file (``Home.signing_key_path``: ``TENANTPROOF_SIGNING_KEY`` as the
        settings resolved it, else ``<home>/keys/export_signing_key.pem``). A signer that keeps
        its key elsewhere (an HSM, a KMS) implements ``ExportSigner``."""
        return cls(home.signing_key_path)

    def _private(self) -> Ed25519PrivateKey:
        if self._key is None:
            if not self.path.exists():
                self._create()
            key = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{self.path}: not an {ALGORITHM} private key")
            self._key = key
        return self._key

    def _create(self) -> None:
        """Write a new key without ever replacing one: two first uses racing keep one key."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()

    def sign(self, data: bytes) -> bytes:
        return self._private().sign(data)

    def public_key_pem(self) -> bytes:
        return (
            self._private()
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def signing_fields(signer: ExportSigner, document_name: str) -> dict[str, str]:
    """What a signed document says about its signature (it cannot hold the signature itself)."""
    key = load_public_key(signer.public_key_pem(), "the export signing key")
    return {
        "algorithm": ALGORITHM,
        "signature_file": Path(document_name).with_suffix(SIGNATURE_SUFFIX).name,
        "public_key_file": PUBLIC_KEY,
        "public_key_sha256": key_fingerprint(key),
    }


def sign_file(path: Path, signer: ExportSigner) -> Path:
    """Write ``<name>.sig`` (Ed25519 over the file's bytes) and the public key beside it."""
    signature = path.with_suffix(SIGNATURE_SUFFIX)
    write_atomic(signature, signer.sign(path.read_bytes()))
    write_atomic(path.parent / PUBLIC_KEY, signer.public_key_pem())
    return signature


def write_signed_json(path: Path, document: dict[str, Any], signer: ExportSigner) -> Path:
    """A signed JSON document (certificate, purge record): the JSON, its signature, the key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**document, "signing": signing_fields(signer, path.name)}
    write_atomic(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode())
    sign_file(path, signer)
    return path


def dsse_envelope(payload: bytes, payload_type: str, signer: ExportSigner) -> dict[str, Any]:
    """A DSSE envelope over ``payload``: one signature (Ed25519 over the pre-authentication
    encoding), its key id the sha256 of the raw public key (as ``public_key_sha256``)."""
    key = load_public_key(signer.public_key_pem(), "the export signing key")
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [
            {
                "keyid": key_fingerprint(key),
                "sig": base64.b64encode(signer.sign(dsse_pae(payload_type, payload))).decode(),
            }
        ],
    }


def publish_public_key(exports_root: Path, signer: ExportSigner) -> Path:
    """The public key where auditors and the platform's users find it, beside the regions."""
    exports_root.mkdir(parents=True, exist_ok=True)
    target = exports_root / PUBLIC_KEY
    pem = signer.public_key_pem()
    if not target.exists() or target.read_bytes() != pem:
        write_atomic(target, pem)
    return target


def chain_links(tenant_root: Path, period: str, this_run: Mapping[str, Path]) -> dict[str, Any]:
    """The manifest fields that chain a tenant's bundles.

    ``previous_manifest`` is the latest period before ``period`` among the tenant's published
    bundles under ``tenant_root`` and the manifests this run already wrote (``this_run``, by
    period), which supersede published ones; null for the tenant's first bundle. ``replaces``
    lists the manifests a re-export of ``period`` supersedes, newest first."""
    published: dict[str, Path] = {}
    if tenant_root.is_dir():
        for folder in tenant_root.iterdir():
            if folder.is_dir() and PERIOD_RE.match(folder.name) and (folder / MANIFEST).exists():
                published[folder.name] = folder / MANIFEST
    known = {**published, **this_run}
    earlier = sorted(p for p in known if p < period)
    previous = None
    if earlier:
        previous = {"period": earlier[-1], "sha256": sha256_file(known[earlier[-1]])}
    replaces: list[str] = []
    if period in published:
        old = published[period]
        earlier_replaced = json.loads(old.read_text(encoding="utf-8")).get("replaces") or []
        replaces = [sha256_file(old), *earlier_replaced]
    return {"previous_manifest": previous, "replaces": replaces}
