"""Operator overrides for deduplication (dedup issue)."""

routes: list = []
