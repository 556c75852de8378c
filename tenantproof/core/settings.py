"""The run's settings, resolved once at the edge and passed down.

Each setting is the explicit argument when given, else its environment variable, else the
default. Only the edges call ``Settings.resolve`` with the process environment: the CLI, the
Dagster resource (when a run starts, never at import time), the dashboard and the benchmark.
Everything below them takes a ``Settings`` (or its ``Home``) and reads no variable itself; dbt,
a subprocess, is handed the same values as ``--vars``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tenantproof.core.home import SEEDS_DIR, Home
from tenantproof.core.policy import load_regions

HOME_ENV = "TENANTPROOF_HOME"
ENGINE_ENV = "TENANTPROOF_ENGINE"
AS_OF_ENV = "TENANTPROOF_AS_OF"
MEMORY_ENV = "TENANTPROOF_MEMORY_LIMIT"
# Where the platform's export key lives when not in <home>/keys/ (a mounted secret, say).
SIGNING_KEY_ENV = "TENANTPROOF_SIGNING_KEY"
DEFAULT_HOME = "data"
DEFAULT_MEMORY_LIMIT = "4GB"
ENGINES = ("duckdb", "spark")
DEFAULT_ENGINE = "duckdb"
# The forms dbt's as_of accepts (macros/drift.sql), by length.
AS_OF_FORMATS = {10: "%Y-%m-%d", 16: "%Y-%m-%d %H:%M", 19: "%Y-%m-%d %H:%M:%S"}


class SettingError(ValueError):
    """A setting's value is not one this project accepts; the message names the setting."""


class UnknownEngine(SettingError):
    """TENANTPROOF_ENGINE names an engine this project does not build on."""


def engine_name(raw: str | None) -> str:
    """The engine a value names (blank: the default); an unknown one names the choices."""
    name = (raw or "").strip().lower() or DEFAULT_ENGINE
    if name not in ENGINES:
        raise UnknownEngine(
            f"{ENGINE_ENV}={raw!r} is not a known engine; choose one of: {', '.join(ENGINES)}"
        )
    return name


def parse_as_of(raw: str, setting: str = "--as-of") -> datetime:
    """``YYYY-MM-DD[ HH:MM[:SS]]`` (UTC, naive; a ``T`` and a trailing ``Z`` are accepted, as
    dbt's as_of does) or a refusal naming the setting."""
    text = raw.strip().replace("T", " ").removesuffix("Z")
    try:
        return datetime.strptime(text, AS_OF_FORMATS[len(text)])
    except (KeyError, ValueError):
        raise SettingError(f"{setting} {raw!r} is not YYYY-MM-DD[ HH:MM[:SS]] (UTC)") from None


@dataclass(frozen=True)
class Settings:
    """Everything a run is configured with. ``as_of``: freshness, drift and retention are
    computed as of this UTC time (None: when the build or purge starts)."""

    home: Home
    engine: str = DEFAULT_ENGINE
    as_of: str | None = None
    memory_limit: str = DEFAULT_MEMORY_LIMIT

    @classmethod
    def resolve(
        cls,
        *,
        home: str | os.PathLike[str] | None = None,
        engine: str | None = None,
        as_of: str | None = None,
        memory_limit: str | None = None,
        signing_key: str | os.PathLike[str] | None = None,
        export_roots: Mapping[str, str | os.PathLike[str]] | None = None,
        environ: Mapping[str, str] | None = None,
        seeds_dir: Path = SEEDS_DIR,
    ) -> Settings:
        """Explicit argument > environment variable > default, for each setting. ``environ``
        is the environment to fall back on (the edges pass ``os.environ``; ``{}`` reads none);
        ``export_roots`` maps a region to its exports root, else the variable its row in
        ``regions.csv`` of ``seeds_dir`` names, else ``<home>/exports/<region>``."""
        env: Mapping[str, str] = {} if environ is None else environ

        def pick(explicit: object, variable: str) -> str | None:
            if explicit is not None and str(explicit).strip():
                return str(explicit).strip()
            value = env.get(variable, "").strip()
            return value or None

        root = Path(pick(home, HOME_ENV) or DEFAULT_HOME).expanduser().resolve()
        key = pick(signing_key, SIGNING_KEY_ENV)
        roots: dict[str, Path] = {}
        for region, row in sorted(load_regions(seeds_dir).items()):
            explicit = (export_roots or {}).get(region)
            value = pick(explicit, row.get("export_root_env") or "")
            if value:
                roots[region] = Path(value).expanduser().resolve()
        when = pick(as_of, AS_OF_ENV)
        if when is not None:
            parse_as_of(when, "--as-of" if as_of else AS_OF_ENV)
        return cls(
            home=Home(
                root,
                signing_key=Path(key).expanduser() if key else None,
                export_roots=tuple(roots.items()),
            ),
            engine=engine_name(pick(engine, ENGINE_ENV)),
            as_of=when,
            memory_limit=pick(memory_limit, MEMORY_ENV) or DEFAULT_MEMORY_LIMIT,
        )

    @classmethod
    def from_environment(cls, **explicit: object) -> Settings:
        """``resolve`` against this process's environment: for the edges only."""
        return cls.resolve(environ=os.environ, **explicit)  # type: ignore[arg-type]

    def as_of_time(self, now: datetime) -> datetime:
        """The as-of instant (naive UTC): the setting, else ``now``."""
        if self.as_of:
            return parse_as_of(self.as_of, AS_OF_ENV)
        return now.replace(tzinfo=None)

    def dbt_vars(self) -> dict[str, str]:
        """What dbt reads instead of the environment (profiles.yml, macros)."""
        return {
            "tenantproof_home": str(self.home.root),
            "memory_limit": self.memory_limit,
            "as_of": self.as_of or "",
        }
