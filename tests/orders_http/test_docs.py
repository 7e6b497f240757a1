"""`/docs` and `/docs/events`: served, and rendered in a real headless browser (Debian's
chromium, which `make test` installs), where "try it out" of `GET /` reaches the function."""

import shutil
from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import async_playwright

from shared.domain.events import ALL_TOPICS, TOPICS
from tests.support import order_body, served_function

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def served(database_url: str, broker: str) -> Iterator[str]:
    env = {"DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": broker}
    with served_function("orders_http", env) as url:
        yield url


async def test_the_pages_and_their_assets_are_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert (await client.head("/docs")).headers["content-length"] == page.headers["content-length"]
    for asset, media_type in [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("init.js", "text/javascript"),
    ]:
        answer = await client.get(f"/docs/static/{asset}")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith(media_type)
    for missing in ("/docs/static/index.html", "/docs/static/..%2Fopenapi.py", "/docs/static/"):
        answer = await client.get(missing)
        assert answer.status_code == 404, missing
        assert answer.headers["content-type"] == "application/problem+json"


async def test_the_events_page_shows_every_topic_and_type(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs/events")).text
    for topic in ALL_TOPICS:
        assert f"Topic <code>{topic}</code>" in page
    for event_type in TOPICS:
        assert f"<code>{event_type}</code>" in page
    assert "<script" not in page


async def test_a_browser_renders_every_operation_and_tries_one(served: str) -> None:
    assert CHROMIUM, "chromium is not installed: `make test` installs it (Debian's package)"
    order = httpx.post(f"{served}/", json=order_body("docs-browser")).json()
    operations = {
        (method.upper(), path)
        for path, item in httpx.get(f"{served}/openapi.json").json()["paths"].items()
        for method in item
        if method != "parameters"
    }
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = await browser.new_page()
            failed: list[str] = []
            page.on("requestfailed", lambda request: failed.append(request.url))
            await page.goto(f"{served}/docs")
            await page.wait_for_selector(".opblock")
            shown = set()
            for block in await page.locator(".opblock-summary").all():
                method = await block.locator(".opblock-summary-method").inner_text()
                path = await block.locator(".opblock-summary-path").get_attribute("data-path")
                shown.add((method.strip().upper(), path))
            assert shown == operations
            listing = page.locator("#operations-default-listOrders")
            await listing.locator(".opblock-summary").click()
            await listing.get_by_role("button", name="Try it out").click()
            await listing.locator("input[placeholder='customer_id']").fill("docs-browser")
            await listing.get_by_role("button", name="Execute").click()
            status = listing.locator(".live-responses-table tbody .response-col_status").first
            await status.wait_for()
            assert (await status.inner_text()).strip() == "200"
            body = await listing.locator(".live-responses-table .microlight").first.inner_text()
            assert order["id"] in body
            assert failed == []

            await page.goto(f"{served}/docs/events")
            headings = await page.locator("h2").all_inner_texts()
            assert {f"Topic {topic}" for topic in ALL_TOPICS} <= set(headings)
        finally:
            await browser.close()
