"""Password hashing with argon2id (argon2-cffi), off the event loop, a few at a time.

Each hash or verification holds ``memory_kib`` of memory while it runs, so the gateway runs at most
``concurrency`` of them per process and refuses the next one at once (:class:`PasswordBusy`, answered
503 with Retry-After) instead of queueing it: sixteen concurrent logins with argon2's default 64 MiB
took a gateway from 122 MB to 495 MB. The parameters default to 19 MiB, t=2, p=1 (OWASP's first
argon2id option; RFC 9106's second recommended option is 64 MiB, t=3, p=4); a hash made with other
parameters still verifies and is rehashed at the next login. The pod's memory limit follows from
them: docs/security-gateway.md.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar.exceptions import ServiceUnavailableException

DEFAULT_MEMORY_KIB = 19 * 1024
DEFAULT_TIME_COST = 2
DEFAULT_PARALLELISM = 1
DEFAULT_CONCURRENCY = 2
RETRY_AFTER_S = 1


class PasswordBusy(ServiceUnavailableException):
    """Every hashing slot of this process is taken: 503, try again in a second."""

    def __init__(self) -> None:
        super().__init__("too many password checks at once; retry in a moment",
                         headers={"Retry-After": str(RETRY_AFTER_S)})


@dataclass
class _State:
    hasher: PasswordHasher
    dummy: str  # verified against when the account does not exist, so an unknown address costs the same time
    slots: threading.BoundedSemaphore
    concurrency: int


def _make(memory_kib: int, time_cost: int, parallelism: int, concurrency: int) -> _State:
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
    return _State(hasher, hasher.hash("not a real password, only for timing"),
                  threading.BoundedSemaphore(concurrency), concurrency)


_state = _make(DEFAULT_MEMORY_KIB, DEFAULT_TIME_COST, DEFAULT_PARALLELISM, DEFAULT_CONCURRENCY)


def configure(memory_kib: int = DEFAULT_MEMORY_KIB, time_cost: int = DEFAULT_TIME_COST,
              parallelism: int = DEFAULT_PARALLELISM, concurrency: int = DEFAULT_CONCURRENCY) -> None:
    """Set this process's argon2 parameters and concurrency (the gateway does it at start from its settings)."""
    global _state
    p = _state.hasher
    if (p.memory_cost, p.time_cost, p.parallelism, _state.concurrency) != (memory_kib, time_cost, parallelism,
                                                                            concurrency):
        _state = _make(memory_kib, time_cost, parallelism, concurrency)


def parameters() -> dict[str, int]:
    p = _state.hasher
    return {"memory_kib": p.memory_cost, "time_cost": p.time_cost, "parallelism": p.parallelism,
            "concurrency": _state.concurrency}


async def _limited(fn, *args):
    state = _state
    if not state.slots.acquire(blocking=False):
        raise PasswordBusy()
    try:
        return await asyncio.to_thread(fn, state, *args)
    finally:
        state.slots.release()


def hash_password_sync(password: str) -> str:
    return _state.hasher.hash(password)


def _hash(state: _State, password: str) -> str:
    return state.hasher.hash(password)


async def hash_password(password: str) -> str:
    """The argon2id hash; PasswordBusy when every slot is taken."""
    return await _limited(_hash, password)


def _verify(state: _State, stored: str | None, password: str) -> tuple[bool, bool]:
    try:
        state.hasher.verify(stored or state.dummy, password)
    except (VerificationError, InvalidHashError):
        return False, False
    if stored is None:
        return False, False
    return True, state.hasher.check_needs_rehash(stored)


async def verify_password(stored: str | None, password: str) -> tuple[bool, bool]:
    """(matches, needs rehash); ``stored`` None still spends the time of a verification. PasswordBusy
    when every slot is taken."""
    return await _limited(_verify, stored, password)
