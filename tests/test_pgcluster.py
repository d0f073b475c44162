"""The test PostgreSQL set-up itself: tests/pgcluster.py and the fixtures in tests/conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import asyncpg
import pgcluster
import pytest

TESTS = Path(__file__).resolve().parent


async def _fetchval(url: str, query: str) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


@pytest.mark.postgres
async def test_restart_when_running_then_same_port_and_data(pg_cluster_owned: pgcluster.PgCluster) -> None:
    url = pg_cluster_owned.url
    assert await _fetchval(url, "SELECT 1") == 1
    connection = await asyncpg.connect(url)
    await connection.execute("CREATE TABLE kept (value int); INSERT INTO kept VALUES (42)")
    await connection.close()

    assert pg_cluster_owned.restart() == url

    assert await _fetchval(url, "SELECT value FROM kept") == 42


@pytest.mark.postgres
async def test_immediate_stop_then_committed_rows_survive(pg_cluster_owned: pgcluster.PgCluster) -> None:
    url = pg_cluster_owned.url
    connection = await asyncpg.connect(url)
    await connection.execute("CREATE TABLE kept (value int); INSERT INTO kept VALUES (7)")

    pg_cluster_owned.stop(mode="immediate")  # like a crash: no shutdown checkpoint
    with pytest.raises((OSError, asyncpg.PostgresError, asyncpg.InterfaceError)):
        await connection.fetchval("SELECT 1")
    connection.terminate()
    pg_cluster_owned.start()

    assert await _fetchval(url, "SELECT value FROM kept") == 7


@pytest.mark.postgres
@pytest.mark.parametrize("run", [1, 2])
async def test_pg_url_is_a_new_empty_database_each_time(pg_url: str, run: int) -> None:
    # Both runs create the same table: the second would fail if they shared a database.
    connection = await asyncpg.connect(pg_url)
    try:
        tables = await connection.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        await connection.execute("CREATE TABLE orders (id int)")
        database = await connection.fetchval("SELECT current_database()")
    finally:
        await connection.close()

    assert tables == 0
    assert database.startswith("oms_kit_test_")


@pytest.mark.postgres
async def test_command_line_start_and_stop(pg_bindir: Path) -> None:
    # Under /tmp, not pytest's tmp_path: as root the server runs as `postgres`, which cannot enter
    # root's private temporary directories.
    directory = Path(tempfile.gettempdir()) / f"oms_kit_pg_cli_{uuid.uuid4().hex[:8]}"
    script = str(TESTS / "pgcluster.py")
    env = {**os.environ, pgcluster.BINDIR_VARIABLE: str(pg_bindir)}
    try:
        started = subprocess.run(
            [sys.executable, script, "start", str(directory)], env=env, capture_output=True, text=True
        )
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        assert url.startswith("postgresql://postgres@127.0.0.1:")
        assert await _fetchval(url, "SELECT 1") == 1

        stopped = subprocess.run(
            [sys.executable, script, "stop", str(directory)], env=env, capture_output=True, text=True
        )
        assert stopped.returncode == 0, stopped.stderr
        with pytest.raises(OSError):
            await _fetchval(url, "SELECT 1")
    finally:
        pgcluster.PgCluster(directory, bindir=pg_bindir).remove()


def test_find_bindir_when_override_is_empty_then_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pgcluster.BINDIR_VARIABLE, str(tmp_path))

    with pytest.raises(pgcluster.PgUnavailableError, match=pgcluster.BINDIR_VARIABLE):
        pgcluster.find_bindir()


_NO_SERVER_TESTS = """
import pytest

def test_uses_server(pg_server):
    pass

@pytest.mark.postgres
def test_skips_by_itself():
    pytest.skip("skipped by the test")
"""

_NO_SERVER_INI = """
[pytest]
markers =
    postgres: needs PostgreSQL
"""


def _run_without_postgres(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    """Run a small suite with this conftest on a machine that looks like it has no PostgreSQL."""
    for name in ("conftest.py", "pgcluster.py"):
        shutil.copy(TESTS / name, tmp_path / name)
    (tmp_path / "test_no_server.py").write_text(textwrap.dedent(_NO_SERVER_TESTS))
    (tmp_path / "pytest.ini").write_text(textwrap.dedent(_NO_SERVER_INI))
    (tmp_path / "empty").mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("CI", "PYTEST_ADDOPTS", "OMS_KIT_TEST_DATABASE_URL")
    }
    env[pgcluster.BINDIR_VARIABLE] = str(tmp_path / "empty")
    # The installed plugins (nbval, hypothesis, ...) are not needed here and take seconds to load.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )


def test_without_postgres_then_tests_skip_with_reason(tmp_path: Path) -> None:
    result = _run_without_postgres(tmp_path, ci=False)

    assert result.returncode == 0, result.stdout
    assert "2 skipped" in result.stdout
    assert "no PostgreSQL server binaries" in result.stdout
    assert "apt-get install postgresql" in result.stdout


def test_without_postgres_in_ci_then_the_run_fails(tmp_path: Path) -> None:
    result = _run_without_postgres(tmp_path, ci=True)

    assert result.returncode == 1, result.stdout
    assert "CI=true and PostgreSQL is not available" in result.stdout
    assert "PostgreSQL tests skipped in CI" in result.stdout
    assert "test_skips_by_itself" in result.stdout
