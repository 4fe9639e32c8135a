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


def _text(n: int):
    return Annotated[str, StringConstraints(max_length=n)] | None


class ReviewRecord(Strict):
    """One side of a pair, as a moderator compares it: who published it, and the fields that tell two
    projects apart."""

    key: _Key
    source: Annotated[str, StringConstraints(max_length=64)]
    url: _text(2048) = None
    canonical_id: _text(120) = None
    title: _text(500) = None
    summary: _text(DESCRIPTION_CHARS) = None
    description: _text(DESCRIPTION_CHARS) = None
    address: _text(500) = None
    holder_name: _text(300) = None
    email: _text(320) = None
    phone: _text(40) = None
    website: _text(2048) = None
    commune_name: _text(200) = None
    postcode: _text(10) = None


class PairState(Strict):
    """A scored pair (``record_a < record_b``) as the indexer holds it now. ``pending``: in the grey zone,
    not merged, both records live in two projects, no operator decision — waiting for a moderator."""

    record_a: _Key
    record_b: _Key
    weight: float
    probability: float = Field(ge=0, le=1)
    matched: bool
    rule: _text(80) = None
    pending: bool
    explanation: dict[str, Any] = Field(default_factory=dict)
    a: ReviewRecord
    b: ReviewRecord


class DedupPairsChanged(Event):
    """On ``dedup.pairs.v1``, keyed by the first record of the batch: the current state of the pairs a
    deduplication batch or an operator decision touched. A newer event about a pair replaces an older one."""

    pairs: Annotated[list[PairState], Field(max_length=MAX_PAIRS)]
