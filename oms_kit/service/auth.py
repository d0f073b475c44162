"""Who may use the HTTP API: a full token (every route) and an optional read-only token (reads and the event
stream only), given or generated, compared in constant time.

A request carries its token in one of three ways:

- ``Authorization: Bearer T``, the usual form;
- ``Authorization: token ACCOUNT:T``, the form of Kite Connect's clients (``ACCOUNT`` is their api_key, which must
  be the served account);
- ``?token=T`` in the query string, for a browser, which cannot set a header on a WebSocket or a link.

Without any of them a request is unauthorised (401); with a token that is not one of these, forbidden (403).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from enum import Enum
from urllib.parse import parse_qsl

from oms_kit.errors import ConfigError

MAX_TOKEN = 512  # characters
READ_METHODS = frozenset({"GET", "HEAD"})
_ALLOWED = f"a text of 1 to {MAX_TOKEN} printable ASCII characters without spaces or ':'"


class Access(Enum):
    """What a request may do."""

    NONE = "none"  # no credentials
    DENIED = "denied"  # credentials that are not a token of this server
    READ = "read"  # the read-only token
    FULL = "full"  # the token


@dataclass(frozen=True)
class Credentials:
    """What a request presented: the token, and the account when it came in Kite's form."""

    token: str
    account: str | None = None


@dataclass(frozen=True)
class Tokens:
    """The server's tokens and the account it serves. :meth:`make` checks given tokens and generates a missing
    full token."""

    token: str
    read_only_token: str | None
    account: str
    generated: bool = False  # the full token was generated (and should be shown to the person who started it)

    @classmethod
    def make(cls, token: str | None, read_only_token: str | None, account: str) -> Tokens:
        """Tokens of a server for ``account``: ``token`` as given (checked) or a new random one; the read-only token
        as given, or None. Raises ConfigError for a token that is empty, too long, has spaces, ':' or non-ASCII
        characters (the header forms could not carry it), or a read-only token equal to the full one."""
        generated = token is None
        full = secrets.token_urlsafe(32) if token is None else check_token(token, "token")
        read = None if read_only_token is None else check_token(read_only_token, "read_only_token")
        if read is not None and hmac.compare_digest(read.encode(), full.encode()):
            raise ConfigError("read_only_token", "***", "a token different from the full token")
        return cls(full, read, account, generated)

    def access(self, credentials: Credentials | None) -> Access:
        """What ``credentials`` allow. Both tokens are always compared, in constant time, so the time taken tells
        nothing about either."""
        if credentials is None:
            return Access.NONE
        given = credentials.token.encode("utf-8", "replace")
        full = hmac.compare_digest(given, self.token.encode())
        read = self.read_only_token is not None and hmac.compare_digest(given, self.read_only_token.encode())
        if credentials.account is not None and credentials.account != self.account:
            return Access.DENIED
        if full:
            return Access.FULL
        return Access.READ if read else Access.DENIED


def check_token(value: object, field: str) -> str:
    """A token as given, or ConfigError naming ``field`` (the value itself is never echoed)."""
    if (not isinstance(value, str) or not 0 < len(value) <= MAX_TOKEN or not value.isascii()
            or not value.isprintable() or " " in value or ":" in value):
        raise ConfigError(field, "***" if isinstance(value, str) else value, _ALLOWED)
    return value


def credentials_of(headers: list[tuple[bytes, bytes]], query_string: bytes) -> Credentials | None:
    """The credentials of a request from its raw ASGI headers and query string, or None when it has none.

    An Authorization header that is present wins over the query; one in no known form (``Basic …``, an empty
    ``Bearer``) counts as no credentials.
    """
    for name, value in headers:
        if name.lower() == b"authorization":
            return _from_header(value.decode("latin-1").strip())
    if query_string and b"token=" in query_string:
        for key, text in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            if key == "token":
                return Credentials(text) if text else None
    return None


def _from_header(value: str) -> Credentials | None:
    scheme, _, rest = value.partition(" ")
    rest = rest.strip()
    if not rest:
        return None
    scheme = scheme.lower()
    if scheme == "bearer":
        return Credentials(rest)
    if scheme == "token":  # Kite Connect: "token api_key:access_token"
        account, colon, token = rest.partition(":")
        return Credentials(token, account) if colon and token else None
    return None
