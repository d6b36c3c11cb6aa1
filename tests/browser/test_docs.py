"""/docs in a browser without a network: Swagger UI renders, takes a bearer token, and its
"Try it out" on /v1/totals gets the server's answer (200, or 401 with a bad token)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import LiveServer, PageProblems

TOTALS = "#operations-reads-get_totals_v1_totals_get"


def _authorize(page: Page, token: str) -> None:
    """Give Swagger UI a bearer token through its Authorize dialog (replacing any)."""
    page.locator(".auth-wrapper button.authorize").click()
    dialog = page.locator(".dialog-ux .modal-ux")
    logout = dialog.locator("button", has_text="Logout")
    if logout.count():
        logout.click()
    dialog.locator("#auth-bearer-value").fill(token)
    dialog.locator("button.authorize", has_text="Authorize").click()
    expect(logout).to_be_visible()
    dialog.locator("button.btn-done").click()


def _try_totals(page: Page) -> Locator:
    """Run /v1/totals from its "Try it out" form; return the status cell of the answer."""
    operation = page.locator(TOTALS)
    if not operation.locator(".btn.execute").count():
        operation.locator(".opblock-summary").click()
        operation.get_by_role("button", name="Try it out").click()
    status = operation.locator(".live-responses-table tbody .response-col_status")
    operation.locator(".btn.execute").click()
    return status


def test_docs_lists_the_operations_offline(
    browser_page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    browser_page.goto("/docs")

    expect(browser_page.locator(TOTALS)).to_be_visible()
    assert browser_page.locator(".opblock").count() > 20
    expect(browser_page.locator(".auth-wrapper button.authorize")).to_be_visible()
    screenshot(browser_page, "docs")


def test_try_it_out_on_totals_answers_200_with_a_token(
    browser_page: Page, live_server: LiveServer
) -> None:
    browser_page.goto("/docs")
    _authorize(browser_page, live_server.tokens["viewer"])

    status = _try_totals(browser_page)

    expect(status).to_have_text("200")
    body = browser_page.locator(f"{TOTALS} .live-responses-table tbody .response-col_description")
    expect(body).to_contain_text('"net_committed"')


def test_try_it_out_with_a_bad_token_shows_the_401(
    browser_page: Page, page_problems: PageProblems
) -> None:
    page_problems.allow(r"Failed to load resource: .*status of 401")
    browser_page.goto("/docs")
    _authorize(browser_page, "ft_not-a-token")

    status = _try_totals(browser_page)

    expect(status).to_have_text("401")
    body = browser_page.locator(f"{TOTALS} .live-responses-table tbody .response-col_description")
    expect(body).to_contain_text("the token is unknown or revoked")
