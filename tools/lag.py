"""Consumer-group lag, to know when the pipeline has drained (benchmarks, crash tests, operators)."""

from __future__ import annotations

from libs.contracts import topics
from libs.runtime.health import group_offsets
from libs.runtime.progress import lag

PIPELINE_GROUPS: dict[str, tuple[str, ...]] = {
    "normalizer": (topics.PARTNER_INGEST, topics.CRAWL_RECORDS),
    "geocoder": (topics.PROJECTS_NORMALIZED,),
    "indexer-dedup": (topics.PROJECTS_GEOCODED,),
    "indexer-search": (topics.PROJECTS_CANONICAL,),
}


async def group_lag(bootstrap: str, groups: dict[str, tuple[str, ...]] = PIPELINE_GROUPS) -> dict[str, int]:
    """Messages not yet committed by each group, summed over its topics' partitions."""
    out = dict.fromkeys(groups, 0)
    for (group, _, _), (committed, low, high) in (await group_offsets(bootstrap, groups)).items():
        out[group] += lag(committed, low, high)
    return out
