"""The shared consumer loop against the real embedded broker: commit, retry, dead letter."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from libs.contracts.events import PartnerRecord, SourceRecordEvent
from libs.runtime import messaging
from libs.runtime.messaging import (
    Rejected,
    batch_consumer,
    consumer,
    make_broker,
)
from tests.conftest import read_deadletters, wait_until
from tools.devstack import new_scratch_topic


async def _topic(bootstrap: str) -> str:
    return await new_scratch_topic(bootstrap, "test.loop")


def _event(title: str) -> SourceRecordEvent:
    return SourceRecordEvent.upsert(PartnerRecord(source="test", source_record_id=title, url="https://t.example/x",
                                                  title=title))


async def _letters(bootstrap: str, topic: str, expected: int, timeout: float = 20) -> list[dict]:
    return await read_deadletters(bootstrap, lambda d: d["origin_topic"] == topic, want=expected, timeout=timeout)


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(messaging, "MAX_BACKOFF_S", 0.05)


async def test_good_bad_rejected_poison_and_transient_messages(bootstrap, fast_retries):
    topic = await _topic(bootstrap)
    broker = make_broker("looptest", bootstrap)
    handled: list[str] = []
    attempts: dict[str, int] = {}

    @consumer(broker, service="looptest", topics=topic, group_id=f"g-{topic}", model=SourceRecordEvent)
    async def on_event(event: SourceRecordEvent) -> str:
        title = event.record.title
        attempts[title] = attempts.get(title, 0) + 1
        if title == "rejected":
            raise Rejected("not for us")
        if title == "poison":
            raise RuntimeError("boom")
        if title == "flaky" and attempts[title] <= 2:
            raise ConnectionRefusedError("database down")
        handled.append(title)
        return "ok"

    await broker.start()
    try:
        for payload in [_event("first").model_dump_json().encode(), b"{broken", b"[1, 2]",
                        _event("rejected").model_dump_json().encode(), _event("poison").model_dump_json().encode(),
                        _event("flaky").model_dump_json().encode(), _event("last").model_dump_json().encode()]:
            await broker.publish(payload, topic, key=b"k")

        async def done():
            return handled if "last" in handled else None

        await wait_until(done, timeout=30, what="the last message handled")
    finally:
        await broker.stop()

    assert handled == ["first", "flaky", "last"], "order kept, transient failure retried until it passed"
    assert attempts["flaky"] == 3
    assert attempts["poison"] == messaging.POISON_RETRIES + 1, "a poison message is tried a bounded number of times"
    letters = await _letters(bootstrap, topic, expected=4)
    reasons = sorted(d["reason"] for d in letters)
    assert len(letters) == 4, reasons
    assert any("not valid JSON" in r for r in reasons)
    assert any("must be a JSON object" in r for r in reasons)
    assert any(r == "not for us" for r in reasons)
    assert any("RuntimeError: boom" in r for r in reasons)
    assert all(d["service"] == "looptest" and d["origin_offset"] is not None for d in letters)

    sample = REGISTRY.get_sample_value
    assert sample("carrefour_deadletters_total", {"service": "looptest", "topic": topic}) == 4
    assert sample("carrefour_events_total", {"service": "looptest", "topic": topic, "result": "ok"}) == 3
    assert sample("carrefour_retries_total", {"service": "looptest", "kind": "transient"}) >= 2


async def test_commit_after_handling_means_a_restart_resumes_without_loss(bootstrap):
    """Messages handled by one consumer are not seen again by its successor in the group."""
    topic = await _topic(bootstrap)
    group = f"g-{topic}"

    async def run(expect: int) -> list[str]:
        seen: list[str] = []
        broker = make_broker("looptest", bootstrap)

        @consumer(broker, service="looptest", topics=topic, group_id=group, model=SourceRecordEvent)
        async def on_event(event: SourceRecordEvent) -> None:
            seen.append(event.record.title)

        await broker.start()
        try:
            async def enough():
                return len(seen) >= expect

            await wait_until(enough, timeout=30, what=f"{expect} messages")
        finally:
            await broker.stop()
        return seen

    producer = make_broker("producer", bootstrap)
    await producer.connect()
    for i in range(3):
        await producer.publish(_event(f"a{i}").model_dump_json().encode(), topic, key=b"k")
    first = await run(3)
    for i in range(2):
        await producer.publish(_event(f"b{i}").model_dump_json().encode(), topic, key=b"k")
    second = await run(2)
    await producer.stop()
    assert first == ["a0", "a1", "a2"]
    assert second == ["b0", "b1"], "committed messages are not redelivered to the next consumer"


async def test_batch_consumer_handles_batches_and_isolates_a_poison_event(bootstrap, fast_retries):
    topic = await _topic(bootstrap)
    broker = make_broker("batchtest", bootstrap)
    batches: list[list[str]] = []
    flaky = {"left": 1}

    @batch_consumer(broker, service="batchtest", topics=topic, group_id=f"g-{topic}", model=SourceRecordEvent)
    async def on_events(events: list[SourceRecordEvent]) -> list[str]:
        titles = [e.record.title for e in events]
        if "poison" in titles:
            raise RuntimeError("boom")
        if len(titles) > 1 and flaky["left"]:
            flaky["left"] -= 1
            raise ConnectionResetError("database went away")
        batches.append(titles)
        return ["ok"] * len(events)

    producer = make_broker("producer", bootstrap)
    await producer.connect()
    titles = [f"t{i}" for i in range(30)]
    for t in titles[:15]:
        await producer.publish(_event(t).model_dump_json().encode(), topic, key=b"k")

    def flat():
        return [t for b in batches for t in b]

    await broker.start()
    try:
        await wait_until(lambda: _has(flat, "t14"), timeout=30, what="the first events handled")
        await producer.publish(b"{nope", topic, key=b"k")
        await producer.publish(_event("poison").model_dump_json().encode(), topic, key=b"k")
        for t in titles[15:]:
            await producer.publish(_event(t).model_dump_json().encode(), topic, key=b"k")
        await wait_until(lambda: _has(flat, "t29"), timeout=30, what="every good event handled")
        handled = flat()
    finally:
        await broker.stop()
        await producer.stop()
    assert handled == titles, "each good event handled once, in order, the poison one left out"
    assert max(len(b) for b in batches) > 1, "events are handled in batches"
    letters = await _letters(bootstrap, topic, expected=2)
    reasons = sorted(d["reason"] for d in letters)
    assert len(letters) == 2 and "RuntimeError: boom" in reasons[0] + reasons[1]


async def _has(flat, title: str) -> bool:
    return title in flat()
