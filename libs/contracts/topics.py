"""Kafka topic names. Every topic is versioned in its name; a breaking change makes a new topic."""

PARTNER_INGEST = "partner.ingest.v1"
"""Records pushed by partners (untrusted input), keyed by ``source:source_record_id``."""
CRAWL_RECORDS = "crawl.records.v1"
"""Records harvested by the crawler, keyed like the ingest topic."""
PROJECTS_NORMALIZED = "projects.normalized.v1"
PROJECTS_GEOCODED = "projects.geocoded.v1"
PROJECTS_CANONICAL = "projects.canonical.v1"
"""Canonical projects after deduplication (upserts and deletions), keyed by canonical id."""
DEADLETTER = "deadletter.v1"
"""Rejected input: origin topic, reason, original payload."""
DEDUP_OVERRIDES = "dedup.overrides.v1"
"""An operator's "same" / "not same" decision on a pair of records (the gateway keeps its log of
decisions; the indexer stores the decision in its ``dedup_overrides`` and re-clusters around the pair).
Keyed by the pair."""
DEDUP_PAIRS = "dedup.pairs.v1"
"""How pairs of records were scored and which wait for a moderator (``DedupPairsChanged``), published by
the indexer after each batch and decision; the gateway keeps its own copy (review queue, explanations)."""

MATCHMAKING = "matchmaking.v1"
"""Matchmaking posts created, updated, answered, closed, hidden (see ``MatchmakingChanged``),
keyed by post id, for notifications and statistics."""
HOLDER_EDITS = "projects.holder_edits.v1"
"""A verified holder's edits of the fields a holder owns (``HolderEditChanged``), keyed by
canonical id; the indexer lays them over the canonical project."""

CRAWL_PARTNERS = "crawl.partners.v1"
"""The crawler's partners and their runs (``PartnerStatusChanged``), keyed by partner slug; the gateway
keeps its own copy for attribution, partner pages and the operators' crawl pages."""

CRAWL_PREVIEW_REQUESTS = "crawl.preview_requests.v1"
"""An operator asks the crawler for a preview of a partner (``PreviewRequested``), keyed by request id."""
CRAWL_PREVIEWS = "crawl.previews.v1"
"""The crawler's answer (``PreviewCompleted``): records with their field sources, items set aside with
their reasons; bounded well under the broker's message limit. Keyed by request id."""

ALL_TOPICS = (
    PARTNER_INGEST,
    CRAWL_RECORDS,
    PROJECTS_NORMALIZED,
    PROJECTS_GEOCODED,
    PROJECTS_CANONICAL,
    DEADLETTER,
    DEDUP_OVERRIDES,
    DEDUP_PAIRS,
    MATCHMAKING,
    HOLDER_EDITS,
    CRAWL_PREVIEW_REQUESTS,
    CRAWL_PREVIEWS,
    CRAWL_PARTNERS,
)

DEFAULT_PARTITIONS = 4
"""Partitions per topic: the upper bound of consumers per group that share the work."""

DEADLETTER_RETENTION_MS = 30 * 24 * 3600 * 1000
DEADLETTER_RETENTION_BYTES = 512 * 1024 * 1024
MAX_MESSAGE_BYTES = 1024 * 1024
PREVIEW_RETENTION_MS = 7 * 24 * 3600 * 1000

TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    DEADLETTER: {
        "retention.ms": str(DEADLETTER_RETENTION_MS),  # an operator has a month to look and replay
        "retention.bytes": str(DEADLETTER_RETENTION_BYTES),  # per partition: a flood cannot fill the disk
        "max.message.bytes": str(MAX_MESSAGE_BYTES),
    },
    PARTNER_INGEST: {"max.message.bytes": str(MAX_MESSAGE_BYTES)},
    # previews: the gateway keeps the answers in its own table; a week on the broker is plenty
    CRAWL_PREVIEW_REQUESTS: {"retention.ms": str(PREVIEW_RETENTION_MS), "max.message.bytes": str(MAX_MESSAGE_BYTES)},
    CRAWL_PREVIEWS: {"retention.ms": str(PREVIEW_RETENTION_MS), "max.message.bytes": str(MAX_MESSAGE_BYTES)},
}
"""Topic settings applied when the topics are created (``/entrypoint.sh topics``, ``make up``) and
re-applied to existing topics by the same command. Dead letters are bounded (an excerpt of at most
64 K characters each), so retention by bytes keeps the topic's disk use bounded whatever arrives."""
