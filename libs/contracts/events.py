"""Event schemas: the only types services exchange.

Every event carries ``schema_version``, ``event_id`` (uuid), ``correlation_id`` and
``occurred_at``. Partner input is untrusted: every field of :class:`PartnerRecord` is
bounded, URLs must be http(s), coordinates must be sane.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Literal, TypeAlias, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

SCHEMA_VERSION: Literal[1] = 1

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_control_chars(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    return value


def _http_url(value: str) -> str:
    if any(c.isspace() for c in value):
        raise ValueError("URL must not contain white space")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("URL scheme must be http or https")
    if not parts.hostname:
        raise ValueError("URL must have a host")
    if parts.username or parts.password:
        raise ValueError("URL must not carry credentials")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


NO_CONTROL = AfterValidator(_no_control_chars)


def _limits(max_length: int, min_length: int = 0) -> StringConstraints:
    """A text field's bounds (``Annotated[str, _limits(n), NO_CONTROL]``), surrounding spaces stripped."""
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")]
WebUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2048),
    AfterValidator(_no_control_chars),
    AfterValidator(_http_url),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s<>\"']{1,64}@[^@\s<>\"']{1,252}\.[^@\s<>\"']{2,}$"),
    AfterValidator(_no_control_chars),
]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40, pattern=r"^[0-9+() .\-/]{4,40}$")]
Latitude = Annotated[float, Field(ge=-90, le=90), AfterValidator(_finite)]
Longitude = Annotated[float, Field(ge=-180, le=180), AfterValidator(_finite)]
ShortText: TypeAlias = Annotated[str, _limits(200), NO_CONTROL]
Label: TypeAlias = Annotated[str, _limits(100, 1), NO_CONTROL]


def describe_validation_error(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"(+{more} more)")
    return "; ".join(parts)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


