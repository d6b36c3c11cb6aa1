"""The dashboard's files: served from the package under a strict CSP, compressed, small,
free of inline scripts and styles, and a map that covers every département."""

from __future__ import annotations

import gzip
import json
import re

from fastapi.testclient import TestClient

from api.dashboard.router import STATIC, assets
from domain.reference.territories import TerritoryLevel, load_territories


def test_the_page_is_served_at_the_root_under_a_csp_without_unsafe_inline(
    client: TestClient,
) -> None:
    answer = client.get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert '<script type="module" src="/dashboard/app/main.js">' in answer.text


def test_assets_are_gzipped_and_revalidated_by_etag(client: TestClient) -> None:
    answer = client.get("/dashboard/app/main.js", headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.headers["content-type"].startswith("text/javascript")
    again = client.get("/dashboard/app/main.js", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304
    assert client.get("/dashboard/app/nothing.js").status_code == 404


def test_no_inline_script_handler_or_style_in_the_html() -> None:
    html = (STATIC / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert " style=" not in html
    for script in STATIC.rglob("*.js"):
        assert "innerHTML" not in script.read_text(), script
        assert 'setAttribute("style"' not in script.read_text(), script


def test_the_page_s_scripts_and_styles_stay_under_500_kb_compressed() -> None:
    size = sum(len(a.gzipped) for path, a in assets().items() if path.endswith((".js", ".css")))
    assert size < 500 * 1024


def test_the_map_draws_every_metropolitan_departement_and_the_overseas_regions() -> None:
    document = json.loads((STATIC / "map" / "france.json").read_text())
    territories = load_territories()
    drawn = {f"departement:{d['code']}" for d in document["departements"]}
    drawn |= {f"departement:{o['departement']}" for o in document["overseas"]}
    every = {t.code for t in territories.search("", TerritoryLevel.DEPARTEMENT, 500)}
    assert every - drawn <= {"departement:989"}  # Clipperton: no outline in the source
    assert "CC BY 4.0" in document["attribution"]
    assert gzip.compress((STATIC / "map" / "france.json").read_bytes())


def test_every_module_is_preloaded_so_the_page_loads_them_in_one_round_trip() -> None:
    html = (STATIC / "index.html").read_text()
    for module in (STATIC / "app").rglob("*.js"):
        path = "/dashboard/" + module.relative_to(STATIC).as_posix()
        assert f'href="{path}"' in html or f'src="{path}"' in html, path
