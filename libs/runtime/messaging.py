"""The consumer loop every service uses: parse, validate, handle, dead-letter, log, commit.

Delivery is at-least-once: a message is committed only after its handler's side effects
(database writes, downstream publishes confirmed by the broker) are done. Handlers are
idempotent, so a redelivery changes nothing.

Failures are sorted:
- the payload is not a valid event → one record on ``deadletter.v1`` with the reason, commit;
- the handler raises :class:`Rejected` → dead letter with its reason, commit;
- a transient failure (database, broker, network down) → retried with back-off until it
  succeeds or the service stops (then the message is redelivered on restart); nothing lost;
- any other exception (a bug, a poison message) → retried ``POISON_RETRIES`` times, then
  dead-lettered with the error, so one bad message never blocks a partition forever.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
import structlog
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from libs.contracts.events import (
    DEADLETTER_EXCERPT_CHARS,
    DEADLETTER_KEY_CHARS,
    DEADLETTER_REASON_CHARS,
    DeadLetter,
    Event,
    describe_validation_error,
)
from libs.contracts.topics import DEADLETTER
from libs.runtime import kafka, metrics
from libs.runtime.publishing import MAX_BATCH_BYTES, deferred_confirms, encode, publish  # noqa: F401 (re-exported)
from libs.runtime.retry import retry_transient
from libs.runtime.transient import is_transient

log = structlog.get_logger()

POISON_RETRIES = 3
BATCH_SIZE = 200
MAX_BACKOFF_S = 30.0
_CID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")

M = TypeVar("M", bound=Event)

SUBSCRIPTIONS: dict[str, set[str]] = {}
"""Consumer group → topics, as registered in this process (watched by the health monitor)."""


class Rejected(Exception):
    """Raised by a handler for input it will never accept; the reason goes to the dead letter."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_NON_FINITE = re.compile(rb"NaN|Infinity|[eE][+]?[0-9]{3}")
"""What may make a non-finite float: pydantic's JSON parser reads ``NaN``, ``Infinity`` and an
overflowing exponent, which JSON (and orjson) refuse; a payload containing one is checked by orjson."""


def parse_event(model: type[M], body: bytes) -> M:
    """Bytes → event, raising :class:`Rejected` with a readable reason.

    Parsed and validated in one pass by pydantic's Rust core (no intermediate Python objects);
    a payload that fails is parsed again by orjson only to word the reason."""
    try:
        if _NON_FINITE.search(body):
            orjson.loads(body)  # NaN, Infinity, 1e999 are not JSON: refused as before
        return model.model_validate_json(body)
    except orjson.JSONDecodeError as exc:
        raise Rejected(f"payload is not valid JSON (UTF-8): {exc}") from None
    except ValidationError as exc:
        first: Mapping[str, Any] = exc.errors()[0] if exc.error_count() else {}
        if first.get("type") == "json_invalid" or (first.get("type") == "model_type" and not first.get("loc")):
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError as bad:
                raise Rejected(f"payload is not valid JSON (UTF-8): {bad}") from None
            if not isinstance(data, dict):
                raise Rejected(f"payload must be a JSON object, got {type(data).__name__}") from None
            if first.get("type") == "json_invalid":  # JSON orjson reads but pydantic does not (nesting)
                raise Rejected(f"payload is not valid JSON (UTF-8): {first.get('msg')}") from None
        raise Rejected(f"invalid {model.__name__}: {describe_validation_error(exc)}") from None


_LETTER_NS = uuid.UUID("6f1d3c1e-8a43-4d6e-9d0c-7f3a2b1c0d9e")


def letter_id(service: str, topic: str, partition: int | None, offset: int | None) -> uuid.UUID:
    """The same message dead-lettered twice (a redelivery) gets the same letter id."""
    if partition is None or offset is None:
        return uuid.uuid4()
    return uuid.uuid5(_LETTER_NS, f"{service}|{topic}|{partition}|{offset}")


