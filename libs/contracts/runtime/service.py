"""Process entry point shared by the faststream services: logging, then the app until SIGTERM."""

from __future__ import annotations

import asyncio
import importlib

from prometheus_client import start_http_server

from libs.contracts.runtime.logs import configure_logging
from libs.contracts.runtime.settings import settings


def run(service: str, app_module: str) -> None:
    cfg = settings()
    log = configure_logging(service, cfg.log_level)
    app = importlib.import_module(app_module).create_app()
    if cfg.metrics_port:
        try:
            start_http_server(cfg.metrics_port, addr=cfg.metrics_host)
        except OSError as exc:  # a busy port must not stop the pipeline
            log.warning("metrics endpoint not started", port=cfg.metrics_port, error=str(exc))
    log.info("starting", kafka=cfg.kafka_bootstrap, metrics_port=cfg.metrics_port)
    asyncio.run(app.run())
