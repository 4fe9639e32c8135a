"""Structured JSON logs, one format for every line a process writes.

structlog loggers (the services' own lines) and the standard library's loggers (uvicorn,
aiokafka, faststream, alembic, httpx, Python warnings) end in the same JSON renderer, so each
line on stdout is one JSON object with at least ``timestamp``, ``level``, ``event``, ``service``
and ``logger``. Context (service, topic, event, correlation id) is bound with contextvars so
every line of one handled event carries it.

:func:`configure_logging` sets it up in a process; :func:`logging_config` is the same as a
``logging.config.dictConfig`` dict, for uvicorn's ``log_config`` (uvicorn applies it again in
each worker process it spawns, which do not run the gateway's ``__main__``).
"""

from __future__ import annotations

import logging
import logging.config
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

QUIET = ("aiokafka", "faststream", "httpx", "httpcore", "alembic.runtime.migration")
"""Libraries whose INFO lines are chatter: WARNING and above only."""


def _dumps(obj, default=None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


class _Service:
    """Names the service (and a logger) on every line, even one logged outside the bound context."""

    def __init__(self, service: str):
        self.service = service

    def __call__(self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", self.service)
        event_dict.setdefault("logger", self.service)
        return event_dict


def _shared() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _configure_structlog(service: str, level: str) -> None:
    structlog.configure(
        processors=[*_shared(), _Service(service), structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(serializer=_dumps)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # one write per line, under a lock shared with nothing else: lines never interleave
        logger_factory=structlog.WriteLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def json_formatter(service: str, level: str = "INFO") -> logging.Formatter:
    """The standard library's formatter rendering records like structlog's lines. Building it also
    configures structlog, so that a uvicorn worker process configured from :func:`logging_config`
    logs exactly like its parent."""
    _configure_structlog(service, level)
    logging.captureWarnings(True)  # warnings.warn lines become records of the logger py.warnings
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared(), structlog.stdlib.add_logger_name, _Service(service),
                           structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(serializer=_dumps)],
    )


def logging_config(service: str, level: str = "INFO", *, access_log: bool = False) -> dict[str, Any]:
    """``dictConfig`` for the whole process: one stdout handler with :func:`json_formatter` on the
    root logger; uvicorn's loggers hand their records to it (its access lines only with
    ``access_log``: a line per request costs the gateway throughput)."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "libs.runtime.logs.json_formatter", "service": service, "level": level}},
        "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            # uvicorn's loggers, and Litestar's (its default config gives it a handler of its own)
            **{name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error", "litestar")},
            "uvicorn.access": {"handlers": [], "propagate": access_log},
            **{name: {"level": "WARNING"} for name in QUIET},
        },
    }


def configure_logging(service: str, level: str = "INFO", *, access_log: bool = False) -> structlog.stdlib.BoundLogger:
    logging.config.dictConfig(logging_config(service, level, access_log=access_log))
    return structlog.get_logger()
