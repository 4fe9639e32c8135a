"""The deduplication review queue: pairs of partner records the matcher found neither surely the
same nor surely different (reported by the indexer on ``dedup.pairs.v1``, never merged on their own)
shown side by side to a moderator, whose "même projet" / "projets différents" become operator
decisions — the same ``dedup_decisions`` log and ``DedupOverrideChanged`` event as the admin API
(``admin.py``). Pure rules in ``rules``, SQL in ``store``, the use cases in ``service``, the pages in
``routes``."""
