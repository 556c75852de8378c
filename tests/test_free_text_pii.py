"""Personal data in free text (docs/FREE_TEXT_PII.md): the SQL the dbt macros generate (compiled
by dbt itself, run by DuckDB) redacts every kind a profile does not keep, leaves what only looks
like personal data, and the export validator's PII check finds exactly what an unredacted text
still holds. A real build and export of such text is in tests/test_mentions.py."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exports.contract import PLACEHOLDERS, Recogniser
from exports.validation import _free_text_matches
from tenantproof.core.catalog import free_text_kinds, free_text_pii, luhn_valid
from tenantproof.core.home import PROJECT_DIR
from tenantproof.core.policy import PolicyError, load_policy
from tests.bundles import free_text_redacted
from tests.conftest import edit_csv, seeds_copy

PLACEHOLDER = {k.kind: k.placeholder for k in free_text_pii()}


def _compiled(tmp: Path, expression: str) -> str:
    """The SQL dbt compiles for `select n, <expression> as out from texts`."""
    from dbt.cli.main import dbtRunner

    (tmp / "warehouse").mkdir(parents=True, exist_ok=True)
    result = dbtRunner().invoke(
        [
            "compile",
            "--quiet",
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(PROJECT_DIR / "profiles"),
            "--target-path",
            str(tmp / "target"),
            "--vars",
            json.dumps({"tenantproof_home": str(tmp)}),
            "--inline",
            f"select n, {expression} as out from texts",
        ]
    )
    assert result.success, result.exception
    return result.result.results[0].node.compiled_code


@pytest.fixture(scope="module")
def scrub(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """texts (and their rows' profiles) -> the texts as the warehouse's free-text scrub writes
    them: every kind redacted, or, given profiles, as free_text_redacted_for_profile does for a
    policy where profile `open` keeps emails and phone numbers."""
    tmp = tmp_path_factory.mktemp("pii_sql")
    every_kind = _compiled(tmp, "{{ free_text_redacted('v') }}")
    per_profile = _compiled(
        tmp, "{{ free_text_redacted_for_profile('v', 'profile', {'open': ['email', 'phone']}) }}"
    )
    con = duckdb.connect()

    def run(texts: list[str | None], profiles: list[str] | None = None) -> list[str | None]:
        frame = pd.DataFrame(
            {
                "n": range(len(texts)),
                "v": pd.Series(texts, dtype=object),
                "profile": profiles or ["standard"] * len(texts),
            }
        )
        con.register("texts", frame)
        try:
            sql = every_kind if profiles is None else per_profile
            return [r[0] for r in con.execute(f"select out from ({sql}) order by n").fetchall()]
        finally:
            con.unregister("texts")

    yield run
    con.close()


def _check(files: list[list[str]], kinds: list[str] | None = None) -> list[dict[str, int]]:
    """What the validator's PII check counts in each file, a file given as its rows' texts."""
    con = duckdb.connect()
    try:
        con.execute("create temp table _staged (file_idx integer, reason varchar)")
        rows = [(i, text) for i, texts in enumerate(files) for text in texts]
        con.executemany("insert into _staged values (?, ?)", rows)
        expect = [
            (i, f"{i}.parquet", "parquet", "t1", "", "standard", f"t1|{i}")
            for i in range(len(files))
        ]
        checked = {"standard": kinds if kinds is not None else list(free_text_kinds())}
        found = _free_text_matches(con, ["reason"], expect, checked)
        return [{k: n for k, n in found.get(i, {}).items() if n} for i in range(len(files))]
    finally:
        con.close()


def _found(texts: list[str], kinds: list[str] | None = None) -> dict[str, int]:
    """What the validator's PII check counts in one Parquet file holding these texts."""
    return _check([texts], kinds)[0]


def _found_each(texts: list[str]) -> list[dict[str, int]]:
    """... in each text, each the one row of its own file."""
    return _check([[t] for t in texts])


# -- the cases of the docs --

EXAMPLES = [
    ("mail jane.doe@example.com", "mail [email]"),
    ("write to José.Núñez@correo.example now", "write to [email] now"),
    ("call +1 (415) 555-0134", "call [phone number]"),
    ("or (212) 555-0188, or 212.555.0188", "or [phone number], or [phone number]"),
    ("card 4111 1111 1111 1111", "card [card number]"),
    ("cards 4111111111111111,5555555555554444", "cards [card number],[card number]"),
    ("amex 3782 822463 10005", "amex [card number]"),
    ("ref 4111111111111112", "ref 4111111111111112"),
    ("from 203.0.113.9 and 2001:db8::1", "from [ip address] and [ip address]"),
    ("full fe80:0:0:0:202:b3ff:fe1e:8329 ok", "full [ip address] ok"),
    ("ssn 123-45-6789", "ssn [ssn]"),
    ("not an ssn 000-12-3456", "not an ssn 000-12-3456"),
    ('{"iban": "DE89 3704 0044 0532 0130 00"}', '{"iban": "[iban]"}'),
    ("iban GB82WEST12345698765432.", "iban [iban]."),
    ("account 111111111111", "account 111111111111"),
    ("epoch 1733011200000 at 2026-10-14T10:00:00Z", "epoch 1733011200000 at 2026-10-14T10:00:00Z"),
    ("id 3f2504e0-4f89-11d3-9a0c-0305e82c3301", "id 3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
    ("evt-4111111111111111 and build 10.0.19041", "evt-4111111111111111 and build 10.0.19041"),
    ("std::vector and 12:34:56", "std::vector and 12:34:56"),
    (None, None),
    ("", ""),
]


def test_the_documented_cases(scrub):
    texts = [t for t, _ in EXAMPLES]
    assert scrub(texts) == [r for _, r in EXAMPLES]
    assert [free_text_redacted(t) for t in texts] == [r for _, r in EXAMPLES]


def test_the_validator_finds_what_the_scrub_removes(scrub):
    texts = [t for t, _ in EXAMPLES if t]
    before = _found(texts)
    assert before == {
        "email": 2,
        "iban": 2,
        "card": 4,  # distinct candidates that pass the Luhn check
        "ssn": 1,
        "ipv4": 1,
        "ipv6": 2,
        "phone": 2,
    }
    assert _found([t for t in scrub(texts) if t]) == {}


def test_a_profile_keeps_only_the_kinds_its_policy_names(scrub):
    text = "mail a@b.example, call +1 415 555 0134 from 10.1.2.3"
    out = scrub([text, text, text], ["open", "standard", "unknown"])
    assert out[0] == "mail a@b.example, call +1 415 555 0134 from [ip address]"
    assert out[1] == out[2] == "mail [email], call [phone number] from [ip address]"
    # the validator checks only what the profile does not keep
    assert _found([out[0]], kinds=["ipv4", "ipv6", "card"]) == {}
    assert _found([out[0]]) == {"email": 1, "phone": 1}


def test_the_luhn_check_in_sql_agrees_with_python(scrub):
    numbers = [f"4{n:015d}" for n in range(1000, 1100)]
    out = scrub([f"n {n}" for n in numbers])
    for number, redacted in zip(numbers, out, strict=True):
        assert (redacted == "n [card number]") == luhn_valid(number)


# -- properties: generated personal data in generated text --

words = st.text(
    alphabet=st.characters(categories=("Ll", "Lo"), max_codepoint=0x9FFF),
    min_size=1,
    max_size=8,
)
filler = st.lists(words, min_size=1, max_size=4).map(" ".join)


def _luhn_completed(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def _card(first: str, rest: str, sep: str | None) -> str:
    number = _luhn_completed(first + rest)
    return number if sep is None else sep.join(number[i : i + 4] for i in range(0, 16, 4))


cards = st.builds(
    _card,
    st.sampled_from("23456"),
    st.text(alphabet="0123456789", min_size=11, max_size=17),
    st.none(),
) | st.builds(
    _card,
    st.sampled_from("23456"),
    st.text(alphabet="0123456789", min_size=14, max_size=14),
    st.sampled_from(" -"),
)
emails = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.from_regex(r"[a-z0-9](?:[a-z0-9._%+-]{0,10}[a-z0-9])?", fullmatch=True) | words,
    st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?(?:\.[a-z0-9]{1,6}){0,2}", fullmatch=True),
    st.from_regex(r"[a-z]{2,6}", fullmatch=True),
)
ipv4s = st.ip_addresses(v=4).map(str)
ipv6s = (
    st.ip_addresses(v=6)
    .filter(lambda a: a != ipaddress.IPv6Address("::") and a.ipv4_mapped is None)
    .flatmap(lambda a: st.sampled_from([a.compressed, a.exploded]))
)
ssns = st.builds(
    lambda area, group, serial: f"{area:03d}-{group:02d}-{serial:04d}",
    st.integers(1, 899).filter(lambda a: a != 666),
    st.integers(1, 99),
    st.integers(1, 9999),
)
phones = st.builds(
    lambda cc, digits, seps: "+" + cc + "".join(s + d for s, d in zip(seps, digits, strict=False)),
    st.from_regex(r"[1-9][0-9]{0,2}", fullmatch=True),
    st.text(alphabet="0123456789", min_size=6, max_size=12),
    st.lists(st.sampled_from(["", " ", "-", "."]), min_size=12, max_size=12),
).filter(lambda p: 7 <= sum(c.isdigit() for c in p) <= 15) | st.builds(
    lambda a, b, c, style: style.format(a=a, b=b, c=c),
    st.from_regex(r"[2-9][0-9]{2}", fullmatch=True),
    st.from_regex(r"[0-9]{3}", fullmatch=True),
    st.from_regex(r"[0-9]{4}", fullmatch=True),
    st.sampled_from(["({a}) {b}-{c}", "{a}-{b}-{c}", "{a}.{b}.{c}", "({a}){b} {c}"]),
)
IBAN_COUNTRIES = ["DE", "GB", "FR", "NL", "ES", "IT", "CH", "PL", "SE", "NO"]


def _iban(country: str, check: int, bban: str, grouped: bool) -> str:
    iban = f"{country}{check:02d}{bban}"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if grouped else iban


ibans = st.builds(
    _iban,
    st.sampled_from(IBAN_COUNTRIES),
    st.integers(2, 98),
    st.from_regex(r"[A-Z0-9]{11,30}", fullmatch=True),
    st.booleans(),
)
KINDS = {
    "email": emails,
    "iban": ibans,
    "card": cards,
    "ssn": ssns,
    "ipv4": ipv4s,
    "ipv6": ipv6s,
    "phone": phones,
}
planted = st.sampled_from(sorted(KINDS)).flatmap(
    lambda kind: st.tuples(st.just(kind), KINDS[kind], filler, filler)
)


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(planted, min_size=1, max_size=6))
def test_generated_personal_data_is_redacted_whole_and_found_before(scrub, cases):
    texts = [f"{before} {value} {after}" for _, value, before, after in cases]
    out = scrub(texts)
    assert out == [free_text_redacted(t) for t in texts]  # RE2 in SQL and Python's regex agree
    found = _found_each(texts)
    for (kind, value, before, after), redacted, seen in zip(cases, out, found, strict=True):
        assert redacted == f"{before} {PLACEHOLDER[kind]} {after}", (kind, value)
        assert seen.get(kind, 0) >= 1, (kind, value)
    assert _found_each(out) == [{}] * len(out)


not_pii = st.one_of(
    st.from_regex(r"[0-9]{12}", fullmatch=True),  # an AWS account id
    st.integers(10**12, 2 * 10**12 - 1).map(str),  # an epoch in milliseconds
    st.datetimes().map(lambda d: d.isoformat(timespec="seconds") + "Z"),
    st.uuids().map(str),
    st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99999)).map(
        lambda v: ".".join(map(str, v))
    ),
    st.from_regex(r"(?:evt|req|rec)-[0-9]{13,19}", fullmatch=True),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.lists(st.tuples(not_pii, filler), min_size=1, max_size=6))
