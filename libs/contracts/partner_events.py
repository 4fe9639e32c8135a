"""Partner status events: the crawler tells the rest of the platform which partners it harvests and how
each run went (``crawl.partners.v1``, keyed by partner slug). The gateway keeps its own copy (partner
names and licences for attribution, partner pages, the operators' crawl pages); no service reads the
crawler's tables."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from libs.contracts.events import Event, Slug, Strict

RUN_COUNTS = ("requests", "fetched", "not_modified", "unchanged", "new", "updated", "deleted", "rejected", "errors",
              "items", "projects", "excluded")
"""``items`` read = ``projects`` (emitted or unchanged) + ``excluded`` (not projects) + ``rejected`` (invalid)."""
MAX_SAMPLES = 20
_Line = Annotated[str, StringConstraints(max_length=2000)]


class PartnerInfo(Strict):
    """A configured partner as the crawler knows it (its partners file), for display and attribution."""

    slug: Slug
    name: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    base_url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    connector: Annotated[str, StringConstraints(max_length=40)] | None = None
    licence: Annotated[str, StringConstraints(max_length=300)] | None = None
    attribution: Annotated[str, StringConstraints(max_length=1000)] | None = None
    enabled: bool = True
    guessed: bool = False
    schedule_s: float | None = None


class CrawlRunSummary(Strict):
    """One crawl run of one partner: its outcome, counts, items set aside by rule, first reasons."""

    run_id: int = Field(ge=1)
    status: Literal["running", "ok", "degraded", "partial", "failed"]
    complete: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    counts: dict[Annotated[str, StringConstraints(max_length=40)], int] = Field(default_factory=dict, max_length=40)
    error_samples: Annotated[list[_Line], Field(max_length=MAX_SAMPLES)] = Field(default_factory=list)
    by_rule: dict[Annotated[str, StringConstraints(max_length=80)], int] = Field(default_factory=dict, max_length=60)
    first_reasons: Annotated[list[_Line], Field(max_length=MAX_SAMPLES)] = Field(default_factory=list)


class PartnerStatusChanged(Event):
    """On ``crawl.partners.v1``, keyed by partner slug: the partner as configured, and (after a run) that
    run and the number of live records the crawler holds for it. Published when the crawler starts (every
    partner it knows, removed ones with ``enabled: false``, with their last run) and after every run."""

    partner: PartnerInfo
    run: CrawlRunSummary | None = None
    records: int | None = Field(None, ge=0)
