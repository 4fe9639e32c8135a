"""The gateway's search API and pages, in process (Litestar test client), on the real embedded
database and broker, with the conformance suite's twelve projects indexed by the real writer."""

from __future__ import annotations

import csv
import io

import orjson
import pytest
from litestar.testing import AsyncTestClient

from libs.contracts.partner_events import PartnerInfo, PartnerStatusChanged
from services.gateway.app import create_app
from services.gateway.partners import directory
from services.gateway.settings import GatewaySettings
from services.indexer.adapters.search import PostgresIndexWriter
from tests.integration.test_search_conformance import indexed_database, make_project

XSS = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
async def client(stack):
    url, engine = await indexed_database(stack, "api")
    evil = make_project(20, ("xss-lille", f"Atelier {XSS} vélo", f"Résumé {XSS} & co", "lille", ["mobilite"],
                             "idee", [], "association", ["alpha"]))
    await PostgresIndexWriter(engine).upsert(evil, 1)
    async with engine.begin() as conn:  # what the crawler's crawl.partners.v1 tells the gateway
        await directory.apply(conn, PartnerStatusChanged(partner=PartnerInfo(
            slug="alpha", name="Réseau Alpha", licence="CC BY-SA 4.0")))
    app = create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap,
                              cors_origins=["https://front.example.org"]))
    async with AsyncTestClient(app=app) as c:
        yield c
    await engine.dispose()


# --------------------------------------------------------------------------- search


