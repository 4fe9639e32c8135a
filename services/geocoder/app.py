"""Geocoder service: projects.normalized.v1 → projects.geocoded.v1, offline gazetteer
(+ an optional online addok/BAN geocoder with a PostgreSQL cache when GEOCODER_ONLINE_URL is set)."""

from faststream import FastStream

from libs.runtime.messaging import make_broker
from libs.runtime.settings import settings
from services.geocoder.config import GeocoderSettings
from services.geocoder.gazetteer import default_gazetteer
from services.geocoder.handlers import SERVICE, register
from services.geocoder.reverse import default_outlines


def create_app() -> FastStream:
    cfg = settings()
    gcfg = GeocoderSettings()
    broker = make_broker(SERVICE, cfg.kafka_bootstrap)
    online = engine = None
    if gcfg.online_url:
        from sqlalchemy.ext.asyncio import create_async_engine

        from services.geocoder.adapters.online import (
            AddokGeocoder,
            OnlineConfig,
            PgCache,
        )

        engine = create_async_engine(cfg.database_url, pool_size=2, pool_pre_ping=True)
        online = AddokGeocoder(OnlineConfig(gcfg.online_url, gcfg.online_timeout_s, gcfg.online_min_score), PgCache(engine))
    gaz = default_gazetteer()
    default_outlines()  # load the outlines now (≈0.3 s) rather than on the first partner coordinates
    register(broker, gaz, cfg.consumers, online)
    app = FastStream(broker, logger=None)

    @app.after_shutdown
    async def _close() -> None:
        if online is not None:
            await online.aclose()
        if engine is not None:
            await engine.dispose()

    return app
