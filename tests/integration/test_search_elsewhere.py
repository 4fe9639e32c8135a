"""« Projects like this one, elsewhere » on every backend (the conformance suite's fixtures: PostgreSQL,
PostgreSQL through its caches, and Meilisearch — skipped with its reason when no server answers):
never the project itself nor a record of its cluster, only other territories, one per partner, the
most similar first (themes and words), and the project API's ``elsewhere``."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from libs.contracts.events import Location, SourceRef
from libs.contracts.geo import haversine_km
from services.gateway.search.port import SIMILAR_RADIUS_KM
from tests.integration.test_search_conformance import (  # noqa: F401 — fixtures
    BY_ID,
    PLACES,
    PROJECTS,
    ROWS,
    backend,
    make_project,
    meili_server,
)

NANTES = dict(region_code="52", region_name="Pays de la Loire", departement_code="44",
              departement_name="Loire-Atlantique", commune_code="44109", commune_name="Nantes", postcode="44000",
              lat=47.2184, lon=-1.5536)
ROUBAIX = BY_ID["jardin-roubaix"]
EXTRA = [
    # a duplicate the deduplication did not merge: shares a source record of jardin-roubaix
    make_project(30, ROWS[1], id="jardin-roubaix-copie", location=Location(precision="address", **PLACES["paris"]),
                 sources=[ROUBAIX.sources[0]]),
    # another one: a different record, but the same page
    make_project(31, ROWS[1], id="jardin-roubaix-meme-page", location=Location(precision="address", **PLACES["lyon"]),
                 sources=[SourceRef(partner="epsilon", record_id="autre", url=ROUBAIX.sources[1].url,
                                    last_seen=ROUBAIX.first_seen)]),
    # similar by its words only (no shared theme), far away
    make_project(32, ("jardin-nantes", "Jardin partagé des Dervallières", "Des parcelles cultivées par les habitants.",
                      "lille", ["numerique"], "idee", [], "association", ["zeta"]),
                 location=Location(precision="address", **NANTES)),
    # similar, but nearby (Lille, 12 km): on the page already, under « à proximité »
    make_project(33, ("jardin-lille", "Jardin partagé de Fives", "Des parcelles cultivées ensemble.", "lille",
                      ["alimentation", "solidarite-lien-social"], "idee", [], "association", ["eta"])),
]


@pytest.fixture
async def index(backend):  # noqa: F811
    writer, reader = backend
    for project in [*PROJECTS, *EXTRA]:
        assert await writer.upsert(project, 1) is True
    return writer, reader


async def _elsewhere(reader, pid, limit=4):
    doc = await reader.get(pid)
    assert doc is not None
    return doc, await reader.elsewhere(doc, limit)


async def test_elsewhere_never_itself_nor_its_cluster_only_other_territories_one_per_partner(index):
    _, reader = index
    doc, found = await _elsewhere(reader, "jardin-roubaix", limit=10)
    ids = [h["id"] for h in found]
    assert ids and "jardin-roubaix" not in ids
    assert "jardin-roubaix-copie" not in ids and "jardin-roubaix-meme-page" not in ids  # the same cluster
    assert "jardin-lille" not in ids and "ecole-roubaix" not in ids  # nearby, same département
    for h in found:
        assert h.get("departement") != "59"
        if h.get("lat") is not None:
            assert haversine_km(doc["lat"], doc["lon"], h["lat"], h["lon"]) > SIMILAR_RADIUS_KM
    partners = [p for h in found for p in h["source"]]
    assert len(partners) == len(set(partners))  # one per partner
    assert "jardin-nantes" in ids  # found by its words alone
    # the most similar first: same themes and words ("jardins", "quartier") before a single shared theme
    assert ids.index("jardins-paris") < ids.index("maraichage-mayotte")
    assert {"epicerie-lyon", "cuisine-paris"} & set(ids[:2])
    assert all("project" not in h and "sources" not in h for h in found)


async def test_elsewhere_limits_and_nothing_to_compare(index):
    _, reader = index
    for limit in (1, 2, 4):
        _, found = await _elsewhere(reader, "jardin-roubaix", limit=limit)
        assert len(found) == limit
    doc = await reader.get("jardin-roubaix")
    assert await reader.elsewhere({**doc, "title": "", "summary": "", "description": "", "theme": []}, 4) == []


async def test_project_api_and_page_show_elsewhere(stack, tmp_path):
    from sqlalchemy.ext.asyncio import create_async_engine

    from services.gateway.app import create_app
    from services.gateway.settings import GatewaySettings
    from services.indexer.adapters.search import PostgresIndexWriter
    from tests.conftest import fresh_database

    url = fresh_database(stack, "elsewhere")
    engine = create_async_engine(url)
    await PostgresIndexWriter(engine).upsert_many([(p, 1) for p in [*PROJECTS, *EXTRA]])
    await engine.dispose()
    async with AsyncTestClient(app=create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap,
                                                              mailbox_dir=str(tmp_path / "m")))) as client:
        body = (await client.get("/api/v1/projects/jardin-roubaix")).json()
        assert 1 <= len(body["elsewhere"]) <= 4
        assert {h["id"] for h in body["elsewhere"]}.isdisjoint({h["id"] for h in body["similar"]})
        page = await client.get("/projets/jardin-roubaix")
        assert "Ailleurs, des projets semblables" in page.text
        assert f'href="/projets/{body["elsewhere"][0]["id"]}"' in page.text
