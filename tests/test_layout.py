"""The package layers hold (import-linter, as `make lint` runs it), an upward import breaks them,
and the settings resolve once with an explicit argument over the environment over the default."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.partitions import contiguous_blocks
from tenantproof.cli.main import main as cli_main
from tenantproof.core.home import PROJECT_DIR
from tenantproof.core.settings import (
    AS_OF_ENV,
    HOME_ENV,
    MEMORY_ENV,
    SIGNING_KEY_ENV,
    SettingError,
    Settings,
)
from tenantproof.core.warehouse import sql_literal

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and their import contracts, to break on purpose."""
    for name in ("tenantproof", "exports", "orchestration"):
        shutil.copytree(
            PROJECT_DIR / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(PROJECT_DIR / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_an_upward_import_breaks_the_layers(tree: Path) -> None:
    kept = lint_imports(tree)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "0 broken" in kept.stdout
    with (tree / "tenantproof" / "core" / "periods.py").open("a") as fh:
        fh.write("\nimport tenantproof.cli.main  # noqa: E402, F401\n")
    broken = lint_imports(tree)
    assert broken.returncode == 1
    assert "Layers, top to bottom BROKEN" in broken.stdout
    assert "tenantproof.core.periods -> tenantproof.cli.main" in broken.stdout


def test_the_verifier_importing_the_platform_breaks_its_contract(tree: Path) -> None:
    with (tree / "exports" / "verify.py").open("a") as fh:
        fh.write("\nimport duckdb  # noqa: E402, F401\n")
    broken = lint_imports(tree)
    assert broken.returncode == 1
    assert "The auditor's verifier stands alone" in broken.stdout
    assert "exports.verify -> duckdb" in broken.stdout


def test_each_setting_is_the_argument_else_the_variable_else_the_default(tmp_path: Path) -> None:
    env = {
        HOME_ENV: str(tmp_path / "from-env"),
        MEMORY_ENV: "1GB",
        AS_OF_ENV: "2026-11-15",
        SIGNING_KEY_ENV: str(tmp_path / "secret.pem"),
        "TENANTPROOF_EXPORT_ROOT_EU": str(tmp_path / "vol-eu"),
    }
    from_env = Settings.resolve(environ=env)
    assert from_env.home.root == (tmp_path / "from-env").resolve()
    assert (from_env.memory_limit, from_env.as_of) == ("1GB", "2026-11-15")
    assert from_env.home.signing_key_path == tmp_path / "secret.pem"
    assert from_env.home.region_root("eu") == (tmp_path / "vol-eu").resolve()
    assert from_env.home.region_root("us") == (tmp_path / "from-env" / "exports" / "us").resolve()
    explicit = Settings.resolve(
        home=tmp_path / "explicit",
        memory_limit="2GB",
        export_roots={"eu": tmp_path / "x"},
        environ=env,
    )
    assert explicit.home.root == (tmp_path / "explicit").resolve()
    assert explicit.memory_limit == "2GB"
    assert explicit.home.region_root("eu") == (tmp_path / "x").resolve()
    default = Settings.resolve(environ={})
    assert default.home.root == Path("data").resolve()
    assert (default.engine, default.as_of, default.memory_limit) == ("duckdb", None, "4GB")
    assert default.home.signing_key_path == default.home.keys / "export_signing_key.pem"
    with pytest.raises(SettingError, match=r"TENANTPROOF_AS_OF 'yesterday' is not YYYY-MM-DD"):
        Settings.resolve(environ={AS_OF_ENV: "yesterday"})


def test_home_flag_wins_over_the_variable_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make` exports TENANTPROOF_HOME, so an explicit --home must beat it all the way down:
    the landing files, the Dagster run's resource and dbt's warehouse file."""
    from_env, flag = tmp_path / "from-env", tmp_path / "flag"
    monkeypatch.setenv(HOME_ENV, str(from_env))
    monkeypatch.setenv(AS_OF_ENV, "2026-11-15")
    argv = ["--home", str(flag)]
    assert cli_main([*argv, "generate", "--tenants", "3", "--events", "200", "--seed", "5"]) == 0
    assert cli_main([*argv, "build"]) == 0
    out = capsys.readouterr().out
    assert f"data home: {flag.resolve()}" in out
    assert (flag / "warehouse" / "tenantproof.duckdb").exists()
    assert list((flag / "landing").rglob("*.jsonl"))
    assert not from_env.exists(), "nothing written to the variable's home"
    assert cli_main([*argv, "build", "--as-of", "soon"]) == 2
    assert "--as-of 'soon' is not YYYY-MM-DD" in capsys.readouterr().err


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_a_sql_literal_reads_back_as_the_same_text(value: str) -> None:
    """The one quoting helper, on any text (quotes, backslashes, newlines, any script)."""
    value = value.replace("\x00", "")  # DuckDB strings hold no NUL
    con = duckdb.connect()
    assert con.execute(f"select {sql_literal(value)}").fetchone()[0] == value


@given(st.lists(st.integers(0, 40), unique=True, min_size=1))
def test_contiguous_blocks_cover_exactly_the_chosen_in_order(positions: list[int]) -> None:
    order = [f"t{i:02d}" for i in range(41)]
    chosen = [order[p] for p in positions]
    blocks = contiguous_blocks(order, chosen)
    covered = [
        t for first, last in blocks for t in order[order.index(first) : order.index(last) + 1]
    ]
    assert covered == sorted(chosen, key=order.index)
    assert all(  # blocks are maximal: two blocks never touch
        order.index(b[0]) > order.index(a[1]) + 1 for a, b in zip(blocks, blocks[1:], strict=False)
    )
