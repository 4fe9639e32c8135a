"""Scored deduplication, pure (no I/O): features and blocking keys, Fellegi-Sunter scoring with
rapidfuzz, constrained clustering and stable canonical ids. The PostgreSQL side is in
``services/indexer/adapters/db.py``."""

from services.indexer.dedup.cluster import Edge, assign_ids, cluster, new_canonical_id
from services.indexer.dedup.features import Features, block_keys, features
from services.indexer.dedup.scoring import MATCH_WEIGHT, Score, score

__all__ = [
           "MATCH_WEIGHT",
           "Edge",
           "Features",
           "Score",
           "assign_ids",
           "block_keys",
           "cluster",
           "features",
           "new_canonical_id",
           "score",
]
