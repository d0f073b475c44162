"""Database URLs: which one to use, which backend it names, and how to show it without its password."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from oms_kit.errors import StoreError

DEFAULT_URL = "duckdb:///:memory:"
MEMORY = ":memory:"
ACCEPTED_FORMS = (
    "duckdb:///:memory: (or 'memory', ':memory:'), "
    "duckdb:///relative/path.duckdb, duckdb:////absolute/path.duckdb, "
    "postgresql://user:password@host:5432/database (or postgres://…)"
)

# A password may also come as a query parameter (libpq's ?password=…); it must be hidden there too.
_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&]*")


@dataclass(frozen=True, slots=True)
class StoreUrl:
    """A parsed database URL.

    Attributes
    ----------
    backend : {"duckdb", "postgresql"}
        Which Store implementation opens it.
    target : str
        DuckDB: ``":memory:"`` or the file path; PostgreSQL: the URL as given, for the driver.
    masked : str
        The URL with its password replaced by ``***``, for messages and ``Store.url``.
    """

    backend: Literal["duckdb", "postgresql"]
    target: str
    masked: str

    @property
    def in_memory(self) -> bool:
        return self.backend == "duckdb" and self.target == MEMORY


def resolve_url(url: str | None) -> str:
    """Return the database URL to use.

    Parameters
    ----------
    url : str or None
        A URL given by the caller; when None, ``OMS_KIT_DATABASE_URL`` then ``DATABASE_URL`` from the
        environment, then an in-memory DuckDB database.

    Returns
    -------
    str
        The URL, not yet parsed (see :func:`parse_url`).
    """
    if url is not None:
        return url
    return os.environ.get("OMS_KIT_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_URL


def parse_url(url: str) -> StoreUrl:
    """Tell which backend ``url`` names and where its data lives.

    Parameters
    ----------
    url : str
        One of the forms listed in ``ACCEPTED_FORMS``.

    Returns
    -------
    StoreUrl

    Raises
    ------
    StoreError
        The URL is not one of the accepted forms; the message names it with its password masked.
    """
    text = url.strip()
    masked = mask_password(text)
    if text in ("memory", MEMORY, DEFAULT_URL):
        return StoreUrl("duckdb", MEMORY, DEFAULT_URL)
    if text.startswith("duckdb:///"):
        # As in SQLAlchemy: three slashes then a relative path; a fourth slash starts an absolute path.
        path = text[len("duckdb:///") :]
        if path:
            return StoreUrl("duckdb", path, masked)
    elif text.startswith(("postgresql://", "postgres://")):
        return StoreUrl("postgresql", text, masked)
    raise StoreError(
        f"unsupported database URL: {masked!r}",
        hint=f"use one of: {ACCEPTED_FORMS}",
    )


def mask_password(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``, fit to print or log.

    Parameters
    ----------
    url : str
        Any URL; one without a password comes back unchanged.

    Returns
    -------
    str
    """
    url = _QUERY_PASSWORD.sub(r"\1***", url)
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host: nothing sensible to mask, so hide it all
        return "***"
    userinfo, at, hosts = parts.netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    if not (at and colon):
        return url
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}"))
