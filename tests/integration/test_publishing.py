"""Queued publishes (one record batch per partition) against the real embedded broker: every
message lands, each key on the partition aiokafka's own partitioner gives it, in order; a failing
block sends nothing; the parse of payloads pydantic reads but JSON refuses."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faststream.kafka import KafkaBroker

from libs.contracts.events import PartnerRecord, ProjectGeocoded, SourceRecordEvent
from libs.runtime.messaging import Rejected, deferred_confirms, make_broker, parse_event, publish
from tools.devstack import new_scratch_topic


async def _topic(bootstrap: str, partitions: int = 4) -> str:
    return await new_scratch_topic(bootstrap, "test.publish", partitions)


def _event(key: str, n: int, description: str = "") -> SourceRecordEvent:
    return SourceRecordEvent.upsert(PartnerRecord(source="test", source_record_id=key, url="https://t.example/x",
                                                  title=f"{key} {n}", description=description or None))


async def _read(bootstrap: str, topic: str, want: int) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=f"{topic}-reader", enable_auto_commit=False)
    await consumer.start()
    out: list = []
    try:
        for _ in range(100):
            for records in (await consumer.getmany(timeout_ms=200)).values():
                out += records
            if len(out) >= want:
                break
    finally:
        await consumer.stop()
    return out


async def test_a_queued_batch_lands_whole_on_each_keys_partition_in_order(bootstrap):
    topic = await _topic(bootstrap)
    # small producer batches (32 KiB): the 15 KB descriptions fill them, so a partition's queue
    # goes out in several record batches
    broker = KafkaBroker(bootstrap, acks="all", logger=None, max_batch_size=32 * 1024)
    keys = [f"k{i}" for i in range(12)]
    big = "x" * 15_000
    await broker.start()
    try:
        async with deferred_confirms():
            for n in range(30):
                for key in keys:
                    await publish(broker, topic, _event(key, n, big if n % 3 == 0 else ""), key=key)
    finally:
        await broker.stop()
    records = await _read(bootstrap, topic, 30 * len(keys))
    assert len(records) == 30 * len(keys), "every queued message is sent"
    reference = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await reference.start()
    try:
        await reference.client._wait_on_metadata(topic)
        expected = {k: reference._partition(topic, None, k.encode(), None, k.encode(), None) for k in keys}
    finally:
        await reference.stop()
    by_key: dict[str, list[tuple[int, int]]] = {}
    for r in records:
        event = SourceRecordEvent.model_validate_json(r.value)
        by_key.setdefault(r.key.decode(), []).append((r.partition, int(event.record.title.split()[-1])))
        assert dict(r.headers)["correlation_id"] == event.correlation_id.encode()
    assert len({p for k in keys for p, _ in by_key[k]}) > 1, "keys spread over partitions"
    for key in keys:
        assert {p for p, _ in by_key[key]} == {expected[key]}, "a key lands where aiokafka's partitioner puts it"
        assert [n for _, n in by_key[key]] == list(range(30)), "per-key order kept"


async def test_a_block_that_fails_sends_nothing(bootstrap):
    topic = await _topic(bootstrap, partitions=1)
    broker = make_broker("publishtest", bootstrap)
    await broker.start()
    try:
        with pytest.raises(RuntimeError):
            async with deferred_confirms():
                await publish(broker, topic, _event("a", 1), key="a")
                raise RuntimeError("handler failed after publishing")
        await publish(broker, topic, _event("b", 2), key="b")  # outside a block: sent and confirmed at once
    finally:
        await broker.stop()
    records = await _read(bootstrap, topic, 1)
    assert [r.key for r in records] == [b"b"], "the failed block's queue was dropped, the next publish landed"


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1E+400"])
def test_non_finite_numbers_are_not_json(literal):
    event = ProjectGeocoded.model_validate_json(
        b'{"op":"upsert","source":"a","source_record_id":"1","location":{"lat":1.5}}')
    good = event.model_dump_json().encode()
    assert parse_event(ProjectGeocoded, good) == event
    bad = good.replace(b'"lat":1.5', b'"lat":' + literal)
    assert bad != good
    with pytest.raises(Rejected, match=r"^payload is not valid JSON \(UTF-8\): "):
        parse_event(ProjectGeocoded, bad)
    # a string that merely mentions NaN or an exponent-like word is still accepted (orjson agrees)
    mention = good.replace(b'"source_record_id":"1"', b'"source_record_id":"NaN e123"')
    assert mention != good and parse_event(ProjectGeocoded, mention).source_record_id == "NaN e123"
