"""The SQL migrations shipped with the package (``oms_kit/storage/migrations/NNNN_name.sql``), read in order.

A module of its own, below the backends: they apply the migrations, and the package's face (``open_store``)
imports the backends, so reading them from the face would close an import circle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from oms_kit.errors import StoreError

_MIGRATION_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered SQL file of ``oms_kit/storage/migrations``, e.g. ``0001_initial.sql``."""

    version: int
    name: str
    sql: str


def read_migrations() -> list[Migration]:
    """Return the migrations shipped with the package, in version order.

    Raises
    ------
    StoreError
        Two files share a version number.
    """
    found: dict[int, Migration] = {}
    for entry in resources.files("oms_kit.storage").joinpath("migrations").iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in found:
            raise StoreError(f"two migrations have version {version}: {found[version].name} and {match.group(2)}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[version] for version in sorted(found)]
