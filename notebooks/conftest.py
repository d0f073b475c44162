"""Notebook runs (nbval): the PostgreSQL notebook gets the test session's server.

nbval runs each notebook in a kernel it starts when the notebook's first cell is set up; the kernel inherits
pytest's environment then. So the session's server (``$OMS_KIT_TEST_DATABASE_URL``, else the throwaway cluster
the PostgreSQL tests share, see tests/conftest.py) is put in ``OMS_KIT_TEST_DATABASE_URL`` for that moment: the
notebook creates a scratch database on it and drops it at the end. Without PostgreSQL its cells skip, saying
what to install; in CI (``CI=true``) they fail.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Generator
from pathlib import Path

import pytest

# tests/conftest.py holds the session's server; loaded here under a name of its own (pytest loads it as a
# conftest only when tests/ is collected), it finds the same server through pytest's plugin registry.
_spec = importlib.util.spec_from_file_location(
    "oms_kit_tests_conftest", Path(__file__).resolve().parent.parent / "tests" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tests)

POSTGRES_NOTEBOOKS = frozenset({"05_postgres.ipynb"})


def _needs_postgres(item: pytest.Item) -> bool:
    return item.path.name in POSTGRES_NOTEBOOKS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Marked like the PostgreSQL tests, so `-m "not postgres"` leaves the notebook out too.
    for item in items:
        if _needs_postgres(item):
            item.add_marker(pytest.mark.postgres)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    if not _needs_postgres(item):
        return (yield)
    url = _tests.session_server(item.config)  # skips (fails in CI) without PostgreSQL
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(_tests.DATABASE_URL_VARIABLE, url)  # read by the kernel nbval starts in this setup
        return (yield)
