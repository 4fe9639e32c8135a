"""Process entry point shared by the faststream services: logging, then the app until SIGTERM."""

from __future__ import annotations

import asyncio
import importlib

from libs.contracts.runtime.logs import configure_logging
from libs.contracts.runtime.settings import settings


def run(service: str, app_module: str) -> None:
    log = configure_logging(service, settings().log_level)
    app = importlib.import_module(app_module).create_app()
    log.info("starting", kafka=settings().kafka_bootstrap)
    asyncio.run(app.run())
