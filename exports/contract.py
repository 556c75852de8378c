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
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
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


# Parquet's last four bytes: a plaintext footer, or one encrypted (the whole file unreadable
# without the key). What the verifier checks against a manifest's "encrypted" without the key.
PARQUET_PLAIN_END = b"PAR1"
PARQUET_ENCRYPTED_END = b"PARE"

# -- each tenant's signed index (its log head): every published period and its manifest --
# ``<region root>/<tenant_id>/index.json``: a DSSE envelope (the standard signed-envelope format,
# github.com/secure-systems-lab/dsse) over a JSON payload whose ``sequence`` only grows and which
# records the previous index's sha256. One file, replaced whole, so that a kill never leaves an
# index and a signature that disagree.
TENANT_INDEX = "index.json"
INDEX_PAYLOAD_TYPE = "application/vnd.tenantproof.tenant-index+json"
INDEX_VERSION = 1
# The auditor's state file (``verify --state``): the pinned key and the highest index sequence
# seen per tenant, so that rolling a whole folder back to an older, consistent state is caught.
STATE_VERSION = 1


def dsse_pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: the bytes a DSSE signature is over."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def is_bundle_name(name: str) -> bool:
    """A published bundle's folder name: a period, nothing hidden or temporary."""
    return PERIOD_RE.match(name) is not None


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file's bytes: what a manifest and a certificate record."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- tenant identifiers in text: the one rule for "this text names that tenant" --
#
# docs/TENANT_MENTIONS.md states the rule with examples. In short: text is cut into tokens, each
# a run of letters, marks and digits of any script, where a hyphen, dot or underscore between
# two such characters joins them into one token (``acme-eu``, ``t1.eu``, ``a_b``). A tenant
# identifier (its id, and its name as a whole phrase) names the tenant where its tokens occur as
# whole tokens, in any case; leading and trailing characters of an identifier that are not
# letters or digits are not part of it, and whitespace inside a name matches any run of
# whitespace. Where several identifiers could start at one place, the longest wins, so ``acme``
# is never found inside ``acme-eu`` and ``acme-eu`` is found whole.
#
# The same regular expressions run in DuckDB (RE2), Spark (Java) and Python: tokens are marked
# with SENTINEL on both sides first, and each identifier is a pattern over marked tokens, so no
# engine needs look-around. Python's ``re`` has no Unicode property classes, so its token class
# is spelled out from ``unicodedata`` (the same categories).

NEVER = r"[^\s\S]"  # a pattern that matches nothing, for an empty list of identifiers
SENTINEL = "\x03"  # around every token while matching
MARK_OPEN, MARK_CLOSE = "\x01", "\x02"  # around every recognised identifier while matching
# What the scrub writes in place of another tenant's identifier, and what the deletion writes in
# place of the deleted tenant's: the product's words, never judged to name a tenant.
OTHER_TENANT = "[other tenant]"
DELETED_TENANT = "[deleted tenant]"
# What the scrub writes in place of personal data found in free text (dbt_project.yml
# vars.free_text_pii, docs/FREE_TEXT_PII.md): the product's words too.
PII_PLACEHOLDERS = (
    "[email]",
    "[iban]",
    "[card number]",
    "[ssn]",
    "[ip address]",
    "[phone number]",
)
PLACEHOLDERS = (OTHER_TENANT, DELETED_TENANT, *PII_PLACEHOLDERS)
NEUTRAL = "\ufffd"  # the matching's own control characters found in text become this
# Whitespace inside a name: ASCII whitespace and Unicode's space separators (Zs, Zl, Zp).
SPACE_CHARS = (
    "\t\n\x0b\x0c\r"
    + "".join(
        c for c in map(chr, range(0x80, 0x3001)) if unicodedata.category(c) in ("Zs", "Zl", "Zp")
    )
    + " "
)
# The token pattern in the SQL engines (RE2 and Java read it alike).
SQL_WORD = r"[\pL\pM\pN]"
SQL_TOKEN = SQL_WORD + "+(?:[-._]" + SQL_WORD + "+)*"
SQL_NOT_WORD = r"[^\pL\pM\pN]"
SENTINEL_RE = r"\x03"
SPACE_RE = "[" + "".join(c if ord(c) > 0x7F else f"\\x{ord(c):02x}" for c in SPACE_CHARS) + "]+"


def escape_literal(text: str) -> str:
    """A literal for RE2, Java and Python alike: ASCII letters and digits and every non-ASCII
    character as themselves, other ASCII characters as ``\\xhh``."""
    return "".join(
        c if c.isascii() and c.isalnum() or not c.isascii() else f"\\x{ord(c):02x}" for c in text
    )


@cache
def _word_class() -> str:
    """Python's spelling of SQL_WORD: every code point in Unicode categories L, M and N."""
    ranges: list[list[int]] = []
    for code in range(0x110000):
        if unicodedata.category(chr(code))[0] in "LMN":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    parts = [f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges]
    return "[" + "".join(parts) + "]"


