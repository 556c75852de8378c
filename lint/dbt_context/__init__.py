"""Stand-ins for the parts of dbt's Jinja context that sqlfluff's jinja templater lacks.

Loaded by sqlfluff only (`.sqlfluff`, `library_path`), never by the product: each name below
becomes a template variable, so that models and macros render without a database. A call or
attribute of a placeholder renders as an SQL identifier (``adapter_dispatch``), so the model's
own SQL around it is what gets linted; dbt itself renders the real thing.
"""

from __future__ import annotations

from typing import Any


class Placeholder:
    """Any attribute or call gives another placeholder; it renders as its dotted path."""

    # sqlfluff renders in Jinja's sandbox: safe to call, alters nothing
    unsafe_callable = False
    alters_data = False

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, item: str) -> Placeholder:
        if item.startswith("__"):
            raise AttributeError(item)
        return Placeholder(f"{self._name}_{item}")

    def __call__(self, *args: Any, **kwargs: Any) -> Placeholder:
        return self

    def __iter__(self) -> Any:
        return iter(())

    def _same(self, *args: Any) -> Placeholder:
        return self

    # arithmetic on a placeholder (an as-of time minus a timedelta) gives a placeholder
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same

    def __str__(self) -> str:
        return self._name


def env_var(name: str, default: str = "") -> str:
    return default


class CrossDatabaseMacros(Placeholder):
    """``dbt.*``: a placeholder expression, except where dbt's macro is a whole query."""

    def date_spine(self, *args: Any, **kwargs: Any) -> str:
        return "select cast(null as date) as date_day"


adapter = Placeholder("adapter")
dbt = CrossDatabaseMacros("dbt")
exceptions = Placeholder("exceptions")
modules = Placeholder("modules")
run_query = Placeholder("run_query")
run_started_at = Placeholder("run_started_at")
target = Placeholder("target")
