"""Scaling by consumer groups: two processes of one service share the partitions of its topics."""

from __future__ import annotations

import json
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from libs.contracts.events import PartnerRecord, SourceRecordEvent
from libs.contracts.topics import PARTNER_INGEST
from tests.conftest import wait_until
from tools.devstack import start_service, stop_process

pytestmark = pytest.mark.e2e


def _handled(path, marker: str) -> list[dict]:
    out = []
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if d.get("event") == "handled" and d.get("topic") == PARTNER_INGEST and d.get("correlation_id", "").startswith(marker):
            out.append(d)
    return out


async def test_two_normalizers_share_the_partitions(stack, tmp_path):
    env = stack.service_env(DATABASE_URL=stack.database_url)
    procs = [start_service("normalizer", env, tmp_path / f"n{i}") for i in range(2)]
    marker = uuid.uuid4().hex[:12]
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    try:
        await producer.start()
        # probes on every partition until both members have handled some: the group is balanced
        probe = f"p{marker}"

        async def both_members_consume():
            for i in range(8):
                record = PartnerRecord(source="fej", source_record_id=f"{probe}-{uuid.uuid4().hex[:6]}-{i}",
                                       url="https://exemple.org/s", title=f"Sonde {i}")
                event = SourceRecordEvent.upsert(record, correlation_id=f"{probe}{i:04d}")
                await producer.send(PARTNER_INGEST, event.model_dump_json().encode(), key=record.record_key.encode())
            await producer.flush()
            return all(_handled(tmp_path / f"n{i}" / "normalizer.log", probe) for i in range(2))

        await wait_until(both_members_consume, timeout=90, interval=1, what="both normalizers consuming")
        for i in range(120):
            record = PartnerRecord(source="fej", source_record_id=f"{marker}-{i}", url="https://exemple.org/s",
                                   title=f"Projet {i}")
            event = SourceRecordEvent.upsert(record, correlation_id=f"{marker}{i:04d}")
            await producer.send(PARTNER_INGEST, event.model_dump_json().encode(), key=record.record_key.encode())
        await producer.flush()

        async def all_handled():
            counts = [len(_handled(tmp_path / f"n{i}" / "normalizer.log", marker)) for i in range(2)]
            return counts if sum(counts) >= 120 else None

        counts = await wait_until(all_handled, timeout=90, what="120 records handled by the group")
    finally:
        await producer.stop()
        for p in procs:
            stop_process(p)
    assert sum(counts) == 120, f"each record handled once by the group, got {counts}"
    assert min(counts) > 0, f"both consumers of the group got partitions: {counts}"
    parts = [{d["partition"] for d in _handled(tmp_path / f"n{i}" / "normalizer.log", marker)} for i in range(2)]
    assert not parts[0] & parts[1], f"a partition belongs to one consumer at a time: {parts}"