class Strict(BaseModel):
    """Base for contract models: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_max_length=100_000)


class Operation(StrEnum):
    UPSERT = "upsert"
    DELETE = "delete"


# --------------------------------------------------------------------------- partner input


class Holder(Strict):
    name: Annotated[str, _limits(200), NO_CONTROL] | None = None
    kind: Annotated[str, _limits(100), NO_CONTROL] | None = None


class Contact(Strict):
    email: Email | None = None
    phone: Phone | None = None
    website: WebUrl | None = None


class PartnerRecord(Strict):
    """One project as a partner publishes it (pushed or harvested). Untrusted."""

    source: Slug
    source_record_id: Annotated[str, _limits(200, 1), NO_CONTROL]
    url: WebUrl
    title: Annotated[str, _limits(300, 1), NO_CONTROL]
    description: Annotated[str, _limits(20_000), NO_CONTROL] | None = None
    address: Annotated[str, _limits(300), NO_CONTROL] | None = None
    commune: Annotated[str, _limits(120), NO_CONTROL] | None = None
    postcode: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Za-z][0-9A-Za-z \-]{1,9}$")] | None = None
    country: Annotated[str, _limits(60), NO_CONTROL] | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    themes: Annotated[list[Label], Field(max_length=30)] = Field(default_factory=list)
    stage: Annotated[str, _limits(100), NO_CONTROL] | None = None
    engineering: Annotated[list[Label], Field(max_length=10)] = Field(default_factory=list)
    holder: Holder | None = None
    contact: Contact | None = None
    published_at: date | None = None
    updated_at: date | None = None

    @model_validator(mode="after")
    def _coordinates_come_in_pairs(self) -> PartnerRecord:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be given together")
        return self

    @property
    def record_key(self) -> str:
        return record_key(self.source, self.source_record_id)


def record_key(source: str, source_record_id: str) -> str:
    """The partition key of a partner record on every topic up to deduplication."""
    return f"{source}:{source_record_id}"


# --------------------------------------------------------------------------- envelope


class Event(Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    correlation_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")] = Field(
        default_factory=new_correlation_id
    )
    occurred_at: datetime = Field(default_factory=utcnow)

    def child(self, cls: type[EventT], **fields) -> EventT:
        """A downstream event caused by this one: same correlation id."""
        return cls(correlation_id=self.correlation_id, **fields)


EventT = TypeVar("EventT", bound=Event)


class RecordKeyed(Event):
    op: Operation
    source: Slug
    source_record_id: Annotated[str, _limits(200, 1), NO_CONTROL]

    @property
    def key(self) -> str:
        return record_key(self.source, self.source_record_id)


class CrawlInfo(Strict):
    fetched_url: WebUrl
    fetched_at: datetime
    content_hash: Annotated[str, StringConstraints(max_length=128)]


class PushInfo(Strict):
    """Provenance of a pushed record: which API key sent it, when, through which endpoint."""

    api_key_id: int
    received_at: datetime
    channel: Literal["ingest", "bulk"] = "ingest"


class SourceRecordEvent(RecordKeyed):
    """On ``partner.ingest.v1`` (pushed) and ``crawl.records.v1`` (harvested).

    An upsert carries the record; a deletion names it by source and id only.
    """

    record: PartnerRecord | None = None
    crawl: CrawlInfo | None = None
    push: PushInfo | None = None

    @model_validator(mode="after")
    def _record_matches(self) -> SourceRecordEvent:
        if self.op is Operation.UPSERT:
            if self.record is None:
                raise ValueError("an upsert must carry a record")
            if (self.record.source, self.record.source_record_id) != (self.source, self.source_record_id):
                raise ValueError("record source/source_record_id differ from the event's")
        elif self.record is not None:
            raise ValueError("a deletion carries no record")
        return self

    @classmethod
    def upsert(cls, record: PartnerRecord, **fields) -> SourceRecordEvent:
        return cls(
            op=Operation.UPSERT,
            source=record.source,
            source_record_id=record.source_record_id,
            record=record,
            **fields,
        )


# --------------------------------------------------------------------------- pipeline


class NormalizedProject(Strict):
    """A partner record on the platform schema and taxonomy (slugs from ``taxonomy.json``)."""

    source: Slug
    source_record_id: str
    url: str
    title: str
    summary: str = ""
    description: str = ""
    language: str | None = None
    address: str | None = None
    commune: str | None = None
    postcode: str | None = None
    country: str | None = None
    lat: float | None = None
    lon: float | None = None
    themes: list[str] = Field(default_factory=list)
    themes_raw: list[str] = Field(default_factory=list)
    stage: str | None = None
    engineering: list[str] = Field(default_factory=list)
    holder_name: str | None = None
    holder_type: str | None = None
    contact: Contact | None = None
    published_at: date | None = None
    updated_at: date | None = None
    content_hash: str
    """Hash of the normalized content: an unchanged record is recognised downstream."""
    language_confidence: float | None = None
    taxonomy_confidence: dict[str, float] = Field(default_factory=dict)
    """Per facet (theme, stage, engineering, holder_type) that was classified: 1.0 from a partner
    mapping table, less from the keyword classifier."""
    unclassified: list[str] = Field(default_factory=list)
    """Facets the normalizer could not classify although the record said something about them
    (``theme`` also when nothing matched at all): it says so rather than guessing."""
    warnings: list[str] = Field(default_factory=list)
    """Data the normalizer dropped or doubted (an invalid e-mail or phone number), with why."""


class ProjectNormalized(RecordKeyed):
    project: NormalizedProject | None = None


Precision = Literal["coordinates", "address", "commune", "postcode", "departement", "region", "country", "none"]


class Location(Strict):
    country: str = "FR"
    """ISO 3166-1 alpha-2 code (an unknown foreign name upper-cased); ``FR`` includes overseas France."""
    locality: str | None = None
    """Abroad: the city the project is in (world gazetteer name); ``lat``/``lon`` are its point. In
    France, the commune fields are used instead. Optional: added without a schema version change."""
    commune_code: str | None = None
    commune_name: str | None = None
    postcode: str | None = None
    departement_code: str | None = None
    departement_name: str | None = None
    region_code: str | None = None
    region_name: str | None = None
    lat: float | None = None
    lon: float | None = None
    precision: Precision = "none"
    method: str = "none"
    confidence: float | None = Field(default=None, ge=0, le=1)
    """How sure the geocoder is of this location (0-1); None when not assessed."""


class ProjectGeocoded(RecordKeyed):
    project: NormalizedProject | None = None
    location: Location | None = None


class SourceRef(Strict):
    partner: Slug
    record_id: str
    url: str
    last_seen: datetime


class CanonicalProject(Strict):
    id: str
    title: str
    summary: str = ""
    description: str = ""
    themes: list[str] = Field(default_factory=list)
    stage: str | None = None
    engineering: list[str] = Field(default_factory=list)
    holder_name: str | None = None
    holder_type: str | None = None
    contact: Contact | None = None
    website: str | None = None
    location: Location = Field(default_factory=Location)
    sources: list[SourceRef]
    field_sources: dict[str, str] = Field(default_factory=dict)
    """Which source (``partner:record_id``) each merged field came from."""
    contact_agreed: bool = True
    """Every source that publishes a contact e-mail publishes this one. A claim confirmation is
    only ever sent to an agreed contact; otherwise the claim goes to operator review."""
    first_seen: datetime
    updated_at: datetime


class CanonicalChanged(Event):
    """On ``projects.canonical.v1``, keyed by canonical id. ``version`` grows per id."""

    op: Operation
    canonical_id: str
    version: int = Field(ge=1)
    project: CanonicalProject | None = None

    @model_validator(mode="after")
    def _project_for_upsert(self) -> CanonicalChanged:
        if (self.op is Operation.UPSERT) != (self.project is not None):
            raise ValueError("an upsert carries the project, a deletion does not")
        return self


class DedupOverrideChanged(Event):
    """On ``dedup.overrides.v1``: an operator forced "same" or "not same" for a pair of records
    (``source:source_record_id``), or cleared a decision. The indexer stores it (``dedup_overrides``, its
    table) and re-clusters around the pair; the gateway keeps its own log of decisions."""

    record_a: Annotated[str, StringConstraints(min_length=3, max_length=300)]
    record_b: Annotated[str, StringConstraints(min_length=3, max_length=300)]
    decision: Literal["same", "not_same", "cleared"]


class MatchmakingChanged(Event):
    """On ``matchmaking.v1``, keyed by ``post_id``: a matchmaking post (call for expertise, job
    offer, job search, offer of expertise) was created, updated, answered (a contact message got
    its first answer), closed (by its author or at its deadline), hidden or unhidden by a
    moderator. Carries no personal data (no email, no message text): followers read the post
    through the gateway's API if they need more."""

    kind: Literal["created", "updated", "answered", "closed", "hidden", "unhidden", "reported"]
    post_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,100}$")]
    post_kind: Literal["call_for_expertise", "job_offer", "job_search", "expertise_offer"]
    project_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,100}$")] | None = None
    themes: Annotated[list[str], Field(max_length=30)] = Field(default_factory=list)
    departement: Annotated[str, StringConstraints(max_length=3)] | None = None
    actor_role: Literal["holder", "visitor", "moderator", "operator", "system"] = "holder"


