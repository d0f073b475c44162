"""The HTTP app of an OMS, built from parts: the REST router, and any further routers (an event stream, other
APIs) given to :func:`create_app`, behind one door (:class:`~oms_kit.service.guard.Guard`) and one error shape.

A router added here reaches the OMS as ``request.app.state.oms`` (``websocket.app.state.oms``) and the access of
the caller as ``request.state.access`` (:class:`~oms_kit.service.auth.Access`: FULL or READ); its routes need the
token like every other, without asking for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from oms_kit.service.auth import Tokens
from oms_kit.service.encode import OmsJSONResponse
from oms_kit.service.errors import install_error_handlers
from oms_kit.service.guard import MAX_BODY, Guard
from oms_kit.service.kite import router as kite_router
from oms_kit.service.programs_rest import router as programs_router
from oms_kit.service.reconcile_rest import router as reconcile_router
from oms_kit.service.rest import router as rest_router
from oms_kit.service.ws import router as events_router

if TYPE_CHECKING:  # the OMS may import this package to serve itself
    from oms_kit.oms import OMS

__all__ = ["create_app"]

TITLE = "oms_kit"
DESCRIPTION = (
    "The order management system of one account over HTTP. Every route needs the token: "
    "`Authorization: Bearer TOKEN` (or Kite's `Authorization: token ACCOUNT:TOKEN`, or `?token=TOKEN`). "
    "Amounts are exact decimals as strings, times ISO 8601 with their zone; every error is "
    "`{code, message, field, hint}`."
)
# The security scheme of the OpenAPI document; the docs page authorises its "Try it out" calls with it.
TOKEN_SCHEME = {"type": "http", "scheme": "bearer", "description": "the token the server printed when it started"}
# Swagger UI, vendored from its npm package (see its README.md): the docs page loads nothing from other hosts.
SWAGGER_UI = Path(__file__).resolve().parent / "static" / "swagger-ui"
DOCS_STATIC = "/docs/static"
# The page may load and call only its own server: inline scripts (Swagger UI's setup) and styles (its own), images
# of its own or data: URLs (the style sheet's icons).
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def create_app(oms: OMS, tokens: Tokens, *, routers: Iterable[APIRouter] = (),
               cors_origins: Sequence[str] | None = None, max_body: int = MAX_BODY) -> FastAPI:
    """The FastAPI app that serves ``oms``.

    Parameters
    ----------
    oms : the OMS the routes act on.
    tokens : the full and read-only tokens (see :meth:`~oms_kit.service.auth.Tokens.make`).
    routers : routers added after the REST API (``/api/oms``), behind the same door.
    cors_origins : origins a browser page may call the API from (CORS); none by default, so only pages of the
        server's own origin may.
    max_body : the largest request body in bytes (413 above it).
    """
    app = FastAPI(title=TITLE, description=DESCRIPTION, version=_version(), docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json", default_response_class=OmsJSONResponse)
    app.state.oms = oms
    app.state.tokens = tokens
    install_error_handlers(app)
    app.include_router(rest_router)
    app.include_router(programs_router)  # /api/oms/programs
    app.include_router(reconcile_router)  # /api/oms/reconciliation
    app.include_router(kite_router)  # Kite Connect's paths, from the root
    app.include_router(events_router)  # /ws/oms
    for router in routers:
        app.include_router(router)
    _add_docs(app)
    app.add_middleware(Guard, tokens=tokens, max_body=max_body)  # type: ignore[arg-type]
    if cors_origins:
        # Outside the door: a browser's preflight request carries no token.
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins),  # type: ignore[arg-type]
                           allow_methods=["GET", "POST", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    return app


def _add_docs(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {"token": dict(TOKEN_SCHEME)}
            schema["security"] = [{"token": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # Behind the door like every route: the page asks for its files with the token it was opened with.
    app.mount(DOCS_STATIC, StaticFiles(directory=SWAGGER_UI), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        # A browser opens /docs?token=T; the page then fetches its files and the schema with the same token.
        token = request.query_params.get("token")
        query = f"?token={quote(token, safe='')}" if token else ""
        page = get_swagger_ui_html(
            openapi_url=f"/openapi.json{query}", title=f"{TITLE} API",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js{query}",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css{query}",
            swagger_favicon_url=f"{DOCS_STATIC}/favicon-32x32.png{query}",
            swagger_ui_parameters={"validatorUrl": None})  # the validator badge would call validator.swagger.io
        html = bytes(page.body).decode()
        at = html.rindex("</body>")
        return HTMLResponse(html[:at] + _AUTHORIZE + html[at:],
                            headers={"Content-Security-Policy": DOCS_POLICY, "Referrer-Policy": "no-referrer",
                                     "Cache-Control": "no-store"})


# "Try it out" sends the token the page was opened with (read from the page's address, so the server writes no token
# into a script) as the Authorization header, the way the Authorize button would. `ui` is the page's Swagger UI.
_AUTHORIZE = """<script>
(function () {
    const token = new URLSearchParams(window.location.search).get("token");
    if (token) {
        ui.authActions.authorize({token: {name: "token", schema: SCHEME, value: token}});
    }
})();
</script>
""".replace("SCHEME", json.dumps(TOKEN_SCHEME))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("oms_kit")
    except PackageNotFoundError:
        return "0"
