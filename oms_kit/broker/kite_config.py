"""The settings of :class:`~oms_kit.broker.kite.KiteBroker`, checked, and its credentials, kept out of sight.

Credentials come, in this order, from the constructor's ``api_key``/``access_token``, from a JSON file given as
``credentials=Path(...)`` (``{"api_key": "...", "access_token": "..."}``), or from the environment
(``KITE_API_KEY``, ``KITE_ACCESS_TOKEN``). The file or the environment keeps them out of the notebook, and so out
of its saved outputs and of version control. They are held by :class:`Credentials`, whose ``repr`` shows neither,
and never written to the database, to ``status()``, to a log or to an error message: an error about them names
the field and what is allowed, never the value.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from oms_kit.errors import ConfigError

log = logging.getLogger("oms_kit")

API_KEY_VARIABLE = "KITE_API_KEY"
ACCESS_TOKEN_VARIABLE = "KITE_ACCESS_TOKEN"
KITE_ROOT = "https://api.kite.trade"
EXCHANGE_ORDER_RATE = 10  # orders a second per client, the exchange's limit for an unregistered algorithm
HIDDEN = "<hidden>"  # what an error shows in place of a secret
MAX_SECRET = 512  # characters of a key or token: more is no credential
MAX_FILE = 64 * 1024  # bytes of a credentials file
_PRINTABLE = re.compile(r"[\x21-\x7e]+")  # a key or token: printable ASCII without spaces


class Credentials:
    """An API key and access token. Neither shows in ``repr`` or ``str``; ``source`` says where they came from."""

    __slots__ = ("_access_token", "_api_key", "source")

    def __init__(self, api_key: str, access_token: str, source: str) -> None:
        self._api_key = api_key
        self._access_token = access_token
        self.source = source

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def access_token(self) -> str:
        return self._access_token

    def redact(self, text: str) -> str:
        """``text`` with the token and the key replaced: for an error message that may echo a request."""
        for secret in (self._access_token, self._api_key):
            if secret:
                text = text.replace(secret, "***")
        return text

    def scrub(self, error: ConfigError) -> ConfigError:
        """``error`` again without the secrets in its value, message or detail (a key passed in the wrong field)."""
        text = f"{error.value!r} {error.message} {error.detail or ''} {error.hint or ''}"
        if self.redact(text) == text:
            return error
        value = self.redact(error.value) if isinstance(error.value, str) else HIDDEN
        if self.redact(repr(value)) != repr(value):
            value = HIDDEN
        return ConfigError(error.field, value, self.redact(error.allowed), hint=error.hint and self.redact(error.hint),
                           detail=error.detail and self.redact(error.detail))

    def __repr__(self) -> str:
        return f"<Credentials from {self.source}>"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Credentials are not pickled: they would leave the process")


def load_credentials(api_key: object, access_token: object, credentials: object,
                     environ: Mapping[str, str] | None = None) -> Credentials:
    """The credentials from the arguments, else the file, else the environment (module docstring). Raises
    ConfigError naming the field and where to put the value, never showing a secret."""
    environ = os.environ if environ is None else environ
    if api_key is not None or access_token is not None:
        if credentials is not None:
            raise ConfigError("credentials", credentials, "None when api_key and access_token are given: one source")
        return Credentials(_secret("api_key", api_key), _secret("access_token", access_token), "arguments")
    if credentials is not None:
        key, token = _read_file(credentials)
        return Credentials(key, token, f"file {credentials}")
    env_key, env_token = environ.get(API_KEY_VARIABLE), environ.get(ACCESS_TOKEN_VARIABLE)
    if env_key is None or env_token is None:
        raise ConfigError("access_token", None, f"credentials from the environment ({API_KEY_VARIABLE} and "
                          f"{ACCESS_TOKEN_VARIABLE}), a JSON file (credentials=Path(...)) or the api_key and "
                          "access_token arguments", hint="keep them out of the notebook: set the two variables "
                          "before starting Jupyter, or write the file outside the notebook's folder")
    return Credentials(_secret(API_KEY_VARIABLE, env_key), _secret(ACCESS_TOKEN_VARIABLE, env_token), "environment")


def _secret(field: str, value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_SECRET or not _PRINTABLE.fullmatch(value):
        kind = type(value).__name__ if not isinstance(value, str) else f"text of {len(value)} characters"
        raise ConfigError(field, HIDDEN, f"a non-empty string of printable characters without spaces, at most "
                          f"{MAX_SECRET} long (a {kind} was given)")
    return value


def _read_file(path: object) -> tuple[str, str]:
    if not isinstance(path, str | os.PathLike):
        raise ConfigError("credentials", type(path).__name__, "a path (str or pathlib.Path) to a JSON file with "
                          "api_key and access_token")
    allowed = 'a readable JSON file {"api_key": "...", "access_token": "..."}'
    shown = _shown_path(path)
    try:
        file = Path(path)
        with file.open("rb") as handle:
            data = handle.read(MAX_FILE + 1)
        mode = file.stat().st_mode
    except (OSError, ValueError, TypeError) as exc:  # ValueError: a NUL in the path; TypeError: a bad PathLike
        raise ConfigError("credentials", shown, allowed, detail=type(exc).__name__) from None
    if len(data) > MAX_FILE:
        raise ConfigError("credentials", shown, f"{allowed}, at most {MAX_FILE} bytes")
    try:
        content = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        # The parser's message quotes the text around the error, which may be the token: it is not passed on.
        raise ConfigError("credentials", shown, allowed, detail="not valid JSON") from None
    if not isinstance(content, dict):
        raise ConfigError("credentials", shown, allowed, detail="the JSON is not an object")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the Kite credentials file %s can be read by other users: chmod 600 it", path)
    return (_secret("credentials: api_key", content.get("api_key")),
            _secret("credentials: access_token", content.get("access_token")))


def _shown_path(path: str | os.PathLike[str]) -> str:
    # A path is shown in an error; text that does not look like one may be a token passed in the wrong place.
    try:
        text = os.fspath(path)
    except Exception:  # a PathLike of the caller's own that fails
        return HIDDEN
    if isinstance(text, str) and ("/" in text or "\\" in text or text.endswith(".json")):
        return text[:200]
    return HIDDEN


def check_root(root: object) -> str:
    """The API's root URL: None is Kite's own; else an http(s) URL, no credentials or query in it."""
    if root is None:
        return KITE_ROOT
    allowed = "None (Kite's own, https://api.kite.trade) or an http(s) URL such as 'http://127.0.0.1:8050'"
    if not isinstance(root, str) or not 0 < len(root) <= 2000 or not root.isprintable():
        raise ConfigError("root", root if isinstance(root, str) and len(root) <= 200 else type(root).__name__,
                          allowed)
    try:
        parts = urlsplit(root)
        port = parts.port  # ValueError for a port out of range
    except ValueError:
        raise ConfigError("root", root[:200], allowed) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password \
            or parts.query or parts.fragment or (port is not None and port == 0):
        raise ConfigError("root", root[:200] if not (parts.username or parts.password) else HIDDEN, allowed)
    return root.rstrip("/") + "/"


def number(field: str, value: object, low: float, high: float, allowed: str) -> float:
    """A finite number from ``low`` to ``high`` (not a bool), else ConfigError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ConfigError(field, value, allowed)
    return float(value)


