"""A dead letter can always be written: every payload size around each limit, through the real
consumer loop and broker, followed by a good record with the same key (so on the same partition)."""

from __future__ import annotations

import hashlib
import uuid

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from libs.contracts.events import DEADLETTER_EXCERPT_CHARS, DeadLetter
from libs.runtime import messaging
from libs.runtime.messaging import build_dead_letter, consumer, make_broker
from tests.conftest import read_deadletters, wait_until
from tests.integration.test_messaging import _event, _topic

CONTRACT_CHARS = 100_000  # the contracts' longest string
BROKER_BYTES = 1024 * 1024  # the broker's and producer's default message limit

SIZES = sorted({1, DEADLETTER_EXCERPT_CHARS - 1, DEADLETTER_EXCERPT_CHARS, DEADLETTER_EXCERPT_CHARS + 1,
                CONTRACT_CHARS - 1, CONTRACT_CHARS, CONTRACT_CHARS + 1, 150_000, 262_144, 262_145,
                BROKER_BYTES - 4096})


def _bad(size: int, fill: bytes) -> bytes:
    return (fill * (size // len(fill) + 1))[:size]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("fill", [b"x", b"\x01", "é".encode(), b"\xff"])
def test_the_envelope_is_bounded_for_every_size_and_content(size, fill):
    body = _bad(size, fill)
    letter = build_dead_letter(service="s", topic="t", body=body, reason="r" * 10_000, error_type="rejected",
                               key=b"k" * 5_000, partition=0, offset=7)
    encoded = messaging.encode(letter)
    assert len(encoded) < BROKER_BYTES // 2
    assert len(letter.payload) <= DEADLETTER_EXCERPT_CHARS and len(letter.reason) == 4_000
    assert letter.payload_bytes == len(body) and letter.payload_sha256 == hashlib.sha256(body).hexdigest()
    assert letter.payload_truncated == (letter.payload.encode() != body)
    assert DeadLetter.model_validate_json(encoded) == letter  # it reads back under its own contract
    if fill == b"x":
        assert letter.payload_truncated == (size > DEADLETTER_EXCERPT_CHARS)
    assert build_dead_letter(service="s", topic="t", body=body, reason="r", error_type="e", partition=0,
                             offset=7).event_id == letter.event_id, "a redelivery makes the same letter"


async def _produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=2 * BROKER_BYTES)
    await producer.start()
    try:
        for value, key in items:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def test_oversize_bad_messages_are_dead_lettered_once_and_never_block_their_partition(bootstrap):
    topic = await _topic(bootstrap)
    broker = make_broker("limitstest", bootstrap)
    handled: list[str] = []

    @consumer(broker, service="limitstest", topics=topic, group_id=f"g-{topic}", model=type(_event("x")))
    async def on_event(event) -> str:
        handled.append(event.record.title)
        return "ok"

    items = []
    for size in SIZES:  # every bad message is followed by a good one with the same key: same partition
        items.append((_bad(size, b"\x01"), b"same-key"))
        items.append((_event(f"good-{size}").model_dump_json().encode(), b"same-key"))
    await _produce(bootstrap, topic, items)
    await broker.start()
    try:
        async def all_good():
            return handled if len(handled) >= len(SIZES) else None

        await wait_until(all_good, timeout=60, what="every good record behind the bad ones")
    finally:
        await broker.stop()
    assert handled == [f"good-{size}" for size in SIZES], "in order, none lost"
    letters = await read_deadletters(bootstrap, lambda d: d["origin_topic"] == topic, want=len(SIZES) + 1,
                                     timeout=5)
    assert sorted(d["payload_bytes"] for d in letters) == SIZES, "each bad message dead-lettered exactly once"
    assert all("not valid JSON" in d["reason"] and d["origin_offset"] is not None for d in letters)


async def test_when_not_even_a_bounded_letter_can_be_written_the_loss_is_logged_counted_and_passed(
        bootstrap, monkeypatch):
    topic = await _topic(bootstrap)
    broker = make_broker("lettertest", bootstrap)
    handled: list[str] = []
    attempts = []

    def broken(**fields):
        attempts.append(fields["with_payload"])
        raise ValueError("envelope refused")

    monkeypatch.setattr(messaging, "build_dead_letter", broken)

    @consumer(broker, service="lettertest", topics=topic, group_id=f"g-{topic}", model=type(_event("x")))
    async def on_event(event) -> str:
        handled.append(event.record.title)
        return "ok"

    await _produce(bootstrap, topic, [(b"{bad", b"k"), (_event("after").model_dump_json().encode(), b"k")])
    await broker.start()
    try:
        await wait_until(lambda: _async(handled), timeout=30, what="the good record after the lost letter")
    finally:
        await broker.stop()
    assert handled == ["after"]
    assert attempts == [True, False], "the full letter, then one without the excerpt, then give up"
    assert REGISTRY.get_sample_value("carrefour_deadletter_failures_total",
                                     {"service": "lettertest", "topic": topic}) == 1


async def _async(value):
    return value


def test_a_letter_from_the_http_edge_has_no_position_and_a_fresh_id():
    a = build_dead_letter(service="gateway", topic="http:/x", body=b"1", reason="r", error_type="e")
    b = build_dead_letter(service="gateway", topic="http:/x", body=b"1", reason="r", error_type="e")
    assert a.event_id != b.event_id and a.origin_offset is None
    assert orjson.loads(messaging.encode(a))["payload_bytes"] == 1
    assert uuid.UUID(str(a.event_id))


async def test_the_dead_letter_topic_is_created_bounded_in_time_and_bytes(bootstrap):
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from libs.contracts.topics import DEADLETTER, TOPIC_CONFIGS

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, DEADLETTER)])
    finally:
        await admin.close()
    entries = {e[0]: e[1] for e in response.resources[0][4]}
    assert {k: entries.get(k) for k in TOPIC_CONFIGS[DEADLETTER]} == TOPIC_CONFIGS[DEADLETTER]
