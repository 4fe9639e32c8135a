"""Process entry point shared by the faststream services: logging, health, then the app until SIGTERM."""

from __future__ import annotations

import asyncio
import importlib

from libs.runtime import messaging
from libs.runtime.health import GroupMonitor, serve_health
from libs.runtime.logs import configure_logging
from libs.runtime.settings import settings


def run(service: str, app_module: str) -> None:
    cfg = settings()
    log = configure_logging(service, cfg.log_level)
    app = importlib.import_module(app_module).create_app()  # registers the subscriptions
    monitor = GroupMonitor(cfg.kafka_bootstrap, messaging.SUBSCRIPTIONS, stall_after_s=cfg.stall_after_s,
                           interval_s=cfg.health_interval_s) if messaging.SUBSCRIPTIONS else None
    if cfg.metrics_port:
        try:
            serve_health(cfg.metrics_host, cfg.metrics_port, monitor)
        except OSError as exc:  # a busy port must not stop the pipeline
            log.warning("health endpoint not started", port=cfg.metrics_port, error=str(exc))
    log.info("starting", kafka=cfg.kafka_bootstrap, metrics_port=cfg.metrics_port,
             groups=sorted(messaging.SUBSCRIPTIONS))

    async def main() -> None:
        watch = asyncio.create_task(monitor.run()) if monitor else None
        try:
            await app.run()
        finally:
            if watch:
                watch.cancel()

    asyncio.run(main())