def whole(field: str, value: object, low: int, high: int, allowed: str) -> int:
    """A whole number from ``low`` to ``high`` (not a bool), else ConfigError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(field, value, allowed)
    return value


def market_protection(value: object) -> float | None:
    """Kite's ``market_protection`` for MARKET and SL-M orders: None (not sent), -1 (the broker's automatic one)
    or a percentage above 0 up to 100."""
    if value is None:
        return None
    allowed = "None (not sent), -1 (the broker's automatic protection) or a percentage above 0 up to 100"
    protection = number("market_protection", value, -1, 100, allowed)
    if protection != -1 and protection <= 0:
        raise ConfigError("market_protection", value, allowed)
    return protection


# The id of an order the OMS adopted from the broker (placed in the Kite app, by another program or by the broker's
# square-off): this prefix and Kite's order id, so that a reopened OMS knows it by that id (it carries no tag of ours).
ADOPTED_PREFIX = "K-"


def kite_tag(account: str, order_id: str) -> str:
    """The tag an order carries at Kite: ``ok`` and 18 hex digits of a hash of the account and the OMS's order id.

    Kite takes 20 alphanumeric characters; the OMS's ids and the user's own tag may not fit, and the tag must be
    the same each time it is computed, so that an order whose placing may or may not have reached the broker (a
    dropped connection) is found there by it, after a restart too, instead of being placed twice.
    """
    return "ok" + hashlib.blake2b(f"{account}\x00{order_id}".encode(), digest_size=9).hexdigest()
