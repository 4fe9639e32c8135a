"""Which failures are transient (a broker, database or network away: wait and retry) and which
are not (the same input will fail the same way). Pure classification, no I/O."""

from __future__ import annotations

import sys

from aiokafka.errors import KafkaError, KafkaTimeoutError


def _transient_types() -> tuple[type[BaseException], ...]:
    """Connection-level exception types of the clients this process has imported: a library that
    is not imported cannot have raised (so a service without a database never loads SQLAlchemy)."""
    types: list[type[BaseException]] = [OSError, TimeoutError, KafkaError, ConnectionError]
    asyncpg = sys.modules.get("asyncpg")
    if asyncpg is not None:
        types += [asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
                  asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.TooManyConnectionsError,
                  asyncpg.InterfaceError, asyncpg.exceptions.AdminShutdownError]
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None:
        types += [sa_exc.OperationalError, sa_exc.DBAPIError]  # DBAPIError filtered further in is_transient
    return tuple(types)


def is_transient(exc: BaseException) -> bool:
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.DBAPIError):
        transient = _transient_types()
        return bool(exc.connection_invalidated) or isinstance(exc.orig, transient) or _is_connection_error(exc.orig)
    if isinstance(exc, KafkaError):  # a broker that said no (message too large, bad topic) will say it again
        return bool(getattr(exc, "retriable", False)) or isinstance(exc, KafkaTimeoutError)
    return isinstance(exc, _transient_types())


def _is_connection_error(exc: BaseException | None) -> bool:
    name = type(exc).__name__ if exc else ""
    return any(s in name for s in ("Connection", "CannotConnect", "InterfaceError", "AdminShutdown"))
