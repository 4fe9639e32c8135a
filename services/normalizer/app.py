"""Normalizer service: partner.ingest.v1 + crawl.records.v1 → projects.normalized.v1."""

from faststream import FastStream

from libs.runtime.messaging import make_broker
from libs.runtime.settings import settings
from services.normalizer.handlers import SERVICE, register


def create_app() -> FastStream:
    cfg = settings()
    broker = make_broker(SERVICE, cfg.kafka_bootstrap)
    register(broker, cfg.consumers)
    return FastStream(broker, logger=None)
