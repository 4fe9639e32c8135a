"""Stuck consumers are visible: lag and stalled partitions read from the real broker, /ready turns 503."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from libs.runtime import metrics
from libs.runtime.health import GroupMonitor, serve_health
from tests.integration.test_messaging import _topic
from tools.devstack import free_port


async def _topic_with(bootstrap: str, n: int) -> str:
    topic = await _topic(bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for i in range(n):
            await producer.send_and_wait(topic, f"m{i}".encode())
    finally:
        await producer.stop()
    return topic


async def _commit(bootstrap: str, group: str, topic: str, offset: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.commit({tp: offset})
    finally:
        await consumer.stop()


async def test_a_committed_offset_that_stands_still_under_lag_is_stalled_and_ready_says_503(bootstrap):
    topic = await _topic_with(bootstrap, 5)
    group = f"g-{uuid.uuid4().hex[:8]}"
    await _commit(bootstrap, group, topic, 2)
    monitor = GroupMonitor(bootstrap, {group: {topic}}, stall_after_s=1.0, interval_s=0.2)
    port = free_port()
    server = serve_health("127.0.0.1", port, monitor)
    try:
        assert await monitor.check_once() == []  # lag, but not for long yet
        assert metrics.GROUP_LAG.labels(group, topic, "0")._value.get() == 3
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{port}/ready")).status_code == 200
            await asyncio.sleep(1.1)
            stalls = await monitor.check_once()
            assert [(s.group, s.topic, s.partition, s.lag) for s in stalls] == [(group, topic, 0, 3)]
            assert metrics.GROUP_STALLED.labels(group, topic, "0")._value.get() == 1
            answer = await http.get(f"http://127.0.0.1:{port}/ready")
            assert answer.status_code == 503
            assert answer.json()["stalled"][0]["lag"] == 3
            assert (await http.get(f"http://127.0.0.1:{port}/live")).status_code == 200
            assert b"carrefour_group_stalled" in (await http.get(f"http://127.0.0.1:{port}/metrics")).content

            await _commit(bootstrap, group, topic, 4)  # it moves again: no longer stalled
            assert await monitor.check_once() == []
            assert (await http.get(f"http://127.0.0.1:{port}/ready")).status_code == 200
            await asyncio.sleep(1.1)  # still lag 1 and standing still: stalled again
            assert len(await monitor.check_once()) == 1
            await _commit(bootstrap, group, topic, 5)  # caught up: lag 0 is never a stall
            await asyncio.sleep(1.1)
            assert await monitor.check_once() == []
            assert metrics.GROUP_LAG.labels(group, topic, "0")._value.get() == 0
    finally:
        server.shutdown()


async def test_a_group_that_never_committed_counts_its_lag_from_the_start(bootstrap):
    topic = await _topic_with(bootstrap, 4)
    group = f"g-{uuid.uuid4().hex[:8]}"
    monitor = GroupMonitor(bootstrap, {group: {topic}}, stall_after_s=0.5, interval_s=0.2)
    await monitor.check_once()
    assert metrics.GROUP_LAG.labels(group, topic, "0")._value.get() == 4
    await asyncio.sleep(0.6)
    assert [s.lag for s in await monitor.check_once()] == [4]


async def test_an_unreachable_broker_makes_ready_degraded_not_a_crash():
    monitor = GroupMonitor(f"127.0.0.1:{free_port()}", {"g": {"t"}}, stall_after_s=1, interval_s=0.1)
    task = asyncio.create_task(monitor.run())
    try:
        for _ in range(100):
            if monitor.last_error:
                break
            await asyncio.sleep(0.1)
        ok, body = monitor.readiness()
        assert not ok and body["status"] == "degraded" and body["broker_read"] != "ok"
    finally:
        task.cancel()
