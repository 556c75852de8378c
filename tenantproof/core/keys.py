"""Per-tenant hashing keys: a local key store by default.

Keyed hashes let an auditor join a tenant's redacted rows (the same email always hashes to the
same value within a tenant) without letting anyone correlate identities across tenants, since
each tenant has its own key.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from tenantproof.core.files import write_atomic

# The hashing keys' store in <home>/keys. dbt reads it where it is (the source
# raw.tenant_hash_keys, models/staging/_raw__sources.yml): no copy of a key is ever written to
# the warehouse file.
HASH_KEYS = "tenant_hash_keys.json"


class LocalKeyStore:
    """A JSON file of ``{tenant_id: hex key}``, written atomically, readable by the owner only."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text(encoding="utf-8"))

    def ensure(self, tenant_ids: list[str]) -> dict[str, str]:
        """Return keys for every tenant, creating the missing ones (and the store, even empty:
        the dbt build reads it and fails, rather than hashing with no key, where it is absent)."""
        keys = self.load()
        missing = [t for t in tenant_ids if t not in keys]
        if missing or not self.path.exists():
            for tenant_id in missing:
                keys[tenant_id] = secrets.token_hex(32)
            write_atomic(self.path, json.dumps(keys, indent=1, sort_keys=True), mode=0o600)
        return keys
