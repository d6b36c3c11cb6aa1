"""The dashboard at `/` in a real Chromium: its figures are the API's, the map drills down to a
project's history, filters live in the URL, a bad token is refused, the keyboard reaches
every control. Each test saves its page as docs/img/dashboard-*.png for the README."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, PageProblems

Shot = Callable[[Page, str], Path]
CARDS = ("net_committed", "disbursed", "to_disburse", "outstanding", "projects")
BUS = "Bulles : bus à haut niveau de service du réseau Artois-Gohelle"


def french_euros(amount: str) -> str:
    """`35000000.00` as Intl.NumberFormat('fr-FR') shows whole euros: `35 000 000 €`."""
    value = Decimal(amount)
    assert value == value.to_integral_value(), amount
    return f"{int(value):,}".replace(",", "\u202f") + "\u00a0€"


def open_page(
    page: Page, live: LiveServer, problems: PageProblems, role: str, hash_: str = "#/overview"
) -> None:
    """Open the dashboard, type the role's token in its form, wait for the page drawn.

    The server allows no public read: the first look, before the token, is answered 401.
    """
    problems.allow(r"status of 401 .*'url': '[^']*/v1/")
    page.goto(f"/{hash_}")
    page.get_by_label("Jeton d'accès", exact=True).fill(live.tokens[role])
    page.get_by_role("button", name="Utiliser").click()
    expect(page.get_by_text("Jeton accepté pour cette session.")).to_be_visible()
    wait_drawn(page)


def wait_drawn(page: Page) -> None:
    expect(page.locator("#view[data-rendered]")).to_be_attached()


def totals(live_server: LiveServer, **params: str) -> dict[str, str]:
    answer = httpx.get(
        f"{live_server.url}/v1/totals", params=params, headers=live_server.headers("viewer")
    )
    answer.raise_for_status()
    total: dict[str, str] = answer.json()["total"]
    return total


def card(page: Page, field: str) -> str:
    return page.locator(f".cards dd[data-field='{field}']").inner_text()


def test_the_overview_shows_the_figures_of_v1_totals(
    browser_page: Page, live_server: LiveServer, page_problems: PageProblems, screenshot: Shot
) -> None:
    page = browser_page
    page.goto("/")
    expect(page.locator("#token-notice").get_by_role("alert")).to_contain_text(
        "ne permet pas la lecture sans jeton"
    )
    open_page(page, live_server, page_problems, "viewer")
    total = totals(live_server)
    for field in CARDS:
        shown = card(page, field)
        expected = str(total[field]) if field == "projects" else french_euros(str(total[field]))
        assert shown == expected, field
    assert page.locator("figure.chart").count() == 5
    # Each chart downloads its data as CSV, with the API's exact amounts.
    by_theme = page.locator("figure.chart", has_text="par thème")
    with page.expect_download() as download:
        by_theme.get_by_role("button", name=re.compile("Télécharger")).click()
    csv_text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    mobility = totals(live_server, theme="mobility")["net_committed"]
    assert f"Mobilité,{mobility}" in csv_text.splitlines()
    screenshot(page, "dashboard-overview")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "dashboard-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_map_drills_down_to_the_bus_project_and_its_35_million_loan(
    browser_page: Page, live_server: LiveServer, page_problems: PageProblems, screenshot: Shot
) -> None:
    page = browser_page
    open_page(page, live_server, page_problems, "auditor", "#/map")
    page.get_by_role("heading", level=1).evaluate("(node) => node.scrollIntoView()")
    screenshot(page, "dashboard-map")
    page.locator("svg.map [role=link][aria-label^='Hauts-de-France']").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hauts-de-France")
    wait_drawn(page)
    page.locator(".breadcrumbs").evaluate("(node) => node.scrollIntoView()")
    screenshot(page, "dashboard-drilldown")
    # The Artois-Gohelle network (CA de Lens-Liévin) is in the Pas-de-Calais, beside the Nord.
    page.locator("svg.map [role=link][aria-label^='Pas-de-Calais']").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pas-de-Calais")
    wait_drawn(page)
    page.get_by_role("link", name=BUS).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(BUS)
    wait_drawn(page)
    loan = page.locator(".timeline li", has_text="Prêt accordé")
    expect(loan).to_contain_text(french_euros("35000000.00"))
    expect(loan).to_contain_text("le 9 juillet 2019")
    screenshot(page, "dashboard-history")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "dashboard-project")


def test_a_theme_filter_lives_in_the_url_and_a_reload_restores_it(
    browser_page: Page, live_server: LiveServer, page_problems: PageProblems
) -> None:
    page = browser_page
    open_page(page, live_server, page_problems, "viewer")
    everything = card(page, "net_committed")
    page.locator("#filters").get_by_label("Thème").select_option("mobility")
    expect(page).to_have_url(re.compile(r"theme=mobility"))
    mobility = french_euros(totals(live_server, theme="mobility")["net_committed"])
    expect(page.locator(".cards dd[data-field='net_committed']")).to_have_text(mobility)
    assert mobility != everything
    page.reload()
    wait_drawn(page)
    expect(page.locator(".cards dd[data-field='net_committed']")).to_have_text(mobility)
    expect(page.locator("#filters").get_by_label("Thème")).to_have_value("mobility")


def project_names(live_server: LiveServer, **params: str) -> list[str]:
    answer = httpx.get(
        f"{live_server.url}/v1/projects",
        params={"limit": "50", **params},
        headers=live_server.headers("viewer"),
    )
    answer.raise_for_status()
    return [item["name"] for item in answer.json()["items"]]


def test_the_projects_instrument_and_period_live_in_the_url_and_a_reload_restores_them(
    browser_page: Page, live_server: LiveServer, page_problems: PageProblems
) -> None:
    page = browser_page
    open_page(page, live_server, page_problems, "viewer", "#/projects")
    form = page.get_by_role("search", name="Filtrer les projets")
    listed = page.locator("#view table tbody a")
    expect(listed).to_have_text(project_names(live_server))
    form.get_by_label("Instrument").select_option("equity")
    form.get_by_label("Engagé du").fill("2024-01-01")
    form.get_by_role("button", name="Filtrer").click()
    expect(page).to_have_url(re.compile(r"instrument=equity&from=2024-01-01$"))
    expected = project_names(live_server, instrument="equity", **{"from": "2024-01-01"})
    assert expected
    assert expected != project_names(live_server)[: len(expected)]
    expect(listed).to_have_text(expected)
    page.reload()
    wait_drawn(page)
    expect(listed).to_have_text(expected)
    expect(form.get_by_label("Instrument")).to_have_value("equity")
    expect(form.get_by_label("Engagé du")).to_have_value("2024-01-01")


def test_a_bad_token_is_refused_with_a_visible_message(
    browser_page: Page, page_problems: PageProblems
) -> None:
    page_problems.allow(r"status of 401")
    page = browser_page
    page.goto("/")
    page.get_by_label("Jeton d'accès", exact=True).fill("ft_not-a-token")
    page.get_by_role("button", name="Utiliser").click()
    expect(page.get_by_role("alert").filter(has_text="Jeton refusé")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    assert "ft_not-a-token" not in page.url


FOCUSABLE = (
    "a[href], button, input, select, summary, [tabindex='0']"  # every control the page draws
)


def tab_reaches_every_control(page: Page) -> None:
    """Tab from the top; every visible control must take the focus on the way."""
    controls = page.evaluate(
        """(selector) => {
            const seen = [...document.querySelectorAll(selector)].filter(
                (node) => node.getClientRects().length && !node.closest("[hidden]")
                    && (node.tagName === "SUMMARY" || !node.closest("details:not([open])"))
                    // Tab enters a radio group at its checked button; arrows move within it.
                    && !(node.type === "radio" && !node.checked));
            seen.forEach((node, index) => { node.dataset.kbd = String(index); });
            return seen.length;
        }""",
        FOCUSABLE,
    )
    assert controls > 10
    page.evaluate("document.activeElement && document.activeElement.blur()")
    reached: set[str] = set()
    for _ in range(controls * 2 + 10):
        page.keyboard.press("Tab")
        index = page.evaluate("document.activeElement?.dataset.kbd ?? null")
        if index is not None:
            reached.add(index)
        if len(reached) == controls:
            break
    missed = page.evaluate(
        "(reached) => [...document.querySelectorAll('[data-kbd]')]"
        ".filter((n) => !reached.includes(n.dataset.kbd)).map((n) => n.outerHTML.slice(0, 80))",
        sorted(reached),
    )
    assert not missed


def test_the_keyboard_alone_reaches_every_control(
    browser_page: Page, live_server: LiveServer, page_problems: PageProblems, screenshot: Shot
) -> None:
    page = browser_page
    open_page(page, live_server, page_problems, "viewer", "#/overview")
    tab_reaches_every_control(page)
    page.goto("/#/map")
    wait_drawn(page)
    tab_reaches_every_control(page)
    # A map area is followed with the keyboard too.
    page.locator("svg.map [role=link][aria-label^='Bretagne']").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bretagne")
    page.goto("/#/conventions")
    wait_drawn(page)
    tab_reaches_every_control(page)
    expect(page.get_by_role("rowheader", name=re.compile("Bassin minier"))).to_be_visible()
    screenshot(page, "dashboard-conventions")