async def test_search_shape_and_highlight(client):
    r = await client.get("/api/v1/search", params={"q": "jardin partage"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"total", "page", "per_page", "hits", "facets", "labels", "ignored", "did_you_mean"}
    assert [h["id"] for h in body["hits"]] == ["jardin-roubaix"]
    hl = body["hits"][0]["highlight"]
    assert hl["title"] == "<mark>Jardin</mark> <mark>partagé</mark> du quartier de l&#39;Épeule"
    assert "<mark>" not in hl["snippet"] or "partag" in hl["snippet"]


async def test_highlight_escapes_partner_text(client):
    body = (await client.get("/api/v1/search", params={"q": "atelier"})).json()
    hit = next(h for h in body["hits"] if h["id"] == "xss-lille")
    assert "<script>" not in hit["highlight"]["title"] and "&lt;script&gt;" in hit["highlight"]["title"]
    assert "<script>" not in hit["highlight"]["snippet"]
    assert hit["highlight"]["title"].startswith("<mark>Atelier</mark>")


@pytest.mark.parametrize(("params", "message"), [
    ({"per_page": "1000"}, "per_page"),
    ({"theme": "nope"}, "theme"),
    ({"lat": "91", "lon": "2"}, "lat"),
    ({"bbox": "1,2,3"}, "bbox"),
    ({"sort": "nearest"}, "nearest"),
])
async def test_search_rejects_bad_parameters(client, params, message):
    r = await client.get("/api/v1/search", params=params)
    assert r.status_code == 400 and message in r.text


# --------------------------------------------------------------------------- suggest


async def test_suggest_projects_and_terms(client):
    r = await client.get("/api/v1/suggest", params={"q": "jardi"})
    assert r.status_code == 200
    body = r.json()
    assert {p["id"] for p in body["projects"]} == {"jardin-roubaix", "jardins-paris", "ecole-roubaix"}
    assert all(set(p) == {"id", "title", "commune_name"} for p in body["projects"])
    alim = (await client.get("/api/v1/suggest", params={"q": "alim"})).json()
    assert {"facet": "theme", "value": "alimentation", "label": "Alimentation"} in alim["terms"]
    typo = (await client.get("/api/v1/suggest", params={"q": "jardn partage"})).json()
    assert [p["id"] for p in typo["projects"]] == ["jardin-roubaix"]


async def test_suggest_matches_titles_only_and_validates(client):
    # "emballages" is only in summaries: no title suggestion
    assert (await client.get("/api/v1/suggest", params={"q": "emballages"})).json()["projects"] == []
    assert (await client.get("/api/v1/suggest")).status_code == 400
    assert (await client.get("/api/v1/suggest", params={"q": "x", "limit": "99"})).status_code == 400


# --------------------------------------------------------------------------- project, similar


async def test_project_with_sources_and_similar_nearby(client):
    r = await client.get("/api/v1/projects/jardin-roubaix")
    assert r.status_code == 200
    body = r.json()
    assert {s["partner"] for s in body["project"]["sources"]} == {"alpha", "beta"}
    similar = body["similar"]
    # shares "alimentation" or "solidarite-lien-social", within 60 km of Roubaix: none but Lille's?
    ids = [h["id"] for h in similar]
    assert "jardin-roubaix" not in ids
    for h in similar:
        assert set(h["theme"]) & {"alimentation", "solidarite-lien-social"}
        assert h["distance_km"] <= 60
    school = (await client.get("/api/v1/projects/ecole-roubaix")).json()["similar"]
    # same themes (education, environment) close by: the Lille school and the Bruxelles repair café is too far
    assert [h["id"] for h in school] == ["zero-dechet-lille"]
    assert (await client.get("/api/v1/projects/nope")).status_code == 404


# --------------------------------------------------------------------------- map


async def test_map_clusters_and_single_points(client):
    france = "-5.5,41,10,51.5"
    r = await client.get("/api/v1/map", params={"bbox": france, "zoom": "3"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    geo = r.json()
    assert geo["type"] == "FeatureCollection"
    # located projects inside metropolitan France: all but Mayotte, Bruxelles (outside bbox? no: 4.35,50.85 is in)
    assert geo["properties"]["total"] == sum(f["properties"]["count"] for f in geo["features"]) == 11
    assert any(f["properties"]["cluster"] for f in geo["features"])  # zoom 3: cells of ~21°, everything merges
    close = (await client.get("/api/v1/map", params={"bbox": france, "zoom": "14"})).json()
    singles = [f for f in close["features"] if not f["properties"]["cluster"]]
    assert {f["properties"]["id"] for f in singles} >= {"cantine-marseille", "repair-bruxelles"}
    marseille = next(f for f in singles if f["properties"]["id"] == "cantine-marseille")
    assert marseille["geometry"]["coordinates"] == pytest.approx([5.3698, 43.2965])
    assert marseille["properties"]["url"] == "/projets/cantine-marseille"
    # two Lyon projects at the same place stay one cluster of two, even zoomed in
    lyon = [f for f in close["features"] if f["geometry"]["coordinates"] == pytest.approx([4.8357, 45.764])]
    assert len(lyon) == 1 and lyon[0]["properties"]["count"] == 2


async def test_map_applies_search_filters(client):
    geo = (await client.get("/api/v1/map", params={"bbox": "-5.5,41,10,51.5", "zoom": "14",
                                                    "theme": "alimentation", "q": "jardin"})).json()
    assert {f["properties"]["id"] for f in geo["features"]} == {"jardin-roubaix", "jardins-paris"}


@pytest.mark.parametrize("params", [{"zoom": "3"}, {"bbox": "0,0,1,1"}, {"bbox": "0,0,1,1", "zoom": "99"},
                                    {"bbox": "0,0,1,1", "zoom": "3", "bogus": "1"}])
async def test_map_validates(client, params):
    assert (await client.get("/api/v1/map", params=params)).status_code == 400


# --------------------------------------------------------------------------- stats


async def test_stats(client):
    r = await client.get("/api/v1/stats")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 13
    theme = {row["value"]: row for row in body["theme"]}
    assert theme["alimentation"]["count"] == 6 and theme["alimentation"]["label"] == "Alimentation"
    assert {"value": "06", "label": "Mayotte", "count": 1} in body["region"]
    assert sum(body["first_seen_by_month"].values()) == 13
    assert body["first_seen_by_month"]["2024-03"] == 13  # T0 + 0..11 days, and + 20
    assert {row["value"] for row in body["source"]} == {"alpha", "beta", "gamma", "delta"}


# --------------------------------------------------------------------------- export


async def test_export_csv_with_attribution(client):
    r = await client.get("/api/v1/export", params={"format": "csv", "theme": "alimentation", "sort": "newest"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 6
    assert rows[0]["id"] == "cuisine-paris"  # newest first
    roubaix = next(row for row in rows if row["id"] == "jardin-roubaix")
    assert roubaix["sources"] == "alpha | beta"
    assert roubaix["licences"] == "CC BY-SA 4.0 | licence non précisée"  # beta: no licence known
    assert roubaix["source_urls"].startswith("https://alpha.example.org/projets/jardin-roubaix")
    assert roubaix["page"].endswith("/projets/jardin-roubaix")


async def test_export_json_and_geojson(client):
    body = orjson.loads((await client.get("/api/v1/export", params={"format": "json", "region": "32"})).content)
    assert {p["id"] for p in body["projects"]} == {"zero-dechet-lille", "jardin-roubaix", "ressourcerie-pevele",
                                                   "velo-lille", "ecole-roubaix", "xss-lille"}
    assert "licence" in body["notice"]
    assert body["sources"]["alpha"] == {"name": "Réseau Alpha", "licence": "CC BY-SA 4.0"}  # from the directory
    geo = orjson.loads((await client.get("/api/v1/export", params={"format": "geojson", "region": "32"})).content)
    assert geo["type"] == "FeatureCollection" and "attribution" in geo
    assert len(geo["features"]) == 5  # the Pévèle ressourcerie has no coordinates
    assert all(f["properties"]["attribution"] for f in geo["features"])
    assert (await client.get("/api/v1/export", params={"format": "xml"})).status_code == 400


# --------------------------------------------------------------------------- HTTP


async def test_etag_and_conditional_get(client):
    r = await client.get("/api/v1/search", params={"q": "jardin"})
    etag = r.headers["etag"]
    assert etag and "public" in r.headers["cache-control"]
    again = await client.get("/api/v1/search", params={"q": "jardin"}, headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = await client.get("/api/v1/search", params={"q": "velo"}, headers={"if-none-match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag
    assert "etag" not in (await client.get("/api/v1/export", params={"format": "json"})).headers


async def test_cors_and_security_headers(client):
    r = await client.get("/api/v1/search", headers={"origin": "https://front.example.org"})
    assert r.headers["access-control-allow-origin"] == "https://front.example.org"
    assert "etag" in r.headers.get("access-control-expose-headers", "")
    r = await client.get("/api/v1/search", headers={"origin": "https://evil.example.org"})
    assert "access-control-allow-origin" not in r.headers
    page = await client.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"


# --------------------------------------------------------------------------- pages


async def test_search_page(client):
    r = await client.get("/", params={"q": "jardin", "region": "32"})
    assert r.status_code == 200
    html = r.text
    assert ">Jardin pédagogique de l&#39;école Pasteur</a>" in html  # titles as published
    assert "<mark>Jardin</mark> pédagogique" in html  # words marked in the snippet (here from the description)
    assert "Retirer le filtre Région : Hauts-de-France" in html  # active-filter chip
    assert 'id="map"' in html and "/static/vendor/leaflet/leaflet.js" in html
    assert "<script>" not in html.replace('<script src="', "")  # no inline script (CSP)
    assert ' style="' not in html


async def test_pages_escape_partner_text(client):
    html = (await client.get("/", params={"q": "atelier"})).text
    assert XSS not in html and "&lt;script&gt;" in html
    page = (await client.get("/projets/xss-lille")).text
    assert XSS not in page and "&lt;script&gt;alert" in page


async def test_pagination_links(client):
    html = (await client.get("/", params={"per_page": "5"})).text  # the page uses 20 per page
    assert "Page suivante" not in html
    many = (await client.get("/", params={"page": "1", "sort": "newest"})).text
    assert 'aria-current="page"' not in many  # 13 projects: one page


async def test_project_page(client):
    html = (await client.get("/projets/jardin-roubaix")).text
    assert "Publié par" in html and "https://alpha.example.org/projets/jardin-roubaix" in html
    assert 'data-point="50.6942,3.1746"' in html
    assert (await client.get("/projets/nope")).status_code == 404


async def test_stats_page(client):
    html = (await client.get("/statistiques")).text
    assert "13 projets recensés" in html
    assert "Alimentation" in html and 'class="bar"' in html and "Mayotte" in html


async def test_vendored_assets_are_served(client):
    for path in ("/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/leaflet.css",
                 "/static/vendor/france-regions.geojson", "/static/app.js"):
        assert (await client.get(path)).status_code == 200, path
    geo = orjson.loads((await client.get("/static/vendor/france-regions.geojson")).content)
    assert len(geo["features"]) == 18 and {f["properties"]["code"] for f in geo["features"]} >= {"11", "32", "06"}


async def test_search_page_with_invalid_parameters_explains(client):
    r = await client.get("/", params={"theme": "<b>nope</b>", "page": "0"})
    assert r.status_code == 200
    assert "Recherche invalide" in r.text and "<b>nope</b>" not in r.text