@cache
def _token_re() -> re.Pattern[str]:
    word = _word_class()
    return re.compile(word + "+(?:[-._]" + word + "+)*")


def neutralised(text: str) -> str:
    """The text with the matching's own control characters replaced (they cannot be tokens)."""
    for c in (MARK_OPEN, MARK_CLOSE, SENTINEL):
        text = text.replace(c, NEUTRAL)
    return text


def sql_marked(text: str, identifiers: str = "$identifiers", token: str = "$token") -> str:
    """The SQL (DuckDB) of the first steps of the rule on a text expression: neutralised, its
    tokens between SENTINELs, every identifier of `identifiers` (the case-insensitive
    alternation) between MARK_OPEN and MARK_CLOSE. The validator and the deletion unmark or
    replace the own tenant's marks from here; ``macros/tenant_scrub.sql`` is the same in dbt."""
    for code in (1, 2, 3):
        text = f"replace({text}, chr({code}), '{NEUTRAL}')"
    tokens = f"regexp_replace({text}, {token}, chr(3) || '\\0' || chr(3), 'g')"
    return f"regexp_replace({tokens}, {identifiers}, chr(1) || '\\0' || chr(2), 'g')"


def tokens_marked(text: str) -> str:
    """Every token of the (neutralised) text between two SENTINELs."""
    return _token_re().sub(lambda m: SENTINEL + m.group(0) + SENTINEL, text)


def _separator(text: str) -> str:
    out, spaces = [], False
    for c in text:
        if c in SPACE_CHARS:
            if not spaces:
                out.append(SPACE_RE)
            spaces = True
        else:
            out.append(escape_literal(c))
            spaces = False
    return "".join(out)


def identifier_pattern(identifier: str | None) -> str | None:
    """The pattern (over marked tokens, without a case flag) of one identifier, or None when it
    has no letter or digit (it cannot be recognised as words)."""
    if not identifier:
        return None
    text = unicodedata.normalize("NFC", identifier)
    spans = [m.span() for m in _token_re().finditer(text)]
    if not spans:
        return None
    parts = []
    for k, (a, b) in enumerate(spans):
        if k:
            parts.append(_separator(text[spans[k - 1][1] : a]))
        parts.append(SENTINEL_RE + escape_literal(text[a:b]) + SENTINEL_RE)
    return "".join(parts)


def first_word(identifier: str | None) -> str | None:
    """The identifier's first run of letters, marks and digits: a text that names it holds that
    run as a whole (a cheap pre-filter before the exact match)."""
    if not identifier:
        return None
    text = unicodedata.normalize("NFC", identifier)
    found = re.search(_word_class() + "+", text)
    return found.group(0) if found else None


def alternation(patterns: Iterable[str]) -> str:
    """Identifier patterns as one group, longest first (then by text), so that a longer
    identifier wins over a shorter one where both could start."""
    ordered = sorted(set(patterns), key=lambda p: (-len(p), p))
    return "(" + "|".join(ordered) + ")" if ordered else "(" + NEVER + ")"


def prefilter_pattern(words: Iterable[str]) -> str:
    """Texts holding one of these words whole (a superset of the texts that name a tenant)."""
    ordered = sorted({w for w in words if w}, key=lambda w: (-len(w), w))
    if not ordered:
        return NEVER
    body = "|".join(escape_literal(w) for w in ordered)
    return f"(?:^|{SQL_NOT_WORD})(?:{body})(?:{SQL_NOT_WORD}|$)"


def _fold(text: str) -> str:
    """A key under which Python's case-insensitive matching cannot tell two words apart."""
    out = []
    for c in text:
        upper = c.upper()
        low = (upper if len(upper) == 1 else c).lower()
        out.append(low[0] if low else c)
    return "".join(out)


@dataclass(frozen=True)
class Identifier:
    tenant_id: str
    text: str
    pattern: str
    first_word: str


def identifiers_of(
    pairs: Iterable[tuple[str, str | None]], words: Iterable[tuple[str, str]] = ()
) -> list[Identifier]:
    """The recognisable identifiers (id and name) of each (tenant_id, tenant_name), and of
    each (owner, identifier) of `words`."""
    found = []
    every = [
        (t, w) for tenant_id, name in pairs for t, w in ((tenant_id, tenant_id), (tenant_id, name))
    ]
    for owner, text in dict.fromkeys([*every, *words]):
        if not text:
            continue
        pattern, word = identifier_pattern(text), first_word(text)
        if pattern and word:
            found.append(Identifier(owner, text, pattern, word))
    return found


