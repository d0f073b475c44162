"""The OMS as an HTTP service: ``server = await serve(oms)`` serves an open OMS on the current event loop, and
``python -m oms_kit serve`` runs one with its API.

Parts: :mod:`~oms_kit.service.app` builds the app from routers, :mod:`~oms_kit.service.rest` is the REST API under
``/api/oms``, :mod:`~oms_kit.service.auth` and :mod:`~oms_kit.service.guard` the tokens and the door in front of
every route, :mod:`~oms_kit.service.models` the JSON bodies, :mod:`~oms_kit.service.errors` the one error shape,
:mod:`~oms_kit.service.encode` the OMS's values as JSON, :mod:`~oms_kit.service.server` the server itself.
"""

from oms_kit.service.app import create_app
from oms_kit.service.auth import Access, Tokens
from oms_kit.service.server import DEFAULT_HOST, DEFAULT_PORT, Server, serve

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Access", "Server", "Tokens", "create_app", "serve"]