def test_what_only_looks_like_personal_data_is_left(scrub, cases):
    texts = [f"{word} {value}" for value, word in cases]
    assert scrub(texts) == texts == [free_text_redacted(t) for t in texts]
    assert _found(texts) == {}


# -- the policy --


def test_the_policy_refuses_an_unknown_kind_or_method(tmp_path: Path):
    seeds = seeds_copy(tmp_path)
    path = seeds / "free_text_pii_rules.csv"
    edit_csv(path, {"redaction_profile": "standard", "pii_kind": "email"}, {"method": "mask"})
    with pytest.raises(PolicyError, match=r"free_text_pii_rules.csv:2: field method: 'mask'"):
        load_policy(seeds)
    seeds = seeds_copy(tmp_path / "b")
    path = seeds / "free_text_pii_rules.csv"
    edit_csv(path, {"redaction_profile": "standard", "pii_kind": "email"}, {"pii_kind": "fax"})
    with pytest.raises(PolicyError, match=r"field pii_kind: 'fax' is not one of email"):
        load_policy(seeds)


def test_every_placeholder_is_one_the_bundle_contract_never_judges_as_a_tenant():
    assert {k.placeholder for k in free_text_pii()} <= set(PLACEHOLDERS)
    index = Recogniser([("email", "Phone Number"), ("t1", "Own")])
    text = "reply to [email] or [phone number]"
    assert index.foreign_mentions(text, "t1") == []
    assert index.foreign_mentions("reply to email", "t1") == ["email"]


def test_every_hint_matches_wherever_its_pattern_does(scrub):
    import regex

    for text, _ in EXAMPLES:
        for kind in free_text_pii():
            if text and regex.search(kind.pattern, text):
                assert regex.search(kind.hint, text), (kind.kind, text)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(planted)
def test_every_hint_matches_generated_personal_data(case):
    import regex

    kind, value, _, _ = case
    (pii,) = [k for k in free_text_pii() if k.kind == kind]
    assert regex.search(pii.hint, value), (kind, value)


def test_a_kind_a_profile_keeps_is_not_checked():
    policy = load_policy()
    assert policy.free_text_redacted("standard") == list(free_text_kinds())
    keeping = dataclasses.replace(policy, free_text_kept={"standard": frozenset({"email"})})
    assert "email" not in keeping.free_text_redacted("standard")
    assert keeping.free_text_redacted("no-such-profile") == list(free_text_kinds())