class Recogniser:
    """The rule applied in Python: which other tenants a text names, and the text with them
    replaced by OTHER_TENANT. The warehouse applies the same patterns in SQL
    (``macros/tenant_scrub.sql``, ``exports/validation.py``)."""

    def __init__(
        self, pairs: Iterable[tuple[str, str | None]], words: Iterable[tuple[str, str]] = ()
    ) -> None:
        self.identifiers = identifiers_of(pairs, words)
        self.own: dict[str, list[str]] = defaultdict(list)
        self.owners: dict[str, set[str]] = defaultdict(set)  # identifier text, folded -> tenants
        self.by_word: dict[str, set[str]] = defaultdict(set)  # first word, folded -> patterns
        for ident in self.identifiers:
            self.own[ident.tenant_id].append(ident.pattern)
            self.owners[_fold(ident.text)].add(ident.tenant_id)
            self.by_word[_fold(ident.first_word)].add(ident.pattern)
        self._compiled: dict[frozenset[str], re.Pattern[str]] = {}

    # -- the SQL side: the same patterns, for the engines to run --
    def sql_alternation(self) -> str:
        return alternation(i.pattern for i in self.identifiers)

    def sql_prefilter(self) -> str:
        return prefilter_pattern(i.first_word for i in self.identifiers)

    def own_marked(self, tenant_id: str) -> str:
        """A marked span that is one of the tenant's own identifiers (the case flag is the
        engine's to add)."""
        return MARK_OPEN + alternation(self.own.get(tenant_id, ())) + MARK_CLOSE

    def first_words(self, tenant_id: str) -> list[str]:
        return sorted({i.first_word for i in self.identifiers if i.tenant_id == tenant_id})

    # -- Python --
    def _pattern(self, text: str) -> re.Pattern[str] | None:
        words = {_fold(w) for w in re.findall(_word_class() + "+", text)}
        candidates = frozenset(p for w in words for p in self.by_word.get(w, ()))
        if not candidates:
            return None
        if candidates not in self._compiled:
            if len(self._compiled) > 4096:
                self._compiled.clear()
            self._compiled[candidates] = re.compile("(?i)" + alternation(candidates))
        return self._compiled[candidates]

    def _matches(self, text: str, tenant_id: str | None) -> tuple[str, list[tuple[int, int, bool]]]:
        """The text with its tokens marked, and the span of every identifier in it, with
        whether it is one of the tenant's own."""
        prepared = tokens_marked(neutralised(text))
        pattern = self._pattern(prepared)
        if pattern is None:
            return prepared, []
        own = [re.compile("(?i)" + p) for p in self.own.get(tenant_id or "", ())]
        return prepared, [
            (*m.span(), any(o.fullmatch(m.group(0)) for o in own))
            for m in pattern.finditer(prepared)
        ]

    def _spans(self, text: str, tenant_id: str | None) -> tuple[str, list[tuple[int, int]]]:
        prepared, matches = self._matches(text, tenant_id)
        return prepared, [(a, b) for a, b, own in matches if not own]

    def replace_own(self, text: str, tenant_id: str, replacement: str) -> str:
        """The text with the tenant's own identifiers replaced (what a deletion redacts)."""
        prepared, matches = self._matches(text, tenant_id)
        spans = [(a, b) for a, b, own in matches if own]
        return self._replaced(text, prepared, spans, replacement)

    @staticmethod
    def _replaced(text: str, prepared: str, spans: list[tuple[int, int]], by: str) -> str:
        if not spans:
            return text
        out, last = [], 0
        for a, b in spans:
            out += [prepared[last:a], by]
            last = b
        out.append(prepared[last:])
        return "".join(out).replace(SENTINEL, "")

    def foreign_mentions(self, text: str, tenant_id: str | None) -> list[str]:
        """The identifiers of tenants other than `tenant_id` that `text` names, as written
        there (PLACEHOLDERS, the product's words, name no one)."""
        for placeholder in PLACEHOLDERS:
            text = text.replace(placeholder, NEUTRAL)
        prepared, spans = self._spans(text, tenant_id)
        return [prepared[a:b].replace(SENTINEL, "") for a, b in spans]

    def scrub(self, text: str, tenant_id: str | None) -> str:
        """The text with every other tenant's identifier replaced by OTHER_TENANT."""
        prepared, spans = self._spans(text, tenant_id)
        return self._replaced(text, prepared, spans, OTHER_TENANT)

    def tenants_named(self, identifiers: Iterable[str]) -> list[str]:
        """The tenants whose ids or names these are (as ``foreign_mentions`` returns them)."""
        found: set[str] = set()
        for word in identifiers:
            key = _fold(" ".join(word.split()))
            found |= self.owners.get(key, set())
            if not self.owners.get(key):  # written with other spacing or case: match patterns
                for ident in self.identifiers:
                    if re.fullmatch("(?i)" + ident.pattern, tokens_marked(word)):
                        found.add(ident.tenant_id)
        return sorted(found)
