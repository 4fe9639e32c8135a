"""Geocoder service: projects.normalized.v1 → projects.geocoded.v1, offline gazetteer."""

from faststream import FastStream

from libs.contracts.runtime.messaging import make_broker
from libs.contracts.runtime.settings import settings
from services.geocoder.gazetteer import default_gazetteer
from services.geocoder.handlers import SERVICE, register


def create_app() -> FastStream:
    cfg = settings()
    broker = make_broker(SERVICE, cfg.kafka_bootstrap)
    register(broker, default_gazetteer(), cfg.consumers)
    return FastStream(broker, logger=None)
