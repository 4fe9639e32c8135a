"""The deduplication review queue through the gateway, in process, on the real database and
broker: a grey pair stored by the real dedup store waits (unmerged) on the moderators' page, a
decision becomes an override and a DedupOverrideChanged event, the queue size is a metric, and
only moderators see the page."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from prometheus_client import generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from services.indexer.adapters.db import DedupStore
from tests.conftest import fresh_database
from tests.helpers_accounts import create_user, csrf, login
from tests.helpers_dedup import read_published, roubaix_event
from tests.helpers_partners import mirror_pairs


async def test_grey_pairs_wait_for_a_moderator(stack, tmp_path, overrides_consumer):
    url = fresh_database(stack, "review")
    engine = create_async_engine(url)
    try:
        store = DedupStore(engine)
        for e in (roubaix_event("avise", "1", "La Passerelle"),
                  roubaix_event("cerdd", "2", "Épicerie solidaire La Passerelle"),
                  roubaix_event("avise", "3", "Le Fil"), roubaix_event("cerdd", "4", "Repair café Le Fil"),
                  roubaix_event("fej", "5", "Jardin des Oliviers")):
            await store.apply(e)
        clusters = await store.clusters()
        assert len(set(clusters.values())) == 5, "nothing in the grey zone is merged"
        # what the indexer reports on dedup.pairs.v1, stored by the gateway (as its subscriber does)
        assert await mirror_pairs(engine, set(clusters)) >= 2
        await create_user(engine, "modo@example.org", roles=("moderator",))
        await create_user(engine, "alice@example.org")
        app = create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap, mailbox_dir=str(tmp_path / "m")))
        async with AsyncTestClient(app=app) as client:
            assert (await client.get("/api/v1/moderation/dedup/queue")).status_code == 401
            page = await client.get("/moderation/doublons", follow_redirects=False)
            assert page.status_code == 303 and page.headers["location"].startswith("/connexion")
            await login(client, "alice@example.org")
            assert (await client.get("/moderation/doublons")).status_code == 403
            assert (await client.get("/api/v1/moderation/dedup/queue")).status_code == 403

            client.cookies.delete("carrefour_session")
            await login(client, "modo@example.org")
            queue = (await client.get("/api/v1/moderation/dedup/queue")).json()
            pairs = {(p["record_a"], p["record_b"]) for p in queue["pairs"]}
            assert pairs == {("avise:1", "cerdd:2"), ("avise:3", "cerdd:4")}, queue
            assert all(p["explanation"]["review"] and p["explanation"]["comparisons"]["title"]["level"] == "contained"
                       for p in queue["pairs"])
            page = await client.get("/moderation/doublons")
            assert page.status_code == 200 and "2 paires en attente" in page.text
            assert "Épicerie solidaire La Passerelle" in page.text and "l&#39;un contient l&#39;autre" in page.text
            assert (await client.get("/metrics")).status_code == 404  # served on METRICS_PORT, not the public app
            metrics = generate_latest().decode()
            assert "carrefour_dedup_review_queue 2.0" in metrics

            token = await csrf(client)
            bad = await client.post("/moderation/doublons/decision", data={
                "record_a": "avise:1", "record_b": "cerdd:2", "decision": "peut-etre", "_csrf_token": token})
            assert bad.status_code == 400 and "Même projet" in bad.text
            r = await client.post("/moderation/doublons/decision", data={
                "record_a": "cerdd:2", "record_b": "avise:1", "decision": "meme", "_csrf_token": token},
                follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"] == "/moderation/doublons?fait=meme"
            r = await client.post("/moderation/doublons/decision", data={
                "record_a": "avise:3", "record_b": "cerdd:4", "decision": "differents", "reason": "deux lieux",
                "_csrf_token": token}, follow_redirects=False)
            assert r.status_code == 303
            assert (await client.get("/api/v1/moderation/dedup/queue")).json() == {"total": 0, "page": 1, "pairs": []}
            assert "carrefour_dedup_review_queue 0.0" in generate_latest().decode()
            assert "Aucune paire en attente" in (await client.get("/moderation/doublons")).text

        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT record_a, record_b, decision, reason FROM dedup_decisions ORDER BY record_a"))).all()
        assert [tuple(r) for r in rows] == [("avise:1", "cerdd:2", "same", None),
                                            ("avise:3", "cerdd:4", "not_same", "deux lieux")]
        events = await read_published(overrides_consumer, 2, "the decisions were")
        assert {(e["record_a"], e["record_b"], e["decision"]) for e in events} == {
            ("avise:1", "cerdd:2", "same"), ("avise:3", "cerdd:4", "not_same")}
    finally:
        await engine.dispose()
