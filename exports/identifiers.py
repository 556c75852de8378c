"""Recognising tenant identifiers (ids and names, whole words, any case) in text, fast.

One regular expression of every tenant's identifiers costs thousands of alternatives per search.
Instead a text's words are looked up by the first word of each identifier (a superset of what
can match), and only the few identifiers found that way go into an exact whole-word pattern.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

WORD_SPLIT = re.compile(r"[^a-z0-9_]+")


def first_word(identifier: str) -> str | None:
    words = [w for w in WORD_SPLIT.split(identifier.lower()) if w]
    return words[0] if words else None


class IdentifierIndex:
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
        pattern = re.compile(
            r"\b("
            + "|".join(re.escape(w) for w in sorted(candidates, key=len, reverse=True))
            + r")\b",
            re.I,
        )
        own = self.own.get(tenant_id, set())
        return [m for m in pattern.findall(text) if m.lower() not in own]

    def tenants_named(self, identifiers: Iterable[str]) -> list[str]:
        """The tenants whose ids or names these are (as ``foreign_mentions`` returns them)."""
        return sorted({t for word in identifiers for t in self.owners.get(word.lower(), ())})
