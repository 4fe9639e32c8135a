"""Crawler settings (environment variables): the runtime's plus the partners file and the crawl cycle."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from libs.runtime.settings import RuntimeSettings


class CrawlerSettings(RuntimeSettings):
    carrefour_partners_file: str | None = None
    crawl_interval_s: float = Field(300.0, description="Seconds between two crawl cycles")
    crawl_once: bool = Field(False, description="Crawl every partner once, then idle")


@lru_cache(maxsize=1)
def settings() -> CrawlerSettings:
    return CrawlerSettings()
