"""The dead-letter CLI against the real broker: list with filters, replay onto the origin topic."""

from __future__ import annotations

import uuid

import orjson
from aiokafka import AIOKafkaConsumer

from libs.contracts.topics import PARTNER_INGEST
from libs.runtime.messaging import dead_letter, make_broker
from tools import dlq


async def test_list_and_replay(bootstrap, capsys):
    marker = uuid.uuid4().hex
    broker = make_broker("dlqtest", bootstrap)
    await broker.connect()
    replayable = await dead_letter(broker, service="dlqtest", topic=PARTNER_INGEST,
                                   body=b'{"fixed": "%s"}' % marker.encode(), reason=f"bad {marker}",
                                   error_type="rejected", key=b"k1")
    crawl = await dead_letter(broker, service="dlqtest", topic="crawl:someone", body=marker.encode(),
                              reason=f"crawl {marker}", error_type="rejected")
    await broker.stop()

    letters = await dlq.read_letters(bootstrap, dlq.Filter(contains=marker))
    assert {str(d.event_id) for d in letters} == {str(replayable.event_id), str(crawl.event_id)}
    only = await dlq.read_letters(bootstrap, dlq.Filter(origin=PARTNER_INGEST, contains=marker))
    assert [str(d.event_id) for d in only] == [str(replayable.event_id)]

    done, skipped = await dlq.replay(bootstrap, letters)
    assert done == 1 and len(skipped) == 1 and "crawl:someone" in skipped[0]

    consumer = AIOKafkaConsumer(PARTNER_INGEST, bootstrap_servers=bootstrap, group_id=f"t-{marker}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        found = []
        for _ in range(20):
            for records in (await consumer.getmany(timeout_ms=300)).values():
                found += [r for r in records if marker.encode() in r.value]
            if found:
                break
    finally:
        await consumer.stop()
    assert [orjson.loads(r.value) for r in found] == [{"fixed": marker}]
    assert found[0].key == b"k1"
