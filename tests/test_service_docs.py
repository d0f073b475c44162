"""The OpenAPI page at /docs works offline: Swagger UI is served by the server itself (vendored from its npm package),
behind the token like every route, and its "Try it out" calls carry the token the page was opened with.

A real server on a free port, httpx for the HTTP checks, and Debian's headless Chromium (Playwright's async API,
on the test's own event loop) with every request to another host blocked and recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio

import oms_kit as ok
from oms_kit.service import serve
from oms_kit.service.app import SWAGGER_UI

TOKEN = "docs-full-token"
READ_TOKEN = "docs-read-token"
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("OMS_KIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STEP_MS = 60_000  # each step in the page: generous, CI machines are shared
ASSETS = {"swagger-ui-bundle.js": "javascript", "swagger-ui.css": "text/css", "favicon-32x32.png": "image/png"}

on_module_loop = pytest.mark.asyncio(loop_scope="module")  # the loop of the module's server


class Docs:
    def __init__(self, oms: ok.OMS, server) -> None:
        self.oms, self.server = oms, server

    async def get(self, path: str, **kwargs: object) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.server.url) as client:
            return await client.get(path, **kwargs)  # type: ignore[arg-type]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def docs() -> AsyncIterator[Docs]:
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, risk_interval=None)
    await oms.set_price("RELIANCE", 2500)
    server = await serve(oms, port=0, token=TOKEN, read_only_token=READ_TOKEN)
    yield Docs(oms, server)
    await server.stop()
    await oms.close()


def page_urls(html: str) -> list[str]:
    """Every URL the page loads: script and link targets, and the schema Swagger UI is told to fetch."""
    return re.findall(r'(?:src|href)="([^"]*)"', html) + re.findall(r"url: '([^']*)'", html)


# -- the page and its files over HTTP ---------------------------------------------------------------------------------


@on_module_loop
async def test_the_page_loads_only_files_of_its_own_server_with_the_token(docs):
    response = await docs.get("/docs", params={"token": TOKEN})

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    urls = page_urls(response.text)
    assert {urlsplit(url).path for url in urls} == {"/openapi.json", *(f"/docs/static/{name}" for name in ASSETS)}
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, url  # a path on this server, not another host
        assert parse_qs(parts.query) == {"token": [TOKEN]}, url
    assert not re.search(r"https?://", response.text)  # no other host anywhere in the page
    # The browser is told so too: the page may load and call nothing but its own server.
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy
    assert TOKEN not in response.text.split("<script>", 1)[1].replace(f"token={TOKEN}", "")  # in scripts only as URLs


@on_module_loop
async def test_a_token_with_characters_special_in_urls_and_html_reaches_every_file():
    token = "a+b&c=d'e\"f<g>h#i%j/k?l"  # a token may hold any printable ASCII but space and ':'
    oms = await ok.OMS.open("duckdb:///:memory:", feed=None, risk_interval=None)
    server = await serve(oms, port=0, token=token)
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            page = await client.get("/docs", params={"token": token})
            assert page.status_code == 200
            assert "<g>" not in page.text and "e\"f" not in page.text  # quoted, never markup or a broken attribute
            urls = page_urls(page.text)
            assert len(urls) == 1 + len(ASSETS)
            for url in urls:
                assert parse_qs(urlsplit(url).query) == {"token": [token]}, url
                assert (await client.get(url)).status_code == 200, url
    finally:
        await server.stop()
        await oms.close()


@on_module_loop
@pytest.mark.parametrize(("name", "content_type"), ASSETS.items())
async def test_each_file_is_served_whole_with_its_content_type(docs, name, content_type):
    response = await docs.get(f"/docs/static/{name}", params={"token": TOKEN})

    assert response.status_code == 200
    assert content_type in response.headers["content-type"]
    assert response.content == (SWAGGER_UI / name).read_bytes()


@on_module_loop
@pytest.mark.parametrize("name", ASSETS)
async def test_the_read_only_token_may_open_the_page_too(docs, name):
    response = await docs.get(f"/docs/static/{name}", headers={"Authorization": f"Bearer {READ_TOKEN}"})

    assert response.status_code == 200


@on_module_loop
@pytest.mark.parametrize("path", ["/docs", *(f"/docs/static/{name}" for name in ASSETS)])
@pytest.mark.parametrize(("params", "status", "code"), [({}, 401, "UNAUTHORIZED"),
                                                        ({"token": "wrong"}, 403, "FORBIDDEN")],
                         ids=["no-token", "wrong-token"])
async def test_the_page_and_its_files_are_refused_without_the_token(docs, path, params, status, code):
    response = await docs.get(path, params=params)

    assert response.status_code == status
    assert response.json()["code"] == code
    assert b"SwaggerUI" not in response.content


@on_module_loop
@pytest.mark.parametrize("path", ["/docs/static/no-such-file.js", "/docs/static/..%2f..%2fapp.py",
                                  "/docs/static/%2e%2e/%2e%2e/app.py"])
async def test_a_file_outside_the_vendored_ones_is_a_404_in_the_error_shape(docs, path):
    response = await docs.get(path, params={"token": TOKEN})

    assert response.status_code == 404
    assert set(response.json()) == {"code", "message", "field", "hint"}
    assert "create_app" not in response.text


# -- the vendored copy ------------------------------------------------------------------------------------------------


def test_the_vendored_copy_is_the_npm_release_its_readme_names():
    readme = (SWAGGER_UI / "README.md").read_text()
    version = re.search(r"`swagger-ui-dist`\S* \*\*(\d+\.\d+\.\d+)\*\*", readme).group(1)  # type: ignore[union-attr]
    bundle = (SWAGGER_UI / "swagger-ui-bundle.js").read_text()
    assert f'PACKAGE_VERSION:"{version}"' in bundle
    sums = dict(line.split()[::-1] for line in re.findall(r"^[0-9a-f]{64}  \S+$", readme, re.MULTILINE))
    shipped = {path.name for path in SWAGGER_UI.iterdir()} - {"README.md"}
    assert set(sums) == shipped
    for name, digest in sums.items():
        assert hashlib.sha256((SWAGGER_UI / name).read_bytes()).hexdigest() == digest, name
    assert "Apache License" in (SWAGGER_UI / "LICENSE").read_text()


def test_the_package_data_ships_the_vendored_files():
    import tomllib

    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package = ROOT / "oms_kit"
    shipped = {path for pattern in package_data["oms_kit"] for path in package.glob(pattern)}
    assert set(SWAGGER_UI.iterdir()) <= shipped


# -- in a browser -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found; install it with: apt-get install -y chromium (or set OMS_KIT_CHROMIUM)"
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(f"CI=true and no browser: {reason}", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@on_module_loop
@pytest.mark.slow
async def test_the_page_renders_offline_and_places_an_order_with_its_token(docs, chromium):
    from playwright.async_api import async_playwright, expect

    requested: list[str] = []
    blocked: list[str] = []
    console: list[str] = []

    async def only_this_server(route) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 1000})
            await context.route("**/*", only_this_server)
            page = await context.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
            page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
            try:
                await page.goto(f"{docs.server.url}/docs?token={TOKEN}", timeout=STEP_MS)
                place = page.locator(".opblock-post", has=page.locator(
                    '.opblock-summary-path[data-path="/api/oms/orders"]'))
                await expect(place, "POST /api/oms/orders never appeared").to_be_visible(timeout=STEP_MS)
                await expect(page.locator(".opblock-tag-section").first).to_be_visible()

                await place.locator(".opblock-summary-control").click()
                await place.locator("button.try-out__btn").click()
                body = {"symbol": "RELIANCE", "side": "BUY", "quantity": 3, "order_type": "LIMIT", "price": "2400",
                        "tag": "placed-from-docs"}
                await place.locator("textarea.body-param__text").fill(json.dumps(body))
                await place.locator("button.execute").click()
                status = place.locator(".live-responses-table tr.response .response-col_status")
                await expect(status, "the order should be placed (201)").to_have_text("201", timeout=STEP_MS)
                await page.screenshot(path=str(ARTIFACTS / "docs-order-placed.png"), full_page=True)
            except BaseException:
                await page.screenshot(path=str(ARTIFACTS / "docs-failure.png"), full_page=True)
                raise
            finally:
                (ARTIFACTS / "docs-console.log").write_text("\n".join(console))
        finally:
            await browser.close()

    placed = docs.oms.orders()
    placed = placed[placed["tag"] == "placed-from-docs"]
    assert len(placed) == 1 and placed["quantity"].iloc[0] == 3
    assert docs.oms.get_order(placed["order_id"].iloc[0]).status is ok.OrderStatus.OPEN
    assert blocked == []  # no request left this machine
    assert requested and all(urlsplit(url).scheme == "data" or urlsplit(url).hostname == "127.0.0.1"
                             for url in requested), requested
    assert not [line for line in console if "Content Security Policy" in line or line.startswith("pageerror")]
