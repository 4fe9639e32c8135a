"""Consumer-group lag, to know when the pipeline has drained (benchmarks, crash tests, operators)."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from libs.contracts import topics

PIPELINE_GROUPS: dict[str, tuple[str, ...]] = {
    "normalizer": (topics.PARTNER_INGEST, topics.CRAWL_RECORDS),
    "geocoder": (topics.PROJECTS_NORMALIZED,),
    "indexer-dedup": (topics.PROJECTS_GEOCODED,),
    "indexer-search": (topics.PROJECTS_CANONICAL,),
}


async def group_lag(bootstrap: str, groups: dict[str, tuple[str, ...]] = PIPELINE_GROUPS) -> dict[str, int]:
    """Messages not yet committed by each group, summed over its topics' partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=f"lag-probe-{uuid.uuid4().hex}",
                             enable_auto_commit=False)
    await admin.start()
    await probe.start()
    try:
        out: dict[str, int] = {}
        for group, group_topics in groups.items():
            parts = [TopicPartition(t, p) for t in group_topics for p in (probe.partitions_for_topic(t) or [])]
            if not parts:
                await probe._client.force_metadata_update()
                parts = [TopicPartition(t, p) for t in group_topics for p in (probe.partitions_for_topic(t) or [])]
            ends = await probe.end_offsets(parts)
            committed = await admin.list_consumer_group_offsets(group, partitions=parts)
            lag = 0
            for tp in parts:
                meta = committed.get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else 0
                lag += max(ends[tp] - done, 0)
            out[group] = lag
        return out
    finally:
        await probe.stop()
        await admin.close()
