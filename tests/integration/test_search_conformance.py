"""One conformance suite for every search backend: the PostgreSQL pair (embedded default) and the
Meilisearch pair must give the same answers for the same documents.

Expected answers come from a small oracle computed in Python on the fixtures (filters, facets,
geo, sort) or are written out by hand (text search). Result sets are compared as sets of ids with
their totals; order is only compared where it is documented (newest, nearest, pagination).

Meilisearch runs against MEILI_URL (+ MEILI_KEY) when a server answers there, else in a
testcontainers container when a Docker engine answers, else its half of the suite is skipped
with the reason.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from libs.contracts.events import CanonicalProject, Location, SourceRef
from libs.contracts.search import FACET_FIELDS, SearchDocument
from services.gateway.search.postgres import PostgresSearch
from services.gateway.search.rules import parse_search
from services.indexer.adapters.search import PostgresIndexWriter
from services.indexer.domain import search_document
from tests.conftest import fresh_database

MEILI_IMAGE = "getmeili/meilisearch:v1.12"
HIT_FIELDS = set(SearchDocument.model_fields)
LABELLED = {"country": "country_name", "region": "region_name", "departement": "departement_name",
            "commune": "commune_name"}
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)

# --------------------------------------------------------------------------- fixtures: data

PLACES = {
    "lille": dict(region_code="32", region_name="Hauts-de-France", departement_code="59", departement_name="Nord",
                  commune_code="59350", commune_name="Lille", postcode="59000", lat=50.6292, lon=3.0573),
    "roubaix": dict(region_code="32", region_name="Hauts-de-France", departement_code="59", departement_name="Nord",
                    commune_code="59512", commune_name="Roubaix", postcode="59100", lat=50.6942, lon=3.1746),
    "paris": dict(region_code="11", region_name="Île-de-France", departement_code="75", departement_name="Paris",
                  commune_code="75056", commune_name="Paris", postcode="75011", lat=48.8566, lon=2.3522),
    "lyon": dict(region_code="84", region_name="Auvergne-Rhône-Alpes", departement_code="69",
                 departement_name="Rhône", commune_code="69123", commune_name="Lyon", postcode="69004",
                 lat=45.7640, lon=4.8357),
    "marseille": dict(region_code="93", region_name="Provence-Alpes-Côte d'Azur", departement_code="13",
                      departement_name="Bouches-du-Rhône", commune_code="13055", commune_name="Marseille",
                      postcode="13001", lat=43.2965, lon=5.3698),
    "mayotte": dict(region_code="06", region_name="Mayotte", departement_code="976", departement_name="Mayotte",
                    commune_code="97611", commune_name="Mamoudzou", postcode="97600", lat=-12.7806, lon=45.2279),
    "bruxelles": dict(country="BE", locality="Brussels", postcode="1000", lat=50.8503, lon=4.3517,
                      precision="commune", method="abroad-city"),  # as the geocoder places a city abroad
    "pevele": dict(region_code="32", region_name="Hauts-de-France", departement_code="59", departement_name="Nord",
                   precision="departement", method="postcode"),  # no coordinates
}

# id, title, summary, place, themes, stage, engineering, holder_type, partners
ROWS = [
    ("zero-dechet-lille", "Zéro Déchet à l'école Jules Ferry", "Réduire les emballages à la cantine scolaire.",
     "lille", ["environnement-dechets", "education-jeunesse"], "developpement", ["sociale"], "association", ["alpha"]),
    ("jardin-roubaix", "Jardin partagé du quartier de l'Épeule",
     "Des parcelles cultivées ensemble par les habitants.",
     "roubaix", ["alimentation", "solidarite-lien-social"], "essaimage", ["territoriale"], "collectif-informel",
     ["alpha", "beta"]),
    ("jardins-paris", "Jardins familiaux de Belleville", "Potagers loués aux familles du quartier.",
     "paris", ["alimentation"], "termine", [], "collectivite", ["beta"]),
    ("epicerie-lyon", "Épicerie solidaire de la Croix-Rousse", "Produits frais à prix réduits.",
     "lyon", ["alimentation", "solidarite-lien-social"], "developpement", ["financiere"], "association", ["gamma"]),
    ("cantine-marseille", "Cantine zéro déchet du Panier", "Repas cuisinés sans emballages jetables.",
     "marseille", ["alimentation", "environnement-dechets"], "experimentation", ["technique"], "entreprise-sociale",
     ["alpha"]),
    ("maraichage-mayotte", "Maraîchage bio à Mamoudzou", "Une ferme pour les jeunes agriculteurs.",
     "mayotte", ["alimentation", "emploi-insertion"], "idee", ["sociale", "territoriale"], "association", ["delta"]),
    ("repair-bruxelles", "Repair café bruxellois", "Réparer plutôt que jeter.",
     "bruxelles", ["environnement-dechets"], "essaimage", ["technique"], "collectif-informel", ["beta"]),
    ("ressourcerie-pevele", "Ressourcerie du Pévèle", "Collecte et revente d'objets.",
     "pevele", ["environnement-dechets", "emploi-insertion"], "developpement", [], "entreprise-sociale", ["gamma"]),
    ("velo-lille", "Atelier vélo participatif", "Apprendre à entretenir son vélo.",
     "lille", ["mobilite"], "experimentation", ["technique"], "association", ["delta"]),
    ("cuisine-paris", "Cuisine collective du onzième", "Cuisiner ensemble des produits locaux.",
     "paris", ["alimentation", "solidarite-lien-social"], "idee", ["sociale"], "fondation", ["alpha"]),
    ("numerique-lyon", "Médiation numérique pour les aînés", "Ateliers tablettes et démarches en ligne.",
     "lyon", ["numerique", "seniors-vieillissement"], "essaimage", ["numerique"], "etablissement-public",
     ["beta", "gamma"]),
    ("ecole-roubaix", "Jardin pédagogique de l'école Pasteur", "Un potager pour les classes de primaire.",
     "roubaix", ["education-jeunesse", "environnement-dechets"], "termine", ["territoriale"], "collectivite",
     ["delta"]),
]


def make_project(i: int, row: tuple, **changes) -> CanonicalProject:
    pid, title, summary, place, themes, stage, engineering, holder_type, partners = row
    loc = {"precision": "address", "method": "ban", **PLACES[place]}
    first_seen = T0 + timedelta(days=i)  # distinct: newest order is total
    fields = dict(
        id=pid, title=title, summary=summary, description=f"{title}. {summary}",
        themes=themes, stage=stage, engineering=engineering, holder_name=f"Porteur {i}", holder_type=holder_type,
        location=Location(**loc),
        sources=[SourceRef(partner=p, record_id=f"{pid}-{p}", url=f"https://{p}.example.org/projets/{pid}",
                           last_seen=first_seen) for p in partners],
        first_seen=first_seen, updated_at=first_seen + timedelta(hours=1),
    )
    fields.update(changes)
    return CanonicalProject(**fields)


PROJECTS = [make_project(i, row) for i, row in enumerate(ROWS)]
BY_ID = {p.id: p for p in PROJECTS}
ALL_IDS = set(BY_ID)


async def indexed_database(stack, name: str) -> tuple[str, AsyncEngine]:
    """A fresh database (``name``) whose PostgreSQL search index holds :data:`PROJECTS` at version 1,
    and an engine on it (the caller disposes of it)."""
    url = fresh_database(stack, name)
    engine = create_async_engine(url)
    await PostgresIndexWriter(engine).upsert_many([(p, 1) for p in PROJECTS])
    return url, engine

# --------------------------------------------------------------------------- oracle


def haversine_km(lat1, lon1, lat2, lon2) -> float:
    dlat, dlon = math.radians(lat2 - lat1), math.radians(lon2 - lon1)
    a = math.sin(dlat / 2) ** 2 + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * math.sin(dlon / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(a))


def docs(ids=None) -> list[SearchDocument]:
    return [search_document(p, 1) for p in PROJECTS if ids is None or p.id in ids]


def in_query(doc: SearchDocument, query, without: str | None = None) -> bool:
    for facet, values in query.filters.items():
        if facet == without:
            continue
        value = getattr(doc, facet)
        if not (set(value) & set(values) if isinstance(value, list) else value in values):
            return False
    if query.geo is not None and query.geo.radius_km is not None:
        if doc.lat is None or haversine_km(query.geo.lat, query.geo.lon, doc.lat, doc.lon) > query.geo.radius_km:
            return False
    if query.bbox is not None:
        b = query.bbox
        if doc.lat is None or not (b.min_lat <= doc.lat <= b.max_lat and b.min_lon <= doc.lon <= b.max_lon):
            return False
    return True


def expected_ids(query, ids=None) -> set[str]:
    return {d.id for d in docs(ids) if in_query(d, query)}


def expected_facets(query, ids=None) -> tuple[dict, dict]:
    facets, labels = {}, {}
    for facet in FACET_FIELDS:
        subset = [d for d in docs(ids) if in_query(d, query, without=facet)]
        counts = Counter()
        for d in subset:
            value = getattr(d, facet)
            counts.update(value if isinstance(value, list) else [value] if value is not None else [])
        facets[facet] = dict(counts)
        if facet in LABELLED:
            names: dict[str, str] = {}
            for d in subset:
                code, name = getattr(d, facet), getattr(d, LABELLED[facet])
                if code is not None and name:
                    names[code] = min(name, names.get(code, name))
            labels[facet] = names
    return facets, labels


def ids_of(result) -> set[str]:
    return {h["id"] for h in result["hits"]}


# --------------------------------------------------------------------------- fixtures: backends


def _first_line(exc: BaseException) -> str:
    """A short cause for the skip reason: the exception type and the start of its message."""
    text = (str(exc).strip().splitlines() or [""])[0]
    text = text.split(", HTTPConnectionPool")[0].split(": ('Connection")[0].removeprefix(f"{type(exc).__name__}")
    text = text.lstrip(",: ").strip()
    return f"{type(exc).__name__}: {text[:100]}" if text else type(exc).__name__


def _wait_healthy(url: str, key: str | None, timeout: float = 60.0) -> None:
    import meilisearch

    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            if meilisearch.Client(url, key, timeout=2).health().get("status") == "available":
                return
        except Exception as exc:  # noqa: BLE001 — still starting
            last = exc
        time.sleep(0.5)
    raise RuntimeError(f"Meilisearch at {url} did not become healthy in {timeout:.0f}s: {last!r}")


@pytest.fixture(scope="session")
def meili_server():
    """(url, key) of a Meilisearch server: MEILI_URL, else a testcontainers container, else skip."""
    import meilisearch

    url, key = os.environ.get("MEILI_URL") or "http://127.0.0.1:7700", os.environ.get("MEILI_KEY") or None
    try:
        if meilisearch.Client(url, key, timeout=2).health().get("status") == "available":
            yield url, key
            return
        server_problem = "not available"
    except Exception as exc:  # noqa: BLE001 — any failure means: no usable server there
        server_problem = _first_line(exc)
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Meilisearch conformance skipped: no server at MEILI_URL ({url}: {server_problem}) "
                    f"and no Docker engine ({_first_line(exc)})")
    from testcontainers.core.container import DockerContainer

    key = "conformance-master-key-0123456789"
    container = (DockerContainer(MEILI_IMAGE).with_exposed_ports(7700)
                 .with_env("MEILI_MASTER_KEY", key).with_env("MEILI_NO_ANALYTICS", "true")
                 .with_env("MEILI_ENV", "development"))
    container.start()
    try:
        url = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(7700)}"
        _wait_healthy(url, key)
        yield url, key
    finally:
        container.stop()


@pytest.fixture(params=["postgres", "postgres-cached", "meilisearch"])
def backend(request):
    """(writer, reader) of one backend, on an empty index of the test's own. "postgres-cached" is
    the gateway's default reader: the same queries through its result cache (every write in these
    tests is followed at once by searches, so a stale cached result would fail them)."""
    if request.param.startswith("postgres"):
        engine = request.getfixturevalue("engine")  # fresh migrated database: search_documents exists
        yield PostgresIndexWriter(engine), PostgresSearch(engine, cache_mb=8 if request.param.endswith("cached") else 0)
        return
    url, key = request.getfixturevalue("meili_server")
    import meilisearch

    from services.gateway.search.meili import MeiliSearch
    from services.indexer.adapters.search_meili import MeiliIndexWriter

    index = f"conformance_{uuid.uuid4().hex[:12]}"
    yield MeiliIndexWriter(url, key, index=index), MeiliSearch(url, key, index=index)
    client = meilisearch.Client(url, key)
    client.wait_for_task(client.delete_index(index).task_uid, timeout_in_ms=30_000)


@pytest.fixture
async def index(backend):
    writer, reader = backend
    for project in PROJECTS:
        assert await writer.upsert(project, 1) is True
    return writer, reader


async def search(reader, **params):
    return await reader.search(parse_search(**params))


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(("q", "expected"), [
    pytest.param("zero dechet", {"zero-dechet-lille", "cantine-marseille"}, id="accent-insensitive"),
    pytest.param("Zéro DÉCHET", {"zero-dechet-lille", "cantine-marseille"}, id="accents-in-query"),
    pytest.param("jardi", {"jardin-roubaix", "jardins-paris", "ecole-roubaix"}, id="prefix"),
    pytest.param("jardn partage", {"jardin-roubaix"}, id="typo"),
    pytest.param("épicerie solidaire", {"epicerie-lyon"}, id="two-words"),
])
async def test_text(index, q, expected):
    _, reader = index
    result = await search(reader, q=q)
    assert ids_of(result) == expected
    assert result["total"] == len(expected)


async def test_no_dead_end_when_a_word_matches_nothing_with_the_others(index):
    _, reader = index
    # "solidaire" is in "Épicerie solidaire", "vélo" is in "Atelier vélo": no project has both words;
    # both are as rare, so the first typed is kept and the other dropped
    result = await search(reader, q="velo solidaire")
    assert ids_of(result) == {"velo-lille"} and result["total"] == 1
    # stop words and numbers weigh nothing; a word no project uses is ignored, and said so
    result = await search(reader, q="velo de la 2024 zzqxwv")
    assert ids_of(result) == {"velo-lille"}
    assert "zzqxwv" in result["ignored"]
    # nothing at all for a query whose every word matches nothing
    result = await search(reader, q="zzqxwv qqwwzz")
    assert result["total"] == 0 and result["hits"] == []


async def test_projects_with_all_the_words_come_first(index):
    _, reader = index
    # "jardin" (3 projects) and "école" (2) weigh the same: "jardin", typed first, is required;
    # the project with both words comes first, then those missing the less important one
    result = await search(reader, q="jardin école")
    assert ids_of(result) == {"ecole-roubaix", "jardin-roubaix", "jardins-paris"}
    assert result["total"] == 3
    assert result["hits"][0]["id"] == "ecole-roubaix"
    # a partner's decoration of a title still finds it, first
    result = await search(reader, q="Projet « Jardin partagé du quartier de l'Épeule », porté par le Porteur 1")
    assert result["hits"][0]["id"] == "jardin-roubaix"
    # a visitor's sentence: the words the project does not use are dropped
    result = await search(reader, q="projet de jardin pour les étudiants à Roubaix")
    assert {h["id"] for h in result["hits"][:2]} == {"jardin-roubaix", "ecole-roubaix"}


@pytest.mark.parametrize(("q", "expected"), [
    pytest.param("épicerie sociale", "epicerie-lyon", id="epicerie-sociale=solidaire"),
    pytest.param("recyclerie", "ressourcerie-pevele", id="recyclerie=ressourcerie"),
    pytest.param("bicyclette", "velo-lille", id="bicyclette=velo"),
])
async def test_synonyms(index, q, expected):
    _, reader = index
    result = await search(reader, q=q)
    assert result["hits"] and result["hits"][0]["id"] == expected


async def test_text_and_filter(index):
    _, reader = index
    result = await search(reader, q="jardin", filters={"region": ["32"]})
    assert ids_of(result) == {"jardin-roubaix", "ecole-roubaix"}
    assert result["total"] == 2


# --------------------------------------------------------------------------- filters and facets


FILTERS = {
    "theme": ["environnement-dechets"], "stage": ["developpement"], "engineering": ["technique"],
    "holder_type": ["association"], "source": ["beta"], "region": ["32"], "departement": ["69"],
    "commune": ["59512"], "country": ["BE"],
}


@pytest.mark.parametrize("facet", list(FILTERS))
async def test_each_facet_filter(index, facet):
    _, reader = index
    query = parse_search(filters={facet: FILTERS[facet]})
    expected = expected_ids(query)
    assert expected and expected != ALL_IDS  # the fixture exercises the filter
    result = await reader.search(query)
    assert ids_of(result) == expected
    assert result["total"] == len(expected)


async def test_or_within_a_facet(index):
    _, reader = index
    query = parse_search(filters={"stage": ["idee", "termine"]})
    result = await reader.search(query)
    assert ids_of(result) == expected_ids(query) == {"jardins-paris", "maraichage-mayotte", "cuisine-paris",
                                                     "ecole-roubaix"}
    assert result["total"] == 4


async def test_and_across_facets(index):
    _, reader = index
    query = parse_search(filters={"theme": ["alimentation"], "source": ["alpha"]})
    result = await reader.search(query)
    assert ids_of(result) == expected_ids(query) == {"jardin-roubaix", "cantine-marseille", "cuisine-paris"}
    assert result["total"] == 3


async def test_facets_without_filters(index):
    _, reader = index
    query = parse_search()
    result = await reader.search(query)
    facets, labels = expected_facets(query)
    assert result["facets"] == facets
    assert result["labels"] == labels
    assert result["facets"]["theme"]["alimentation"] == 6
    assert result["labels"]["region"]["06"] == "Mayotte"


async def test_country_facet_and_filter(index):
    _, reader = index
    result = await search(reader)
    assert result["facets"]["country"] == {"FR": len(PROJECTS) - 1, "BE": 1}
    assert result["labels"]["country"] == {"FR": "France", "BE": "Belgique"}  # French names
    query = parse_search(filters={"country": ["BE"]})
    result = await reader.search(query)
    assert ids_of(result) == {"repair-bruxelles"} and result["total"] == 1
    facets, labels = expected_facets(query)
    assert result["facets"] == facets and result["labels"] == labels
    assert result["facets"]["region"] == {} and result["facets"]["departement"] == {}  # never in France
    [hit] = result["hits"]
    assert (hit["country"], hit["country_name"], hit["locality"]) == ("BE", "Belgique", "Brussels")
    assert (hit["lat"], hit["lon"]) == (50.8503, 4.3517)  # on the map at its city
    # its city is searchable; France (FR) without it
    assert ids_of(await search(reader, q="brussels")) == {"repair-bruxelles"}
    france = await search(reader, filters={"country": ["FR"]}, per_page=50)
    assert "repair-bruxelles" not in ids_of(france) and france["total"] == len(PROJECTS) - 1


async def test_disjunctive_facets(index):
    _, reader = index
    query = parse_search(filters={"theme": ["alimentation"]})
    result = await reader.search(query)
    facets, labels = expected_facets(query)
    assert result["facets"] == facets
    assert result["labels"] == labels
    # its own facet is counted without its filter: the other themes are still offered
    assert result["facets"]["theme"]["mobilite"] == 1
    assert result["facets"]["theme"]["alimentation"] == 6
    # the other facets count only alimentation projects
    assert result["facets"]["region"] == {"32": 1, "11": 2, "84": 1, "93": 1, "06": 1}


async def test_disjunctive_facets_several_filters(index):
    _, reader = index
    query = parse_search(filters={"theme": ["alimentation", "mobilite"], "region": ["32", "11"],
                                  "source": ["alpha"]})
    result = await reader.search(query)
    facets, labels = expected_facets(query)
    assert ids_of(result) == expected_ids(query)
    assert result["facets"] == facets
    assert result["labels"] == labels


# --------------------------------------------------------------------------- geo


async def test_radius(index):
    _, reader = index
    query = parse_search(lat=50.6292, lon=3.0573, radius_km=20)
    result = await reader.search(query)
    assert ids_of(result) == expected_ids(query) == {"zero-dechet-lille", "velo-lille", "jardin-roubaix",
                                                     "ecole-roubaix"}
    assert result["total"] == 4
    for hit in result["hits"]:
        d = BY_ID[hit["id"]].location
        assert hit["distance_km"] == pytest.approx(haversine_km(50.6292, 3.0573, d.lat, d.lon), abs=0.011)


async def test_radius_with_facet(index):
    _, reader = index
    query = parse_search(lat=50.6292, lon=3.0573, radius_km=150, filters={"theme": ["environnement-dechets"]})
    result = await reader.search(query)
    # Bruxelles (~95 km) is in, the Pévèle ressourcerie has no coordinates and is out
    assert ids_of(result) == expected_ids(query) == {"zero-dechet-lille", "ecole-roubaix", "repair-bruxelles"}
    facets, labels = expected_facets(query)
    assert result["facets"] == facets
    assert result["labels"] == labels


async def test_bbox(index):
    _, reader = index
    query = parse_search(bbox="2.5,50.3,4.5,51.0")
    result = await reader.search(query)
    assert ids_of(result) == expected_ids(query) == {"zero-dechet-lille", "velo-lille", "jardin-roubaix",
                                                     "ecole-roubaix", "repair-bruxelles"}
    assert result["total"] == 5
    assert all("distance_km" not in hit for hit in result["hits"])


async def test_sort_nearest(index):
    _, reader = index
    lat, lon = 48.8566, 2.3522  # Paris
    result = await search(reader, lat=lat, lon=lon, sort="nearest", per_page=20)
    located = sorted((p for p in PROJECTS if p.location.lat is not None),
                     key=lambda p: (round(haversine_km(lat, lon, p.location.lat, p.location.lon), 6), p.id))
    expected = [p.id for p in located] + ["ressourcerie-pevele"]  # no coordinates: last
    assert [h["id"] for h in result["hits"]] == expected
    distances = [h["distance_km"] for h in result["hits"] if "distance_km" in h]
    assert distances == sorted(distances) and len(distances) == len(located)


async def test_sort_nearest_within_radius(index):
    _, reader = index
    result = await search(reader, lat=50.6942, lon=3.1746, radius_km=20, sort="nearest")  # Roubaix
    ids = [h["id"] for h in result["hits"]]
    assert set(ids[:2]) == {"jardin-roubaix", "ecole-roubaix"}  # same place: tie broken by id
    assert ids == ["ecole-roubaix", "jardin-roubaix", "velo-lille", "zero-dechet-lille"]


# --------------------------------------------------------------------------- sort, pagination, shape


NEWEST = [p.id for p in sorted(PROJECTS, key=lambda p: p.first_seen, reverse=True)]


async def test_sort_newest(index):
    _, reader = index
    result = await search(reader, sort="newest", per_page=20)
    assert [h["id"] for h in result["hits"]] == NEWEST
    assert result["total"] == len(PROJECTS)


def fair_ids(day: str, ids=None) -> list[str]:
    """The oracle of the order of equally relevant hits: ``relevance.fair_order`` (each set of
    sources spread by its share, then the day's shuffle)."""
    from services.gateway.search.relevance import fair_order, shuffle_key

    chosen = list(docs(ids))
    items = [(0, tuple(d.source), shuffle_key(d.id, day), d.id) for d in chosen]
    return [chosen[i].id for i in fair_order(items)]


async def test_no_query_is_in_fair_daily_order(index):
    _, reader = index
    monday = await search(reader, per_page=20, day="2026-12-07")
    assert [h["id"] for h in monday["hits"]] == fair_ids("2026-12-07")
    assert [h["id"] for h in (await search(reader, per_page=20, day="2026-12-07"))["hits"]] == fair_ids("2026-12-07")
    tuesday = await search(reader, per_page=20, day="2026-12-08")
    assert [h["id"] for h in tuesday["hits"]] == fair_ids("2026-12-08") != fair_ids("2026-12-07")
    # no partner first: each partner's projects are spread through the list by its share
    for result in (monday, tuesday):
        sets = [tuple(sorted(s.partner for s in BY_ID[h["id"]].sources)) for h in result["hits"]]
        shares = Counter(sets)
        for k in range(1, len(sets) + 1):
            for group, n in Counter(sets[:k]).items():
                assert n <= math.ceil(k * shares[group] / len(sets)) + 1, (k, group)
    # pages follow the same order
    second = await search(reader, per_page=5, page=2, day="2026-12-07")
    assert [h["id"] for h in second["hits"]] == fair_ids("2026-12-07")[5:10]


async def test_equally_relevant_hits_in_fair_order(index):
    _, reader = index
    # one theme, no words: every hit is as relevant as the others
    query = parse_search(filters={"theme": ["alimentation"]}, per_page=20, day="2026-12-07")
    result = await reader.search(query)
    assert [h["id"] for h in result["hits"]] == fair_ids("2026-12-07", expected_ids(query))


async def test_pagination(index):
    _, reader = index
    first = await search(reader, sort="newest", page=1, per_page=5)
    second = await search(reader, sort="newest", page=2, per_page=5)
    last = await search(reader, sort="newest", page=3, per_page=5)
    assert [h["id"] for h in second["hits"]] == NEWEST[5:10]
    assert [h["id"] for h in last["hits"]] == NEWEST[10:]
    assert first["total"] == second["total"] == last["total"] == len(PROJECTS)
    assert second["facets"] == first["facets"]
    beyond = await search(reader, sort="newest", page=4, per_page=5)
    assert beyond["hits"] == [] and beyond["total"] == len(PROJECTS)


async def test_hit_shape(index):
    _, reader = index
    result = await search(reader, q="velo", lat=50.6292, lon=3.0573)
    assert ids_of(result) == {"velo-lille"}
    hit = result["hits"][0]
    assert set(hit) == HIT_FIELDS | {"distance_km"}
    assert hit["distance_km"] == pytest.approx(0.0, abs=0.01)
    expected = search_document(BY_ID["velo-lille"], 1).model_dump(mode="json")
    for field in ("id", "version", "title", "theme", "stage", "engineering", "source", "region", "departement",
                  "commune", "commune_name", "url"):
        assert hit[field] == expected[field], field
    assert hit["lat"] == pytest.approx(50.6292) and hit["lon"] == pytest.approx(3.0573)


async def test_get(index):
    _, reader = index
    doc = await reader.get("jardin-roubaix")
    assert doc is not None
    assert doc["title"] == "Jardin partagé du quartier de l'Épeule"
    assert {s["partner"] for s in doc["project"]["sources"]} == {"alpha", "beta"}
    assert doc["project"]["sources"] == BY_ID["jardin-roubaix"].model_dump(mode="json")["sources"]
    assert set(doc) == HIT_FIELDS | {"project"}
    assert await reader.get("does-not-exist") is None


# --------------------------------------------------------------------------- writes


async def test_version_guard(index):
    writer, reader = index
    project = BY_ID["velo-lille"]
    renamed = project.model_copy(update={"title": "Atelier vélo solidaire",
                                         "description": "Réparer son vélo ensemble."})
    assert await writer.upsert(renamed, 2) is True
    assert await writer.upsert(project, 1) is False  # older: ignored
    assert await writer.upsert(renamed, 2) is False  # replay: no-op
    assert (await reader.get(project.id))["title"] == "Atelier vélo solidaire"
    assert (await reader.get(project.id))["version"] == 2
    result = await search(reader, q="velo")
    assert ids_of(result) == {project.id} and result["hits"][0]["title"] == "Atelier vélo solidaire"
    assert ids_of(await search(reader, q="participatif")) == set()

    assert await writer.delete(project.id, 3) is True
    assert await writer.upsert(renamed, 2) is False  # stale upsert after the deletion: no resurrection
    assert await writer.delete(project.id, 3) is False
    assert await writer.delete(project.id, 2) is False
    assert await reader.get(project.id) is None
    assert ids_of(await search(reader, q="velo")) == set()

    assert await writer.upsert(renamed, 4) is True  # a newer version brings it back
    assert (await reader.get(project.id))["version"] == 4


async def test_delete_removes_from_results_and_facets(index):
    writer, reader = index
    assert await writer.delete("epicerie-lyon", 2) is True
    remaining = ALL_IDS - {"epicerie-lyon"}
    query = parse_search(per_page=50)
    result = await reader.search(query)
    assert ids_of(result) == remaining
    assert result["total"] == len(remaining)
    facets, labels = expected_facets(query, remaining)
    assert result["facets"] == facets
    assert result["labels"] == labels
    assert result["facets"]["departement"]["69"] == 1
    assert result["facets"]["source"]["gamma"] == 2
    assert await reader.get("epicerie-lyon") is None
    assert ids_of(await search(reader, q="epicerie")) == set()
    assert await writer.delete("never-indexed", 1) is True  # a tombstone for an unknown id is still written
    assert await writer.upsert(make_project(0, ROWS[0], id="never-indexed"), 1) is False
    assert (await reader.search(query))["total"] == len(remaining)


async def test_clear(index):
    writer, reader = index
    assert await writer.delete("cuisine-paris", 5) is True
    await writer.clear()
    result = await search(reader)
    assert {k: result[k] for k in ("total", "hits", "facets", "labels")} == {
        "total": 0, "hits": [], "facets": {f: {} for f in FACET_FIELDS}, "labels": {f: {} for f in LABELLED}}
    assert await reader.get("jardin-roubaix") is None
    # a reindex starts from nothing: tombstones are gone too
    assert await writer.upsert(BY_ID["cuisine-paris"], 1) is True
    assert ids_of(await search(reader)) == {"cuisine-paris"}


async def test_empty_index(backend):
    _, reader = backend
    result = await search(reader, q="jardin", filters={"theme": ["alimentation"]})
    assert result["total"] == 0 and result["hits"] == []
    assert await reader.get("jardin-roubaix") is None


# --------------------------------------------------------------------------- zero-downtime rebuild


async def test_rebuild_swaps_without_downtime(index):
    import asyncio

    writer, reader = index
    changed = BY_ID["velo-lille"].model_copy(update={"title": "Atelier vélo solidaire"})
    totals: list[int] = []
    done = asyncio.Event()

    async def watch():  # a visitor searching all along
        while not done.is_set():
            totals.append((await search(reader))["total"])
            await asyncio.sleep(0.005)

    async def canonical():  # the canonical store as read when the rebuild started
        for i, project in enumerate(PROJECTS):
            if i == 2:  # the indexer keeps writing to the live index meanwhile
                assert await writer.upsert(changed, 2) is True
                assert await writer.delete("cuisine-paris", 2) is True
            if project.id == "epicerie-lyon":
                continue  # no longer canonical: must leave the index
            yield project, 1
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    n = await writer.rebuild(canonical())
    done.set()
    await watcher
    assert n == len(PROJECTS) - 1
    # never empty, never half-built: 12, then 11 after the live deletion, then 10 once swapped
    assert totals and set(totals) <= {12, 11, 10} and totals[0] == 12
    result = await search(reader, per_page=50)
    assert ids_of(result) == ALL_IDS - {"epicerie-lyon", "cuisine-paris"}
    assert (await reader.get("velo-lille"))["title"] == "Atelier vélo solidaire"  # live write carried over
    assert await writer.upsert(BY_ID["cuisine-paris"], 1) is False  # its tombstone too
    assert ids_of(await search(reader, q="epicerie")) == set()
    # the rebuilt index is fully functional: text, facets, geo, writes
    assert ids_of(await search(reader, q="jardn partage")) == {"jardin-roubaix"}
    assert (await search(reader, lat=50.6292, lon=3.0573, radius_km=20))["total"] == 4
    assert await writer.upsert(changed, 3) is True
    if isinstance(writer, PostgresIndexWriter):  # same table, same index names as the migrations made
        from sqlalchemy import text

        async with writer.engine.connect() as conn:
            names = set((await conn.execute(text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'search_documents'"))).scalars())
            tables = set((await conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE 'search_documents%'"))).scalars())
        assert {"search_documents_pkey", "search_tsv", "search_title_trgm", "search_theme",
                "search_live_first_seen", "search_live_lonlat"} <= names
        assert tables == {"search_documents"}