class HolderEditChanged(Event):
    """On ``projects.holder_edits.v1``, keyed by ``canonical_id``: the verified holder of a project
    changed the fields a holder owns (``fields``: name → new value, ``None`` = back to the partners'
    value). The edit is stored in PostgreSQL (``claims_holder_edits``); the indexer lays it over the
    canonical project in the search index."""

    canonical_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,100}$")]
    fields: dict[str, str | list[str] | None] = Field(default_factory=dict)
    version: int = Field(ge=1)


DEADLETTER_EXCERPT_CHARS = 65_536
"""Longest payload excerpt a dead letter holds: below the contracts' 100,000-character limit, and
even with every character escaped as ``\\u00XX`` (6 bytes) its JSON stays far below the broker's
1 MiB message limit, so a dead letter can always be written."""
DEADLETTER_REASON_CHARS = 4_000
DEADLETTER_KEY_CHARS = 500


class DeadLetter(Event):
    """On ``deadletter.v1``: a message a service could not accept, and why.

    The envelope is bounded whatever the input: ``payload`` is an excerpt of at most
    :data:`DEADLETTER_EXCERPT_CHARS` characters; ``payload_bytes`` and ``payload_sha256`` describe
    the whole original, which stays readable on its origin topic at ``origin_partition`` /
    ``origin_offset`` while the topic's retention keeps it. ``event_id`` is derived from the
    origin position when there is one, so a redelivered message makes the same letter (readers
    keep one letter per id).
    """

    service: Annotated[str, StringConstraints(max_length=100)]
    origin_topic: Annotated[str, StringConstraints(max_length=300)]
    origin_partition: int | None = None
    origin_offset: int | None = None
    origin_key: Annotated[str, StringConstraints(max_length=DEADLETTER_KEY_CHARS)] | None = None
    reason: Annotated[str, StringConstraints(max_length=DEADLETTER_REASON_CHARS)]
    error_type: Annotated[str, StringConstraints(max_length=200)]
    payload: Annotated[str, StringConstraints(max_length=DEADLETTER_EXCERPT_CHARS)]
    """An excerpt of the original payload, decoded as UTF-8 with replacement."""
    payload_truncated: bool = False
    """True when ``payload`` is not byte for byte the original (cut, or not valid UTF-8): such a
    letter is replayed from its origin position, not from the excerpt."""
    payload_bytes: int | None = Field(None, ge=0)
    payload_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
