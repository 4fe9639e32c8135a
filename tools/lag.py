"""Consumer-group lag, to know when the pipeline has drained (benchmarks, crash tests, operators)."""

from __future__ import annotations

from libs.contracts import topics
from libs.contracts.runtime.health import group_offsets
from libs.contracts.runtime.progress import StallDetector

PIPELINE_GROUPS: dict[str, tuple[str, ...]] = {
    "normalizer": (topics.PARTNER_INGEST, topics.CRAWL_RECORDS),
    "geocoder": (topics.PROJECTS_NORMALIZED,),
    "indexer-dedup": (topics.PROJECTS_GEOCODED,),
    "indexer-search": (topics.PROJECTS_CANONICAL,),
}


async def group_lag(bootstrap: str, groups: dict[str, tuple[str, ...]] = PIPELINE_GROUPS) -> dict[str, int]:
    """Messages not yet committed by each group, summed over its topics' partitions."""
    lag_of = StallDetector(stall_after_s=float("inf"))
    out = dict.fromkeys(groups, 0)
    for (group, topic, partition), (committed, low, high) in (await group_offsets(bootstrap, groups)).items():
        out[group] += lag_of.observe(group, topic, partition, committed=committed, low=low, high=high, now=0)
    return out
