"""Deduplication evidence for the moderators: the indexer tells the gateway how pairs of records were
scored and which wait for a moderator (``dedup.pairs.v1``). The gateway keeps its own copy (the review
queue, the admin API's explanation of a project); it never reads the indexer's tables."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from libs.contracts.events import Event, Strict

MAX_PAIRS = 200
"""Pairs per event (a batch's pairs are split over several events)."""
DESCRIPTION_CHARS = 600
_Key = Annotated[str, StringConstraints(min_length=3, max_length=300)]


class ReviewRecord(Strict):
    """One side of a pair, as a moderator compares it: who published it, and the fields that tell two
    projects apart."""

    key: _Key
    source: Annotated[str, StringConstraints(max_length=64)]
    url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    canonical_id: Annotated[str, StringConstraints(max_length=120)] | None = None
    title: Annotated[str, StringConstraints(max_length=500)] | None = None
    summary: Annotated[str, StringConstraints(max_length=DESCRIPTION_CHARS)] | None = None
    description: Annotated[str, StringConstraints(max_length=DESCRIPTION_CHARS)] | None = None
    address: Annotated[str, StringConstraints(max_length=500)] | None = None
    holder_name: Annotated[str, StringConstraints(max_length=300)] | None = None
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    website: Annotated[str, StringConstraints(max_length=2048)] | None = None
    commune_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    postcode: Annotated[str, StringConstraints(max_length=10)] | None = None


class PairState(Strict):
    """A scored pair (``record_a < record_b``) as the indexer holds it now. ``pending``: in the grey zone,
    not merged, both records live in two projects, no operator decision — waiting for a moderator."""

    record_a: _Key
    record_b: _Key
    weight: float
    probability: float = Field(ge=0, le=1)
    matched: bool
    rule: Annotated[str, StringConstraints(max_length=80)] | None = None
    pending: bool
    explanation: dict[str, Any] = Field(default_factory=dict)
    a: ReviewRecord
    b: ReviewRecord


class DedupPairsChanged(Event):
    """On ``dedup.pairs.v1``, keyed by the first record of the batch: the current state of the pairs a
    deduplication batch or an operator decision touched. A newer event about a pair replaces an older one."""

    pairs: Annotated[list[PairState], Field(max_length=MAX_PAIRS)]
