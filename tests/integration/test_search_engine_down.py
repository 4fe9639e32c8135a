"""The production search engine down (Meilisearch unreachable: nothing listens on its port): search,
project pages and the map answer 503 with Retry-After — the visitor is told to come back — instead of
a bare 500, and the app keeps serving everything that does not need the engine."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.conftest import fresh_database
from tools.devstack import free_port


async def test_an_unreachable_engine_answers_503_with_retry_after(stack):
    url = fresh_database(stack, "meilidown")
    cfg = GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap, search_backend="meilisearch",
                          meili_url=f"http://127.0.0.1:{free_port()}")
    async with AsyncTestClient(app=create_app(cfg)) as client:
        for path in ("/api/v1/search?q=jardin", "/api/v1/projects/jardin-roubaix",
                     "/api/v1/map?bbox=-5,41,10,51&zoom=5"):
            r = await client.get(path)
            assert r.status_code == 503, (path, r.status_code, r.text[:200])
            assert r.headers["retry-after"] == "5"
        ready = await client.get("/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("error")
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/api/v1/taxonomy")).status_code == 200
