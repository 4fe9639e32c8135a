"""Publishing events: one at a time with its acknowledgement awaited, or queued and sent in
batches (one record batch per partition, one wait for every acknowledgement).

The batch path talks to the broker client's aiokafka producer directly: faststream's publish
adds a command object, a codec and middlewares per message that cost more than the send itself
(see docs/performance.md). Partitions are chosen by the producer's own partitioner, so a key
lands on the same partition whichever path sent it.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from libs.contracts.events import Event

MAX_BATCH_BYTES = 256 * 1024
"""Largest record batch the producer builds (a quarter of the topics' 1 MiB message limit)."""

Queued = tuple[str, bytes, bytes, list[tuple[str, bytes]]]  # topic, key, value, headers


class _Queue:
    __slots__ = ("broker", "messages")

    def __init__(self) -> None:
        self.broker: KafkaBroker | None = None
        self.messages: list[Queued] = []


_PENDING: ContextVar[_Queue | None] = ContextVar("carrefour_pending_publishes", default=None)


def encode(event: BaseModel) -> bytes:
    return type(event).__pydantic_serializer__.to_json(event)


def _headers(event: Event) -> list[tuple[str, bytes]]:
    return [("content-type", b"application/json"), ("correlation_id", event.correlation_id.encode())]


def raw_producer(broker: KafkaBroker) -> Any | None:
    """The connected aiokafka producer behind a faststream broker, or None (not started, test broker)."""
    try:
        producer = broker.config.producer._producer.producer  # type: ignore[attr-defined]
    except AttributeError:
        return None
    return None if getattr(producer, "_closed", True) else producer


async def publish(broker: KafkaBroker, topic: str, event: Event, key: str) -> None:
    """Publish; the broker's acknowledgement is awaited before the input is committed.

    Outside :func:`deferred_confirms` this waits for the acknowledgement at once. Inside (the
    batch consumer loop, a bulk push), it only queues the message; the block sends every queued
    message in one record batch per partition and awaits every acknowledgement at its end — one
    round trip per batch instead of one per message, same guarantee: nothing is committed or
    answered before the broker has the output.
    """
    pending = _PENDING.get()
    value, headers = encode(event), _headers(event)
    if pending is not None:
        pending.broker = broker
        pending.messages.append((topic, key.encode(), value, headers))
        return
    producer = raw_producer(broker)
    if producer is None:
        await broker.publish(value, topic, key=key.encode(), headers={k: v.decode() for k, v in headers})
    else:
        await (await producer.send(topic, value, key=key.encode(), headers=headers))


@asynccontextmanager
async def deferred_confirms():
    """Within the block, :func:`publish` only queues; on exit the queue is sent (one record batch
    per partition) and every acknowledgement awaited. An error raises here, so the caller does
    not commit or answer success. Nothing is sent if the block itself raises."""
    pending = _Queue()
    token = _PENDING.set(pending)
    try:
        yield
    finally:
        _PENDING.reset(token)
    if pending.messages and pending.broker is not None:
        await send_all(pending.broker, pending.messages)


async def send_all(broker: KafkaBroker, messages: list[Queued]) -> None:
    """Send queued messages grouped into record batches per partition; await every acknowledgement."""
    producer = raw_producer(broker)
    if producer is None:  # not connected through aiokafka (a test broker): one publish each
        each = [await broker.publish(v, t, key=k, headers={h: b.decode() for h, b in hs}, no_confirm=True)
                for t, k, v, hs in messages]
        await asyncio.gather(*each)
        return
    by_partition: dict[tuple[str, int], list[Queued]] = {}
    limit = getattr(producer, "_max_request_size", 1024 * 1024)
    futures: list[asyncio.Future] = []
    known: set[str] = set()
    for message in messages:
        topic, key, value, headers = message
        if len(value) + len(key) > limit:  # refused by the producer itself, as a single send would be
            futures.append(await producer.send(topic, value, key=key, headers=headers))
            continue
        if topic not in known:
            await producer.client._wait_on_metadata(topic)
            known.add(topic)
        partition = producer._partition(topic, None, key, value, key, value)
        by_partition.setdefault((topic, partition), []).append(message)
    for (topic, partition), queued in by_partition.items():
        batch = producer.create_batch()
        for _, key, value, headers in queued:
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None, headers=headers)  # a first record always fits
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    await asyncio.gather(*futures)