def build_dead_letter(
    *,
    service: str,
    topic: str,
    body: bytes,
    reason: str,
    error_type: str,
    key: bytes | None = None,
    partition: int | None = None,
    offset: int | None = None,
    correlation_id: str | None = None,
    with_payload: bool = True,
) -> DeadLetter:
    """A bounded envelope for any input: an excerpt of the payload plus its size and hash."""
    excerpt = body[: DEADLETTER_EXCERPT_CHARS * 4].decode("utf-8", "replace")[:DEADLETTER_EXCERPT_CHARS]
    if not with_payload:
        excerpt = ""
    cid = correlation_id if correlation_id and _CID.fullmatch(correlation_id) else None
    return DeadLetter(
        event_id=letter_id(service, topic, partition, offset),
        service=service[:100],
        origin_topic=topic[:300],
        origin_partition=partition,
        origin_offset=offset,
        origin_key=key.decode("utf-8", "replace")[:DEADLETTER_KEY_CHARS] if key else None,
        reason=reason[:DEADLETTER_REASON_CHARS],
        error_type=error_type[:200],
        payload=excerpt,
        payload_truncated=excerpt.encode() != body,
        payload_bytes=len(body),
        payload_sha256=hashlib.sha256(body).hexdigest(),
        **({"correlation_id": cid} if cid else {}),
    )


async def dead_letter(broker: KafkaBroker, **fields: Any) -> DeadLetter | None:
    """Write one dead letter and wait for the broker's acknowledgement.

    Never loops and never raises for the letter itself: if the full envelope cannot be written,
    a letter without the excerpt is tried; if that fails too, the loss is logged at error level
    and counted in ``carrefour_deadletter_failures_total`` and ``None`` is returned, so the
    caller commits past the message instead of retrying it forever. Only a transient failure
    (broker unreachable) is raised, for the caller to retry later.
    """
    error: BaseException | None = None
    for with_payload in (True, False):
        try:
            letter = build_dead_letter(with_payload=with_payload, **fields)
            await broker.publish(encode(letter), DEADLETTER, key=(letter.origin_key or str(letter.event_id)).encode(),
                                 headers={"correlation_id": letter.correlation_id,
                                          "content-type": "application/json"})
            return letter
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 — sorted below: transient is raised, the rest counted
            if is_transient(exc):
                raise
            error = exc
    metrics.DEADLETTER_FAILURES.labels(fields.get("service", "?"), str(fields.get("topic", "?"))[:100]).inc()
    log.error("dead letter could not be written; message skipped", error=f"{type(error).__name__}: {error}",
              origin_topic=fields.get("topic"), origin_partition=fields.get("partition"),
              origin_offset=fields.get("offset"), payload_bytes=len(fields.get("body", b"")),
              reason=str(fields.get("reason", ""))[:500])
    return None


async def _raw_body(msg: Any) -> bytes:
    # async: faststream runs a synchronous decoder in a worker thread, one hop per batch for nothing
    return msg.body


Handler = Callable[[M], Awaitable[str | None]]


def consumer(
    broker: KafkaBroker,
    *,
    service: str,
    topics: str | tuple[str, ...],
    group_id: str,
    model: type[M],
    max_workers: int = 1,
) -> Callable[[Handler], Handler]:
    """Register ``fn(event) -> outcome`` as a consumer-group subscriber of ``topics``."""

    topic_list = (topics,) if isinstance(topics, str) else topics
    SUBSCRIPTIONS.setdefault(group_id, set()).update(topic_list)

    def register(fn: Handler) -> Handler:
        common: dict[str, Any] = dict(
            group_id=group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_raw_body,
            title=f"{service}:{fn.__name__}",
        )
        if max_workers > 1:  # concurrent, one message at a time per worker
            async def _subscriber(body: bytes, message: KafkaMessage) -> None:
                raw = message.raw_message
                await run_one(broker, service, model, fn, body, raw)
                _record_lag(service, message, raw)

            _subscriber.__name__ = _subscriber.__qualname__ = fn.__name__
            broker.subscriber(*topic_list, max_workers=max_workers, **common)(_subscriber)
            return fn

        # default: batches of up to BATCH_SIZE records, handled in order (per-key order kept),
        # output acknowledgements awaited once per batch, then one commit
        async def _batch(body: list[bytes], message: KafkaMessage) -> None:
            records = message.raw_message
            _log_received(records)
            async with deferred_confirms():
                for raw in records:
                    await run_one(broker, service, model, fn, raw.value or b"", raw)
            _record_batch_lag(service, message, records)

        _batch.__name__ = _batch.__qualname__ = fn.__name__
        broker.subscriber(*topic_list, batch=True, max_records=BATCH_SIZE, batch_timeout_ms=100, **common)(_batch)
        return fn

    return register


