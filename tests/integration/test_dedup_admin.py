"""The gateway's dedup admin endpoint, in process, on the real database and broker: overrides are
stored, announced on dedup.overrides.v1, and guarded by the admin scope."""

from __future__ import annotations

import orjson
from aiokafka import AIOKafkaConsumer
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.events import DedupOverrideChanged
from libs.contracts.topics import DEDUP_OVERRIDES
from services.gateway.app import create_app
from services.gateway.partners.keys import ApiKeys
from services.gateway.settings import GatewaySettings
from tests.conftest import fresh_database


async def test_overrides_are_stored_announced_and_guarded(stack):
    url = fresh_database(stack, "dadm")
    engine = create_async_engine(url)
    keys = ApiKeys(engine)
    admin = await keys.create("ops", scopes=("admin",))
    partner = await keys.create("avise", scopes=("ingest",))
    body = {"record_a": "la-fonda:fonda-0019", "record_b": "avise:avise-0012", "decision": "not_same",
            "reason": "deux antennes"}
    consumer = AIOKafkaConsumer(DEDUP_OVERRIDES, bootstrap_servers=stack.bootstrap, auto_offset_reset="latest",
                                group_id=None)
    await consumer.start()
    try:
        await consumer.seek_to_end()
        app = create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap))
        async with AsyncTestClient(app=app) as client:
            assert (await client.put("/api/v1/admin/dedup/overrides", json=body)).status_code == 401
            r = await client.put("/api/v1/admin/dedup/overrides", json=body, headers={"X-API-Key": partner})
            assert r.status_code == 403
            bad = await client.put("/api/v1/admin/dedup/overrides", headers={"X-API-Key": admin},
                                   json={**body, "record_b": body["record_a"]})
            assert bad.status_code == 400

            r = await client.put("/api/v1/admin/dedup/overrides", json=body, headers={"X-API-Key": admin})
            assert r.status_code == 200, r.text
            got = r.json()
            assert (got["record_a"], got["record_b"], got["decision"]) == ("avise:avise-0012", "la-fonda:fonda-0019",
                                                                          "not_same")
            listed = (await client.get("/api/v1/admin/dedup/overrides", headers={"X-API-Key": admin})).json()
            assert [o["decision"] for o in listed["overrides"]] == ["not_same"]

            batch = await consumer.getmany(timeout_ms=10_000)
            events = [DedupOverrideChanged.model_validate(orjson.loads(m.value)) for ms in batch.values() for m in ms]
            assert [(e.record_a, e.decision) for e in events] == [("avise:avise-0012", "not_same")]

            r = await client.delete("/api/v1/admin/dedup/overrides", headers={"X-API-Key": admin},
                                    params={"record_a": "avise:avise-0012", "record_b": "la-fonda:fonda-0019"})
            assert r.status_code == 200 and r.json()["decision"] == "cleared"
            assert (await client.get("/api/v1/admin/dedup/projects/nope-123",
                                     headers={"X-API-Key": admin})).status_code == 404
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM dedup_decisions"))).scalar() == 0
    finally:
        await consumer.stop()
        await engine.dispose()
