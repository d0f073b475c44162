"""Shared fixtures: PostgreSQL servers and databases for the tests marked ``postgres``.

- ``pg_bindir`` (session): the directory of the server binaries.
- ``pg_server`` (session): the URL of a server: ``$OMS_KIT_TEST_DATABASE_URL`` when set, else a
  throwaway cluster started for the session (tests/pgcluster.py); the notebook runs share it
  (notebooks/conftest.py).
- ``pg_url``: a fresh, empty database on that server, dropped after the test.
- ``pg_cluster_owned``: a running cluster of the test's own, which it may stop and restart.

Without PostgreSQL these tests skip, saying what to install; in CI (``CI=true``) they fail instead,
and a ``postgres`` test that skipped anyway turns the whole run into a failure.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest

# tests/ is not a package; this makes `import pgcluster` work here and in the test modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import pgcluster

DATABASE_URL_VARIABLE = "OMS_KIT_TEST_DATABASE_URL"
POSTGRES_FIXTURES = frozenset({"pg_bindir", "pg_server", "pg_url", "pg_cluster_owned"})


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _postgres_unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it in CI, where every PostgreSQL test must run."""
    hint = (
        "install the PostgreSQL server (Debian/Ubuntu: apt-get install postgresql) "
        f"or set {DATABASE_URL_VARIABLE}=postgresql://USER@HOST:PORT/DATABASE"
    )
    if in_ci():
        pytest.fail(f"CI=true and PostgreSQL is not available: {reason}; {hint}", pytrace=False)
    pytest.skip(f"PostgreSQL is not available: {reason}; {hint}")


# The skip/fail calls stay outside the `except` blocks: inside, pytest would print the
# PgUnavailableError as well ("During handling of the above exception...").


def _find_bindir() -> Path:
    try:
        return pgcluster.find_bindir()
    except pgcluster.PgUnavailableError as error:
        reason = str(error)
    _postgres_unavailable(reason)


def _start_cluster() -> pgcluster.PgCluster:
    cluster = pgcluster.PgCluster(bindir=_find_bindir())
    try:
        cluster.start()
        return cluster
    except pgcluster.PgUnavailableError as error:
        reason = str(error)
    except BaseException:
        # A real error: the binaries are there but the server did not start.
        cluster.remove()
        raise
    cluster.remove()
    _postgres_unavailable(reason)


@pytest.fixture(scope="session")
def pg_bindir() -> Path:
    """The directory of the PostgreSQL server binaries (initdb, pg_ctl, postgres)."""
    return _find_bindir()


# The session's server is registered under this name, so the notebook runs find it too (notebooks/conftest.py).
_SERVER_PLUGIN = "oms_kit_pg_server"


class _SessionServer:
    """The session's PostgreSQL server, by its URL."""

    def __init__(self, url: str) -> None:
        self.url = url


def session_server(config: pytest.Config) -> str:
    """URL of the session's server: ``$OMS_KIT_TEST_DATABASE_URL``, else a throwaway cluster started on the
    first call and removed when the session ends. Skips (fails in CI) without PostgreSQL."""
    server = config.pluginmanager.get_plugin(_SERVER_PLUGIN)
    if server is None:
        url = os.environ.get(DATABASE_URL_VARIABLE)
        if not url:
            cluster = _start_cluster()
            config.add_cleanup(cluster.remove)
            url = cluster.url
        server = _SessionServer(url)
        config.pluginmanager.register(server, _SERVER_PLUGIN)
    return server.url


@pytest.fixture(scope="session")
def pg_server(request: pytest.FixtureRequest) -> str:
    """URL of a PostgreSQL server for the session (its ``postgres`` database)."""
    return session_server(request.config)


def _database_url(server_url: str, database: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture
async def pg_url(pg_server: str) -> AsyncIterator[str]:
    """URL of a new empty database on ``pg_server``, dropped after the test."""
    import asyncpg

    database = f"oms_kit_test_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(pg_server)
    try:
        await connection.execute(f'CREATE DATABASE "{database}"')
    finally:
        await connection.close()

    yield _database_url(pg_server, database)

    connection = await asyncpg.connect(pg_server)
    try:
        # FORCE ends sessions the test left open (PostgreSQL 13+).
        await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(params=["file", pytest.param("postgres", marks=pytest.mark.postgres)])
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A durable store for the test: a DuckDB file, then (a second run) a fresh PostgreSQL database."""
    if request.param == "file":
        return f"duckdb:///{tmp_path}/oms.duckdb"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def pg_cluster_owned() -> Iterator[pgcluster.PgCluster]:
    """A running cluster that only this test uses: it may stop, restart or crash it.

    ``.url`` connects to it; ``.restart()`` keeps the port and the data.
    """
    cluster = _start_cluster()
    try:
        yield cluster
    finally:
        cluster.remove()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test that uses a PostgreSQL fixture is a postgres test even if it forgot the marker, so
    # `-m "not postgres"` leaves it out and the CI check below sees it.
    for item in items:
        if POSTGRES_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


_SKIPPED_POSTGRES = pytest.StashKey[list[str]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # An expected failure (xfail) also reports as skipped; it is not a test that did not run.
    expected_failure = hasattr(report, "wasxfail")
    if report.skipped and not expected_failure and item.get_closest_marker("postgres") is not None:
        item.config.stash.setdefault(_SKIPPED_POSTGRES, []).append(item.nodeid)
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # In CI a skipped PostgreSQL test means that part of the suite did not run: fail the run.
    if in_ci() and session.config.stash.get(_SKIPPED_POSTGRES, []) and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    skipped = config.stash.get(_SKIPPED_POSTGRES, [])
    if in_ci() and skipped:
        terminalreporter.section("PostgreSQL tests skipped in CI", red=True)
        terminalreporter.line("CI=true: every test marked postgres must run; these skipped, so the run fails:")
        for nodeid in skipped:
            terminalreporter.line(f"  {nodeid}")
