"""Health of a pipeline service, seen from the broker: lag and stalled partitions per group.

:class:`GroupMonitor` reads, every ``interval_s``, each watched group's committed offsets and the
partitions' watermarks from the broker (not from the consumer's own memory, which a looping
consumer would keep fresh), exports ``carrefour_group_lag`` and ``carrefour_group_stalled`` and
keeps the stalled list for ``/ready``. :func:`serve_health` answers on the metrics port:
``/metrics`` (Prometheus), ``/live`` (the process answers) and ``/ready`` (503 with the stalled
partitions when a group is stuck, or when the broker could not be read lately).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from libs.runtime import kafka, metrics
from libs.runtime.progress import Stall, StallDetector

log = structlog.get_logger()


class GroupMonitor:
    def __init__(self, bootstrap: str, groups: dict[str, set[str]], *, stall_after_s: float,
                 interval_s: float = 15.0):
        self.bootstrap = bootstrap
        self.groups = groups
        self.interval_s = interval_s
        self.detector = StallDetector(stall_after_s)
        self.stalls: list[Stall] = []
        self.last_ok: float | None = None  # monotonic time of the last complete read
        self.last_error: str | None = None

    async def check_once(self) -> list[Stall]:
        now = time.monotonic()
        for (group, topic, partition), (committed, low, high) in (
                await group_offsets(self.bootstrap, self.groups)).items():
            lag = self.detector.observe(group, topic, partition, committed=committed, low=low, high=high, now=now)
            labels = (group, topic, str(partition))
            metrics.GROUP_LAG.labels(*labels).set(lag)
            metrics.GROUP_STALLED.labels(*labels).set(1 if self.detector.is_stalled(group, topic, partition, now) else 0)
        self.stalls = self.detector.stalled(now)
        self.last_ok, self.last_error = now, None
        for stall in self.stalls:
            log.error("consumer group stalled", group=stall.group, topic=stall.topic, partition=stall.partition,
                      lag=stall.lag, stuck_for_s=stall.stuck_for_s)
        return self.stalls

    async def run(self) -> None:
        while True:
            try:
                await self.check_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — the broker away is a readiness fact, not a crash
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("consumer health check failed", error=self.last_error)
            await asyncio.sleep(self.interval_s)

    def readiness(self) -> tuple[bool, dict]:
        fresh = self.last_ok is not None and time.monotonic() - self.last_ok <= max(3 * self.interval_s, 60)
        body = {
            "status": "ready" if fresh and not self.stalls else "degraded",
            "stalled": [s.__dict__ for s in self.stalls],
            "broker_read": "ok" if fresh else (self.last_error or "not read yet"),
        }
        return body["status"] == "ready", body


Offsets = dict[tuple[str, str, int], tuple[int | None, int, int]]


async def group_offsets(bootstrap: str, groups: dict[str, set[str]] | dict[str, tuple[str, ...]]) -> Offsets:
    """(group, topic, partition) → (committed offset or None, low watermark, high watermark), read
    from the broker for every partition of each group's topics."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, **kafka.client_options(),
                              client_id=f"carrefour-health-{uuid.uuid4().hex[:6]}")
    await reader.start()
    out: Offsets = {}
    try:
        for group, topics in sorted(groups.items()):
            parts = [TopicPartition(t, p) for t in sorted(topics)
                     for p in sorted(reader.partitions_for_topic(t) or await _partitions(reader, t))]
            if not parts:
                continue
            committed = await committed_offsets(bootstrap, group, parts)
            low, high = await reader.beginning_offsets(parts), await reader.end_offsets(parts)
            out.update({(group, tp.topic, tp.partition): (committed[tp], low[tp], high[tp]) for tp in parts})
    finally:
        await reader.stop()
    return out


async def committed_offsets(bootstrap: str, group: str, parts: list[TopicPartition]) -> dict[TopicPartition, int | None]:
    """The group's committed offsets, asked as the group's own consumers ask (OffsetFetch through
    the coordinator); the client never subscribes, so it neither joins nor rebalances the group."""
    client = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                              **kafka.client_options(),
                              client_id="carrefour-health")
    await client.start()
    try:
        return {tp: await client.committed(tp) for tp in parts}
    finally:
        await client.stop()


async def _partitions(reader: AIOKafkaConsumer, topic: str) -> set[int]:
    await reader._client.force_metadata_update()  # noqa: SLF001 — aiokafka has no public refresh
    return reader.partitions_for_topic(topic) or set()


def serve_health(host: str, port: int, monitor: GroupMonitor | None) -> ThreadingHTTPServer:
    """Serve /metrics, /live and /ready from a daemon thread; returns the server (``.shutdown()``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 — http.server's name
            path = self.path.split("?")[0]
            if path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif path in ("/live", "/health"):
                self._send(200, b'{"status":"ok"}', "application/json")
            elif path == "/ready":
                ok, body = monitor.readiness() if monitor else (True, {"status": "ready"})
                self._send(200 if ok else 503, orjson.dumps(body), "application/json")
            else:
                self._send(404, b'{"error":"not found"}', "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # probes every few seconds: not worth a log line each
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health-http", daemon=True).start()
    return server
