"""The bundle contract (DESIGN, "The bundle"), checked on a published bundle folder.

Only the standard library, pyarrow and cryptography: what an auditor's machine runs. Each data file
is read on its own, never through hive partitioning, so a row keeps its own tenant_id.

The check lives in ``exports/verify.py``, the single file an auditor runs (it adds the
signature and the chain); this module keeps the contract's names where callers import them.
"""

from __future__ import annotations

from exports.verify import (
    DATA_KINDS,
    FORMATS,
    FORMULA_START,
    MANIFEST_KEYS,
    UNLISTED,
    check_bundle,
)

__all__ = ["DATA_KINDS", "FORMATS", "FORMULA_START", "MANIFEST_KEYS", "UNLISTED", "check_bundle"]