def _log_received(records: tuple) -> None:
    """One line per partition of a polled batch, before any of it is handled: with the group's
    committed offsets it tells what a crash now would redeliver."""
    spans: dict[tuple[str, int], list[int]] = {}
    for raw in records:
        span = spans.setdefault((raw.topic, raw.partition), [raw.offset, raw.offset])
        span[1] = raw.offset
    for (topic, partition), (first, last) in spans.items():
        log.info("batch received", topic=topic, partition=partition, first_offset=first, last_offset=last,
                 size=last - first + 1)


def _record_batch_lag(service: str, message: Any, records: tuple) -> None:
    last: dict[tuple[str, int], Any] = {}
    for raw in records:
        last[(raw.topic, raw.partition)] = raw
    for raw in last.values():
        _record_lag(service, message, raw)


def _record_lag(service: str, message: Any, raw: Any) -> None:
    try:
        from aiokafka import TopicPartition

        high = message.consumer.highwater(TopicPartition(raw.topic, raw.partition))
        if high is not None:
            metrics.LAG.labels(service, raw.topic, str(raw.partition)).set(max(high - raw.offset - 1, 0))
    except Exception:  # noqa: BLE001 — metrics never break consumption
        pass


BatchHandler = Callable[[list[M]], Awaitable[list[str | None]]]


def batch_consumer(
    broker: KafkaBroker,
    *,
    service: str,
    topics: str | tuple[str, ...],
    group_id: str,
    model: type[M],
) -> Callable[[BatchHandler], BatchHandler]:
    """Register ``fn(events) -> outcomes`` to handle each polled batch at once (bulk database work).

    Same guarantees as :func:`consumer`: invalid payloads are dead-lettered one by one; a transient
    failure retries the whole batch; if the batch raises anything else, its events are handled
    again one at a time (``fn([event])``), so a poison event is isolated and dead-lettered alone.
    One log line per event.
    """
    topic_list = (topics,) if isinstance(topics, str) else topics
    SUBSCRIPTIONS.setdefault(group_id, set()).update(topic_list)

    def register(fn: BatchHandler) -> BatchHandler:
        async def single(event: M) -> str | None:
            return (await fn([event]))[0]

        async def _batch(body: list[bytes], message: KafkaMessage) -> None:
            records = message.raw_message
            _log_received(records)
            started = time.perf_counter()
            async with deferred_confirms():
                valid: list[tuple[M, Any]] = []
                for raw in records:
                    try:
                        valid.append((parse_event(model, raw.value or b""), raw))
                    except Rejected:
                        await run_one(broker, service, model, single, raw.value or b"", raw)  # dead-letters it
                if valid:
                    try:
                        outcomes = await _call_with_retries(fn, [e for e, _ in valid], service)
                    except (Rejected, _PoisonError):
                        for _event, raw in valid:
                            await run_one(broker, service, model, single, raw.value or b"", raw)
                    else:
                        elapsed = time.perf_counter() - started
                        for (event, raw), outcome in zip(valid, outcomes, strict=True):
                            log.info("handled", topic=raw.topic, partition=raw.partition, offset=raw.offset,
                                     event_id=str(event.event_id), correlation_id=event.correlation_id,
                                     outcome=outcome or "ok", duration_ms=round(elapsed * 1000, 2), batch=len(valid))
                            _counted(service, raw.topic, "ok").inc()
                            _timed(service, raw.topic).observe(elapsed / len(valid))
            _record_batch_lag(service, message, records)

        _batch.__name__ = _batch.__qualname__ = fn.__name__
        broker.subscriber(
            *topic_list, batch=True, max_records=BATCH_SIZE, batch_timeout_ms=100, group_id=group_id,
            auto_offset_reset="earliest", ack_policy=AckPolicy.NACK_ON_ERROR, decoder=_raw_body,
            title=f"{service}:{fn.__name__}",
        )(_batch)
        return fn

    return register


