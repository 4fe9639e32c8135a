"""The optional online geocoder (addok/BAN API) against a local fake addok server, with its
persistent PostgreSQL cache on a fresh migrated database."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from libs.contracts.events import NormalizedProject
from services.geocoder.adapters.online import AddokGeocoder, OnlineConfig, PgCache
from services.geocoder.domain import Geocoder
from services.geocoder.gazetteer import default_gazetteer
from services.geocoder.handlers import locate
from services.geocoder.reverse import default_outlines

ROUBAIX_STREET = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [3.17456, 50.69424]},
    "properties": {"label": "42 Rue de l'Épeule 59100 Roubaix", "score": 0.93, "type": "housenumber",
                   "citycode": "59512", "postcode": "59100", "city": "Roubaix"},
}
LILLE_STREET = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [3.0586, 50.6313]},
    "properties": {"label": "1 Rue de la Gare 59000 Lille", "score": 0.91, "type": "housenumber",
                   "citycode": "59350", "postcode": "59000", "city": "Lille"},
}


class FakeAddok:
    """A tiny addok: /search/?q=… answers from a dict of q-substring → feature; counts requests."""

    def __init__(self, answers: dict[str, dict], status: int = 200) -> None:
        self.answers, self.status, self.queries = answers, status, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                qs = {k: v[0] for k, v in parse_qs(parts.query).items()}
                outer.queries.append((parts.path, qs))
                if outer.status != 200:
                    self.send_response(outer.status)
                    self.end_headers()
                    return
                feats = [f for k, f in outer.answers.items() if k in qs.get("q", "")]
                body = json.dumps({"type": "FeatureCollection", "features": feats[:1]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def addok():
    fake = FakeAddok({"Épeule": ROUBAIX_STREET, "rue de la Gare": LILLE_STREET})
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def geocoder() -> Geocoder:
    return Geocoder(default_gazetteer(), outlines=default_outlines())


def project(**fields) -> NormalizedProject:
    return NormalizedProject(source="t", source_record_id="1", url="https://a.fr", title="T", content_hash="h", **fields)


async def test_street_address_refined_online_and_cached(engine, addok, geocoder) -> None:
    online = AddokGeocoder(OnlineConfig(addok.url), PgCache(engine))
    p = project(address="42 rue de l'Épeule", postcode="59100", commune="Roubaix")
    loc = await locate(p, geocoder, online)
    assert (loc.commune_code, loc.precision, loc.lat, loc.lon) == ("59512", "address", 50.69424, 3.17456)
    assert loc.method == "commune+postcode+online(housenumber)" and loc.confidence >= 0.93
    path, qs = addok.queries[0]
    assert path == "/search/" and qs["citycode"] == "59512" and "Épeule" in qs["q"]
    # Same query again, and from a new client (a restarted service): answered by the cache.
    assert await locate(p, geocoder, online) == loc
    await online.aclose()
    online2 = AddokGeocoder(OnlineConfig(addok.url), PgCache(engine))
    assert await locate(p, geocoder, online2) == loc
    await online2.aclose()
    assert len(addok.queries) == 1 and online2.requests == 0
    async with engine.connect() as conn:
        n = (await conn.execute(text("SELECT count(*) FROM geocoder_cache"))).scalar()
    assert n == 1


async def test_not_found_is_cached_and_offline_answer_kept(engine, addok, geocoder) -> None:
    online = AddokGeocoder(OnlineConfig(addok.url), PgCache(engine))
    p = project(address="Lieu-dit inconnu", postcode="51100", commune="Reims")
    for _ in range(2):
        loc = await locate(p, geocoder, online)
        assert (loc.commune_code, loc.precision, loc.method) == ("51454", "commune", "commune+postcode")
    assert len(addok.queries) == 1
    await online.aclose()


async def test_disagreeing_answer_is_ignored(engine, addok, geocoder) -> None:
    # The address text matches a Lille street in the fake, but the gazetteer is sure it is Reims.
    online = AddokGeocoder(OnlineConfig(addok.url), PgCache(engine))
    loc = await locate(project(address="3 rue de la Gare", commune="Reims", postcode="51100"), geocoder, online)
    assert loc.commune_code == "51454" and loc.precision == "commune"
    assert "online geocoder disagreed (59350)" in loc.method and len(addok.queries) == 1
    await online.aclose()


async def test_service_down_keeps_offline_answer_and_caches_nothing(engine, geocoder) -> None:
    fake = FakeAddok({}, status=503)
    try:
        online = AddokGeocoder(OnlineConfig(fake.url), PgCache(engine))
        p = project(address="42 rue de l'Épeule", postcode="59100", commune="Roubaix")
        loc = await locate(p, geocoder, online)
        assert (loc.commune_code, loc.precision) == ("59512", "commune")
        await locate(p, geocoder, online)
        assert len(fake.queries) == 2  # failures are not cached: retried later
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM geocoder_cache"))).scalar() == 0
        await online.aclose()
    finally:
        fake.close()


async def test_not_used_when_not_needed(engine, addok, geocoder) -> None:
    online = AddokGeocoder(OnlineConfig(addok.url), PgCache(engine))
    # no street address, or partner coordinates already: nothing to ask
    await locate(project(commune="Roubaix"), geocoder, online)
    await locate(project(address="42 rue de l'Épeule", commune="Roubaix", lat=50.69, lon=3.17), geocoder, online)
    await locate(project(address="Rue Neuve 1", commune="Bruxelles", country="Belgique"), geocoder, online)
    assert addok.queries == []
    await online.aclose()
