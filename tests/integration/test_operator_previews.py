"""The gateway's side of crawl previews, on the real broker and database (no crawler: the test
plays it): an operator's POST stores a pending request and publishes ``PreviewRequested``; the
crawler's ``PreviewCompleted`` is stored by the gateway's own subscriber and shown; an answer to no
request of ours changes nothing; a refused form says why and publishes nothing; a request left
unanswered stops reloading and says so."""

from __future__ import annotations

import re
import uuid

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.preview_events import (
    PreviewCompleted,
    PreviewField,
    PreviewItem,
    PreviewRecord,
)
from libs.contracts.topics import CRAWL_PREVIEW_REQUESTS, CRAWL_PREVIEWS
from libs.runtime.messaging import make_broker, publish
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.conftest import fresh_database, read_topic, wait_until
from tests.helpers_accounts import create_user, login

OPERATOR = "op.previews@example.org"


@pytest.fixture
async def env(stack, tmp_path):
    url = fresh_database(stack, "previews")
    engine = create_async_engine(url)
    await create_user(engine, OPERATOR, roles=("operator",))
    await create_user(engine, "holder.previews@example.org")
    app = create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap, mailbox_dir=str(tmp_path / "m"),
                                  event_subscribers=True))
    yield app, engine
    await engine.dispose()


async def test_request_published_and_answer_stored_and_shown(env, stack) -> None:
    app, engine = env
    async with AsyncTestClient(app=app) as client:
        await login(client, OPERATOR)
        form = await client.get("/operateur/apercus?partenaire=dv-open")
        assert form.status_code == 200 and 'value="dv-open"' in form.text
        r = await client.post("/operateur/apercus", data={"partner": "dv-open", "max_pages": "7",
                                                          "config": "slug: dv-open\r\nname: Essai\r\n"},
                              follow_redirects=False)
        assert r.status_code == 303, r.text
        request_id = re.fullmatch(r"/operateur/apercus/([0-9a-f]{32})", r.headers["location"]).group(1)
        [sent] = await read_topic(stack.bootstrap, CRAWL_PREVIEW_REQUESTS, lambda d: d["request_id"] == request_id, timeout=20)
        assert (sent["partner"], sent["max_pages"], sent["config_yaml"]) == ("dv-open", 7, "slug: dv-open\nname: Essai")
        assert sent["requested_by"].startswith("user#")

        page = await client.get(f"/operateur/apercus/{request_id}")
        assert page.status_code == 200 and "en cours" in page.text and 'http-equiv="refresh"' in page.text

        answer = PreviewCompleted(
            request_id=request_id, partner="dv-open", status="degraded",
            counts={"requests": 2, "items": 3, "projects": 1, "excluded": 1, "rejected": 1, "errors": 0},
            by_rule={"skipped:too_short": 1, "rejected:invalid": 1},
            records=[PreviewRecord(record_id="A1", url="https://x.example/p.csv#A1",
                                   fields=[PreviewField(name="commune", value="Rennes", source="column 'Commune'")])],
            set_aside=[PreviewItem(verdict="skipped", rule="too_short", url="https://x.example/p.csv#A3",
                                   reason="description of 8 characters, under 40")])
        stranger = PreviewCompleted(request_id=uuid.uuid4().hex, partner="dv-open", status="ok")
        broker = make_broker("test", stack.bootstrap)
        await broker.connect()
        try:
            await publish(broker, CRAWL_PREVIEWS, stranger, key=request_id)  # same partition: handled first
            await publish(broker, CRAWL_PREVIEWS, answer, key=request_id)
        finally:
            await broker.stop()

        row = await wait_until(lambda: _answered(engine, request_id), timeout=30, what="the answer stored")
        assert row.status == "degraded" and row.result["records"][0]["fields"][0]["value"] == "Rennes"
        async with engine.connect() as conn:
            ids = (await conn.execute(text("SELECT id FROM operator_previews"))).scalars().all()
        assert ids == [request_id]  # the stranger's answer created nothing

        page = await client.get(f"/operateur/apercus/{request_id}")
        assert "en cours" not in page.text and 'http-equiv="refresh"' not in page.text
        assert "dégradée" in page.text and "column &#39;Commune&#39;" in page.text
        assert "description of 8 characters, under 40" in page.text and "skipped:too_short : 1" in page.text


async def _answered(engine, request_id: str):
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT status, result FROM operator_previews WHERE id = :i"),
                                  {"i": request_id})).first()
    return row if row is not None and row.status != "pending" else None


async def test_refused_forms_and_unanswered_requests(env, stack) -> None:
    app, engine = env
    async with AsyncTestClient(app=app) as client:
        await login(client, OPERATOR)
        for data, words in [({"partner": "Pas Un Slug", "max_pages": "5"}, "Identifiant de partenaire invalide"),
                            ({"partner": "dv-open", "max_pages": "500"}, "entre 1 et 50"),
                            ({"partner": "dv-open", "max_pages": "5", "config": "x" * 20_001}, "trop longue")]:
            r = await client.post("/operateur/apercus", data=data, follow_redirects=False)
            assert r.status_code == 400 and words in r.text, (data, r.status_code)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM operator_previews"))).scalar() == 0

        r = await client.post("/operateur/apercus", data={"partner": "dv-open", "max_pages": "5"},
                              follow_redirects=False)
        request_id = r.headers["location"].rsplit("/", 1)[1]
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE operator_previews SET requested_at = now() - interval '6 minutes'"))
        page = await client.get(f"/operateur/apercus/{request_id}")
        assert "sans réponse" in page.text and 'http-equiv="refresh"' not in page.text
        assert (await client.get("/operateur/apercus/" + "0" * 32)).status_code == 404
        assert (await client.get("/operateur/apercus/not-an-id")).status_code == 404

    async with AsyncTestClient(app=app) as other:
        await login(other, "holder.previews@example.org")
        assert (await other.get("/operateur/apercus")).status_code == 403
        r = await other.post("/operateur/apercus", data={"partner": "dv-open", "max_pages": "5"},
                             follow_redirects=False)
        assert r.status_code == 403