async def run_one(broker: KafkaBroker, service: str, model: type[M], fn: Handler, body: bytes, raw: Any) -> str:
    started = time.perf_counter()
    topic = getattr(raw, "topic", "?")
    key = getattr(raw, "key", None)
    # bound with tokens and reset (cheaper than bound_contextvars, which copies the whole context)
    outer = bind(topic=topic, partition=getattr(raw, "partition", None), offset=getattr(raw, "offset", None))
    event = None
    try:
        event = parse_event(model, body)
        inner = bind(event_id=str(event.event_id), correlation_id=event.correlation_id)
        try:
            outcome = await _call_with_retries(fn, event, service)
            log.info("handled", outcome=outcome or "ok", duration_ms=_ms(started))
        finally:
            reset(**inner)
        _counted(service, topic, "ok").inc()
        _timed(service, topic).observe(time.perf_counter() - started)
        return outcome or "ok"
    except Rejected as exc:
        return await _to_deadletter(broker, service, body, raw, key, exc.reason, "rejected", event, started)
    except _PoisonError as exc:
        cause = exc.__cause__
        reason = f"handler failed {POISON_RETRIES + 1} times: {type(cause).__name__}: {cause}"
        return await _to_deadletter(broker, service, body, raw, key, reason, type(cause).__name__, event, started)
    finally:
        reset(**outer)


bind, reset = structlog.contextvars.bind_contextvars, structlog.contextvars.reset_contextvars


@functools.lru_cache(maxsize=1024)
def _counted(service: str, topic: str, result: str):
    """The labelled counter child (``labels()`` takes a lock and builds a tuple on every call)."""
    return metrics.EVENTS.labels(service, topic, result)


@functools.lru_cache(maxsize=1024)
def _timed(service: str, topic: str):
    return metrics.DURATION.labels(service, topic)


class _PoisonError(Exception):
    pass


async def _to_deadletter(broker, service, body, raw, key, reason, error_type, event, started) -> str:
    topic = getattr(raw, "topic", "?")
    fields = dict(service=service, topic=topic, body=body, reason=reason, error_type=error_type, key=key,
                  partition=getattr(raw, "partition", None), offset=getattr(raw, "offset", None),
                  correlation_id=event.correlation_id if event is not None else None)
    letter = await _retry_transient(lambda: dead_letter(broker, **fields), service)
    if letter is None:  # logged and counted by dead_letter; the consumer goes on
        metrics.EVENTS.labels(service, topic, "deadletter_failed").inc()
        return "deadletter_failed"
    metrics.EVENTS.labels(service, topic, "dead_lettered").inc()
    metrics.DEADLETTERS.labels(service, topic).inc()
    log.warning(
        "handled",
        outcome="dead_lettered",
        reason=reason[:1000],
        deadletter_id=str(letter.event_id),
        event_id=str(event.event_id) if event else None,
        correlation_id=event.correlation_id if event else None,
        duration_ms=_ms(started),
    )
    return "dead_lettered"


async def _retry_transient(call: Callable[[], Awaitable[Any]], service: str) -> Any:
    """Run ``call`` until it returns, waiting out transient failures (broker or database away)."""
    return await retry_transient(call, service=service, max_wait_s=MAX_BACKOFF_S)


async def _call_with_retries(fn: Callable[[Any], Awaitable[Any]], event: Any, service: str = "?") -> Any:
    """Transient failures are waited out; any other error is retried ``POISON_RETRIES`` times."""
    failures = 0
    while True:
        try:
            return await _retry_transient(lambda: fn(event), service)
        except (Rejected, asyncio.CancelledError):
            raise
        except Exception as exc:
            failures += 1
            metrics.RETRIES.labels(service, "error").inc()
            log.error("handler error", error=f"{type(exc).__name__}: {exc}", attempt=failures, exc_info=exc)
            if failures > POISON_RETRIES:
                raise _PoisonError() from exc
            await asyncio.sleep(0.1 * failures)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def make_broker(service: str, bootstrap: str) -> KafkaBroker:
    """One broker client per service process; producer waits for all in-sync replicas."""
    return KafkaBroker(bootstrap, client_id=f"carrefour-{service}", acks="all", logger=None,
                       max_batch_size=MAX_BATCH_BYTES, **kafka.broker_options())
