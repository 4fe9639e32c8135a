"""The deduplication review queue: pairs of partner records the matcher found neither surely the
same nor surely different (stored by the indexer, never merged on their own) shown side by side to
a moderator, whose "même projet" / "projets différents" become operator overrides — the same
``dedup_overrides`` table and ``DedupOverrideChanged`` event as the admin API. Pure rules in
``rules``, SQL in ``store``, the use cases in ``service``, the pages in ``routes``."""
