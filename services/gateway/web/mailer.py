"""Outgoing mail: ``Mailer.send`` writes the ``outbox`` table; a ``Dispatcher`` delivers it.

Delivery goes through SMTP (stdlib smtplib in a thread) when ``settings.smtp_host`` is set, else to a
Maildir folder (``settings.mailbox_dir``, default ``.run/mailbox``) — the embedded default, read by
the tests and by a developer with any mail client. Rows are claimed with ``FOR UPDATE SKIP LOCKED``,
so several gateway replicas share the outbox without sending twice; failures are retried with
backoff, then marked failed. Message bodies are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import mailbox
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from pathlib import Path
from typing import Protocol

import orjson
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger()
MAX_SUBJECT = 300
MAX_BODY = 200_000
MAX_ATTEMPTS = 8
BATCH = 20
HEADER_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
FORBIDDEN_HEADERS = frozenset({"from", "to", "subject", "reply-to", "cc", "bcc", "message-id", "date",
                               "content-type", "content-transfer-encoding", "mime-version"})


def _clean(value: str, limit: int) -> str:
    """One line (no header injection), bounded."""
    return " ".join(str(value).split())[:limit]


def build_message(sender: str, to: str, subject: str, body: str, reply_to: str | None = None,
                  headers: dict[str, str] | None = None, domain: str = "carrefour.localhost") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain=domain)
    if reply_to:
        msg["Reply-To"] = reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg


class Transport(Protocol):
    async def deliver(self, msg: EmailMessage) -> None: ...


class MaildirTransport:
    """Writes each message into a Maildir folder (``new/``)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def _add(self, msg: EmailMessage) -> None:
        for sub in ("tmp", "new", "cur"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(self.directory, create=True).add(msg)

    async def deliver(self, msg: EmailMessage) -> None:
        await asyncio.to_thread(self._add, msg)


class SmtpTransport:
    """Stdlib smtplib in a thread: STARTTLS (default) or implicit TLS on port 465, optional login."""

    def __init__(self, host: str, port: int = 587, user: str | None = None, password: str | None = None,
                 starttls: bool = True, timeout: float = 30.0):
        self.host, self.port, self.user, self.password = host, port, user, password
        self.starttls, self.timeout = starttls, timeout

    def _send(self, msg: EmailMessage) -> None:
        context = ssl.create_default_context()
        if self.port == 465:
            server: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with server:
            if self.port != 465 and self.starttls:
                server.starttls(context=context)
            if self.user:
                server.login(self.user, self.password or "")
            server.send_message(msg)

    async def deliver(self, msg: EmailMessage) -> None:
        await asyncio.to_thread(self._send, msg)


def make_transport(cfg) -> Transport:
    if cfg.smtp_host:
        return SmtpTransport(cfg.smtp_host, cfg.smtp_port, cfg.smtp_user, cfg.smtp_password, cfg.smtp_starttls)
    return MaildirTransport(cfg.mailbox_dir)


class Mailer:
    """``app.state.mailer``: ``await send(to, subject, body, reply_to=..., headers=...)`` queues a
    message in the outbox (pass ``conn=`` to queue it inside your own transaction)."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self.wakeup = asyncio.Event()

    async def send(self, to: str, subject: str, body: str, *, reply_to: str | None = None,
                   headers: dict[str, str] | None = None, conn: AsyncConnection | None = None) -> None:
        name, addr = parseaddr(to)
        if not addr or "@" not in addr or any(c in to for c in "\r\n"):
            raise ValueError("invalid recipient address")
        if reply_to is not None and (any(c in reply_to for c in "\r\n") or "@" not in reply_to):
            raise ValueError("invalid reply-to address")
        extra: dict[str, str] = {}
        for key, value in (headers or {}).items():
            k = key.strip().lower()
            if not k or set(k) - HEADER_NAME_OK or k in FORBIDDEN_HEADERS:
                raise ValueError(f"header {key!r} not allowed")
            extra[key.strip()] = _clean(value, 998)
        params = {"to": formataddr((name, addr)) if name else addr, "s": _clean(subject, MAX_SUBJECT),
                  "b": body[:MAX_BODY], "r": reply_to, "h": orjson.dumps(extra).decode()}
        sql = text("INSERT INTO outbox (to_addr, subject, body, reply_to, headers) "
                   "VALUES (:to, :s, :b, :r, CAST(:h AS jsonb))")
        if conn is not None:
            await conn.execute(sql, params)
        else:
            async with self.engine.begin() as own:
                await own.execute(sql, params)
        self.wakeup.set()


class Dispatcher:
    """Delivers due outbox rows; run ``await dispatcher.run()`` as a background task."""

    def __init__(self, engine: AsyncEngine, transport: Transport, sender: str, domain: str,
                 wakeup: asyncio.Event | None = None, interval_s: float = 2.0):
        self.engine, self.transport, self.sender, self.domain = engine, transport, sender, domain
        self.wakeup = wakeup or asyncio.Event()
        self.interval_s = interval_s

    async def deliver_due(self) -> int:
        """One batch: claim due rows (skipping those another replica holds), deliver, record. Returns the count."""
        done = 0
        async with self.engine.begin() as conn:
            rows = (await conn.execute(text(
                "SELECT id, to_addr, subject, body, reply_to, headers, attempts FROM outbox "
                "WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now() "
                "ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"), {"n": BATCH})).all()
            for row in rows:
                try:
                    msg = build_message(self.sender, row.to_addr, row.subject, row.body, row.reply_to,
                                        row.headers or {}, self.domain)
                    await self.transport.deliver(msg)
                except Exception as exc:  # noqa: BLE001 — recorded and retried, never fatal
                    attempts = row.attempts + 1
                    failed = attempts >= MAX_ATTEMPTS
                    log.warning("mail delivery failed", outbox_id=row.id, attempts=attempts, gave_up=failed,
                                error=type(exc).__name__)
                    await conn.execute(text(
                        "UPDATE outbox SET attempts = :a, last_error = :e, "
                        "next_attempt_at = now() + make_interval(secs => :d), "
                        "failed_at = CASE WHEN :f THEN now() END WHERE id = :i"),
                        {"a": attempts, "e": f"{type(exc).__name__}: {exc}"[:500], "d": min(3600, 5 * 2 ** attempts),
                         "f": failed, "i": row.id})
                    continue
                await conn.execute(text("UPDATE outbox SET sent_at = now(), attempts = attempts + 1 WHERE id = :i"),
                                   {"i": row.id})
                log.info("mail sent", outbox_id=row.id)
                done += 1
        return done

    async def run(self) -> None:
        while True:
            try:
                while await self.deliver_due() >= BATCH:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — the database may be briefly away
                log.warning("outbox dispatcher error", error=f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), self.interval_s)
            self.wakeup.clear()
