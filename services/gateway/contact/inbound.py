"""Inbound e-mail from a Maildir folder (the embedded default; an MTA delivering
``reponse+*@<mail domain>`` into it, or tests writing files there).

Every message in ``new/`` is claimed by an atomic rename into ``cur/`` (so several gateway
replicas sharing the folder never handle one twice), handed to ``handle(raw) -> outcome``, and
flagged: ``S`` (seen) when handled, ``T`` (trashed) when refused. When ``handle`` raises (the
database is down), the message goes back to ``new/`` for the next round.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

log = structlog.get_logger()
MAX_BYTES = 1024 * 1024
HANDLED = {"appended", "duplicate"}


def ensure_maildir(directory: Path) -> None:
    for sub in ("new", "cur", "tmp"):
        (directory / sub).mkdir(parents=True, exist_ok=True)


async def poll_maildir(directory: Path, handle: Callable[[bytes], Awaitable[str]], limit: int = 100) -> dict[str, int]:
    """One round over ``new/``; returns the count of each outcome."""
    ensure_maildir(directory)
    counts: dict[str, int] = {}
    names = sorted(n for n in os.listdir(directory / "new") if not n.startswith("."))[:limit]
    for name in names:
        claimed = directory / "cur" / (name.split(":", 1)[0] + ":2,")
        try:
            os.rename(directory / "new" / name, claimed)
        except FileNotFoundError:  # another replica took it
            continue
        try:
            size = claimed.stat().st_size
            outcome = "too_large" if size > MAX_BYTES else await handle(claimed.read_bytes())
        except Exception:
            os.rename(claimed, directory / "new" / name)  # try again next round
            raise
        flag = "S" if outcome in HANDLED else "T"
        os.rename(claimed, claimed.with_name(claimed.name + flag))
        counts[outcome] = counts.get(outcome, 0) + 1
        log.info("inbound mail", channel="maildir", outcome=outcome)
    return counts
