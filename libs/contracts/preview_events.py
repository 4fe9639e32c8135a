"""Crawl previews: an operator asks the crawler what a crawl of a partner would emit, skip and reject
(``crawl.preview_requests.v1``), and the crawler answers with a bounded sample (``crawl.previews.v1``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from libs.contracts.events import Event, Slug, Strict

PREVIEW_MAX_PAGES = 50
"""Requests a preview may make at most (the sample is bounded whatever is asked)."""
PREVIEW_CONFIG_CHARS = 20_000
PREVIEW_MAX_RECORDS = 30
PREVIEW_MAX_ASIDE = 100
PREVIEW_VALUE_CHARS = 300
PREVIEW_REASON_CHARS = 500
PREVIEW_MAX_ERRORS = 10
PREVIEW_MAX_BYTES = 512 * 1024
"""A preview answer's encoded size at most: the crawler drops its last records and items beyond it
(``truncated``), half the broker's 1 MiB message limit."""

RequestId = Annotated[str, StringConstraints(pattern=r"^[a-f0-9]{32}$")]


class PreviewRequested(Event):
    """On ``crawl.preview_requests.v1``, keyed by ``request_id``: an operator asks what a crawl of
    ``partner`` would emit, skip and reject. ``config_yaml`` (optional) is a partner entry to try
    instead of the configured one (a new partner, or a fix under test); nothing is written."""

    request_id: RequestId
    partner: Slug
    config_yaml: Annotated[str, StringConstraints(max_length=PREVIEW_CONFIG_CHARS)] | None = None
    max_pages: int = Field(20, ge=1, le=PREVIEW_MAX_PAGES)
    requested_by: Annotated[str, StringConstraints(max_length=200)] | None = None


class PreviewField(Strict):
    name: Annotated[str, StringConstraints(max_length=60)]
    value: Annotated[str, StringConstraints(max_length=PREVIEW_VALUE_CHARS)]
    source: Annotated[str, StringConstraints(max_length=120)]
    """Where the value came from (a JSON-LD property, a label line, a CSV column...); ``?`` unknown."""


class PreviewRecord(Strict):
    record_id: Annotated[str, StringConstraints(max_length=200)]
    url: Annotated[str, StringConstraints(max_length=2048)]
    fields: Annotated[list[PreviewField], Field(max_length=30)] = Field(default_factory=list)


class PreviewItem(Strict):
    """An item the crawl would not emit (``skipped``/``rejected``), or emit with a loss (``warning``)."""

    verdict: Literal["emitted", "skipped", "rejected"]
    rule: Annotated[str, StringConstraints(max_length=40)] | None = None
    url: Annotated[str, StringConstraints(max_length=2048)]
    title: Annotated[str, StringConstraints(max_length=PREVIEW_VALUE_CHARS)] | None = None
    reason: Annotated[str, StringConstraints(max_length=PREVIEW_REASON_CHARS)] | None = None


class PreviewCompleted(Event):
    """On ``crawl.previews.v1``, keyed by ``request_id``: the crawler's answer to a
    :class:`PreviewRequested`. ``status`` is the run status the sample would have (``ok``,
    ``degraded``, ``partial``, ``failed``), or ``error`` when the preview could not run (``error``
    says why: unknown partner, invalid configuration). Lists are cut to their bounds (the counts
    cover everything; ``truncated`` says so), so the event stays far below the broker's 1 MiB."""

    request_id: RequestId
    partner: Slug
    status: Literal["ok", "degraded", "partial", "failed", "error"]
    error: Annotated[str, StringConstraints(max_length=4000)] | None = None
    counts: dict[Annotated[str, StringConstraints(max_length=40)], int] = Field(default_factory=dict, max_length=40)
    by_rule: dict[Annotated[str, StringConstraints(max_length=80)], int] = Field(default_factory=dict, max_length=60)
    records: Annotated[list[PreviewRecord], Field(max_length=PREVIEW_MAX_RECORDS)] = Field(default_factory=list)
    set_aside: Annotated[list[PreviewItem], Field(max_length=PREVIEW_MAX_ASIDE)] = Field(default_factory=list)
    errors: Annotated[list[Annotated[str, StringConstraints(max_length=PREVIEW_REASON_CHARS)]],
                      Field(max_length=PREVIEW_MAX_ERRORS)] = Field(default_factory=list)
    truncated: bool = False
