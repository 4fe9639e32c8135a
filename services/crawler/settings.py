"""Crawler settings (environment variables): the runtime's plus the partners file and the crawl cycle."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator

from libs.runtime import safety
from libs.runtime.settings import RuntimeSettings
from services.crawler.config import DEFAULT_PARTNERS_FILE, PartnersFile


class CrawlerSettings(RuntimeSettings):
    carrefour_partners_file: str | None = Field(None, description="Partners file (unset: the demo partners, "
                                                                  "development only)")
    crawl_interval_s: float = Field(300.0, description="Seconds between two crawl cycles")
    crawl_once: bool = Field(False, description="Crawl every partner once, then idle")

    @model_validator(mode="after")
    def _safe_outside_development(self) -> CrawlerSettings:
        """Outside development (CARREFOUR_ENV), the demo partners file is refused; the partners'
        own ``allow_private_addresses`` is checked once the file is read (:meth:`check_partners`)."""
        self.check_partners(None)
        return self

    def check_partners(self, partners: PartnersFile | None) -> None:
        """Raises :class:`libs.runtime.safety.UnsafeConfiguration` outside development when the
        partners file is the demo one or a partner may fetch private addresses."""
        private = [p.slug for p in partners.partners if p.allow_private_addresses] if partners else []
        safety.refuse(safety.crawler_problems(self.carrefour_env, partners_file=self.carrefour_partners_file,
                                              demo_file=DEFAULT_PARTNERS_FILE, private_partners=private))


@lru_cache(maxsize=1)
def settings() -> CrawlerSettings:
    return CrawlerSettings()
