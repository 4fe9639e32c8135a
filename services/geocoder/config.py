"""Geocoder-only settings (environment variables), on top of the runtime settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GeocoderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEOCODER_", case_sensitive=False, extra="ignore")

    online_url: str | None = Field(None, description="addok/BAN base URL (e.g. https://api-adresse.data.gouv.fr); unset: offline only")
    online_timeout_s: float = Field(5.0, gt=0, le=60)
    online_min_score: float = Field(0.5, ge=0, le=1)
