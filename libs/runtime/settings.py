"""Settings every service reads from the environment (broker, database, search engine, logs, health),
with the embedded defaults of ``make up``. Each service adds its own fields in its ``settings.py``."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

EMBEDDED_PG_PORT = 54329
EMBEDDED_DATABASE_URL = f"postgresql+asyncpg://postgres@127.0.0.1:{EMBEDDED_PG_PORT}/carrefour"


class RuntimeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    database_url: str = Field(EMBEDDED_DATABASE_URL, description="SQLAlchemy async URL (asyncpg)")
    search_backend: Literal["postgres", "meilisearch"] = "postgres"
    meili_url: str = "http://127.0.0.1:7700"
    meili_key: str | None = None
    log_level: str = "INFO"
    consumers: int = Field(1, ge=1, le=16, description="Concurrent consumers per subscriber in one process")
    metrics_port: int = Field(0, ge=0, le=65535, description="Prometheus endpoint port (0: off)")
    metrics_host: str = "127.0.0.1"
    stall_after_s: float = Field(300.0, gt=0, description="A partition with lag whose committed offset has not "
                                                          "moved for this long makes /ready answer 503")
    health_interval_s: float = Field(15.0, gt=0, description="Seconds between two reads of the groups' offsets")
    # where the process runs: outside development, unsafe configuration is refused (libs/runtime/safety.py)
    carrefour_env: Literal["development", "production"] = Field(
        "development", description="development (make up, tests) or production (deploy/): production refuses "
                                   "placeholder secrets, the demo partners file, private addresses, plaintext Kafka")
    # Kafka client security (libs/runtime/kafka.py); the defaults suit the embedded broker
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = Field(None, description="From a Secret (Strimzi: the KafkaUser's secret)")
    kafka_ca_file: str | None = Field(None, description="PEM file of the CA that signed the brokers' certificates "
                                                        "(unset: the system's CAs)")


@lru_cache(maxsize=1)
def settings() -> RuntimeSettings:
    return RuntimeSettings()


def sqlalchemy_url_to_libpq(url: str) -> str:
    """``postgresql+asyncpg://`` → ``postgresql://`` (for asyncpg.connect and psql)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)
