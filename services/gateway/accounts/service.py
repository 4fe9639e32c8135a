"""Account operations shared by the pages and the JSON API: each one a transaction, audited."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from urllib.parse import quote

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from services.gateway.accounts import domain, store, throttle
from services.gateway.accounts.audit import audit
from services.gateway.accounts.domain import AccountError
from services.gateway.accounts.passwords import (
    PasswordBusy,
    hash_password,
    verify_password,
)

log = structlog.get_logger()


class Throttled(Exception):
    """Too many attempts: ``reason`` 'ip' (the client address's failures) or 'challenge' (the account's:
    an e-mailed login link is needed); ``retry_after_s`` until the password alone works again."""

    def __init__(self, reason: str, retry_after_s: int = 1):
        super().__init__(reason)
        self.reason, self.retry_after_s = reason, retry_after_s


def _email_key(email_raw: str) -> str:
    try:
        return domain.normalize_email(email_raw)
    except AccountError:
        return (email_raw or "").strip().lower()[:254]


async def login(engine: AsyncEngine, email_raw: str, password: str, ip: str, user_agent: str | None,
                ttl: timedelta, policy: domain.LoginPolicy = domain.LoginPolicy()) -> tuple[int, str]:
    """(user id, session token); AccountError for bad credentials, Throttled past the limits,
    PasswordBusy when every hashing slot is taken. Both attempts are recorded before the password is
    checked (see throttle.py); they stay as failures unless the login succeeds or cannot be checked."""
    email = _email_key(email_raw)
    acct_key, ip_key = f"login:acct:{email}", f"login:ip:{ip}"
    by_ip = await throttle.take(engine, ip_key, policy.failures_per_ip, policy.window_s)
    by_acct = await throttle.take(engine, acct_key, policy.challenge_after, policy.window_s) if by_ip.allowed \
        else None
    verdict = domain.login_verdict(by_acct.count if by_acct else 0, by_ip.count, policy)
    if not verdict.allowed:
        await throttle.forget(engine, by_ip, *([by_acct] if by_acct else []))
        retry = (by_ip if verdict.reason == "ip" else by_acct).retry_after_s
        async with engine.begin() as conn:
            await audit(conn, None, "account.login_throttled", f"email:{email}", {"by": verdict.reason, "ip": ip})
        log.info("login throttled", by=verdict.reason)
        raise Throttled(verdict.reason or "", retry)
    try:
        async with engine.connect() as conn:
            row = await store.user_by_email(conn, email) if email else None
        ok, rehash = await verify_password(row.password_hash if row else None,
                                           password if len(password) <= domain.PASSWORD_MAX else "")
    except BaseException:  # busy, cancelled, database away: not a failure of the person
        await throttle.forget(engine, by_ip, by_acct)
        raise
    if not ok or row is None or row.disabled_at is not None:
        async with engine.begin() as conn:
            await audit(conn, row.id if row else None, "account.login_failed", f"email:{email}", {"ip": ip})
        await asyncio.sleep(domain.failure_delay(by_acct.count, policy.delay_base_s))
        raise AccountError("password", "Adresse e-mail ou mot de passe incorrect.")
    new_hash = None
    if rehash:  # parameters changed since this hash was made: store one with today's
        with contextlib.suppress(PasswordBusy):
            new_hash = await hash_password(password)
    token = domain.new_token()
    async with engine.begin() as conn:
        await store.create_session(conn, row.id, token, ttl, ip, user_agent)
        await store.throttle_clear(conn, acct_key)
        await store.throttle_forget(conn, by_ip.row_id)
        if new_hash:
            await store.set_password(conn, row.id, new_hash)
        await audit(conn, row.id, "account.login", f"user:{row.id}", {"ip": ip, "rehashed": bool(new_hash)})
    return row.id, token


LOGIN_LINK_SUBJECT = "Votre lien de connexion à Carrefour"


def login_link_body(name: str, url: str) -> str:
    return (f"Bonjour {name},\n\nPour vous connecter à Carrefour sans mot de passe, ouvrez ce lien (valable "
            f"une heure, une seule fois) :\n\n{url}\n\nIl a été demandé après plusieurs essais de mot de passe "
            "infructueux sur votre compte. Si ce n'est pas vous, quelqu'un essaie peut-être de deviner votre mot de "
            "passe : il ne peut pas utiliser ce lien, mais choisissez un mot de passe solide.\n\n— Carrefour\n")


async def request_login_link(engine: AsyncEngine, mailer, base_url: str, email_raw: str, ip: str) -> None:
    """Mail a single-use login link when the address has an account; the same answer either way."""
    await _mail_link(engine, mailer, email_raw, ip, "login", domain.LOGIN_LINK_TTL_S, LOGIN_LINK_SUBJECT,
                     lambda name, token: login_link_body(name, link(base_url, "/connexion/lien", token)),
                     "account.login_link_requested")


async def _mail_link(engine: AsyncEngine, mailer, email_raw: str, ip: str, purpose: str, ttl_s: float, subject: str,
                     body, action: str) -> None:
    """A single-use link for ``purpose`` mailed to the account of the address, if any (within the mail
    limits of the address and of the client); the caller answers the same either way."""
    email = domain.normalize_email(email_raw)
    token = domain.new_token()
    async with engine.begin() as conn:
        if not await mail_allowed(conn, purpose, email, ip):
            log.info("link mail throttled", purpose=purpose)
            return
        row = await store.user_by_email(conn, email)
        if row is None or row.disabled_at is not None:
            return
        await store.create_token(conn, row.id, purpose, token, ttl_s)
        await mailer.send(row.email, subject, body(row.display_name, token), conn=conn)
        await audit(conn, row.id, action, f"user:{row.id}", {"ip": ip})


async def login_with_link(engine: AsyncEngine, token: str, ip: str, user_agent: str | None,
                          ttl: timedelta) -> tuple[int, str] | None:
    """Consume a login link: (user id, session token), None when unknown, used or expired. The
    account's failed logins are forgotten (its owner proved the address)."""
    if not domain.valid_token(token):
        return None
    session = domain.new_token()
    async with engine.begin() as conn:
        user_id = await store.use_token(conn, "login", token)
        row = await store.user_by_id(conn, user_id) if user_id else None
        if row is None or row.disabled_at is not None:
            return None
        await store.mark_verified(conn, row.id)  # the link proved the address
        await store.create_session(conn, row.id, session, ttl, ip, user_agent)
        await store.throttle_clear(conn, f"login:acct:{row.email.lower()}")
        await audit(conn, row.id, "account.login", f"user:{row.id}", {"ip": ip, "by": "link"})
    return row.id, session


async def logout(engine: AsyncEngine, token: str) -> None:
    async with engine.begin() as conn:
        user_id = await store.delete_session(conn, token)
        if user_id is not None:
            await audit(conn, user_id, "account.logout", f"user:{user_id}")


def link(base_url: str, path: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{path}?token={quote(token)}"


async def mail_allowed(conn, kind: str, email: str, ip: str) -> bool:
    """Throttle e-mails a person can trigger (per address and per client address); counts this one."""
    a, i = f"mail:{kind}:{email}", f"mail:ip:{ip}"
    verdict = domain.mail_verdict(await store.throttle_count(conn, a, domain.MAIL_WINDOW_S),
                                  await store.throttle_count(conn, i, domain.MAIL_WINDOW_S))
    if verdict.allowed:
        await store.throttle_hit(conn, a, i)
    return verdict.allowed


VERIFY_SUBJECT = "Confirmez votre adresse e-mail sur Carrefour"
RESET_SUBJECT = "Réinitialiser votre mot de passe Carrefour"


def verify_body(name: str, url: str) -> str:
    return (f"Bonjour {name},\n\nPour confirmer votre adresse e-mail et activer votre compte Carrefour, "
            f"ouvrez ce lien (valable 48 heures) :\n\n{url}\n\n"
            "Si vous n'avez pas créé de compte, ignorez ce message.\n\n— Carrefour\n")


def reset_body(name: str, url: str) -> str:
    return (f"Bonjour {name},\n\nUne réinitialisation du mot de passe de votre compte Carrefour a été demandée. "
            f"Pour choisir un nouveau mot de passe, ouvrez ce lien (valable une heure, une seule fois) :\n\n{url}\n\n"
            "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : "
            "votre mot de passe reste inchangé.\n\n— Carrefour\n")


async def _new_password_hash(password: str, password2: str, email: str) -> str:
    """The hash of a new password, once it is acceptable and typed twice alike."""
    domain.check_password(password, email)
    if password != password2:
        raise AccountError("password2", "Les deux mots de passe ne correspondent pas.")
    return await hash_password(password)


async def signup(engine: AsyncEngine, mailer, base_url: str, email_raw: str, display_name: str | None,
                 password: str, password2: str, ip: str) -> int | None:
    """Create an unverified account and mail its verification link. Returns the new id, or None when the
    address already has an account (that owner gets a notice instead: no account enumeration)."""
    email = domain.normalize_email(email_raw)
    name = domain.check_display_name(display_name, email)
    password_hash = await _new_password_hash(password, password2, email)
    token = domain.new_token()
    async with engine.begin() as conn:
        try:
            async with conn.begin_nested():
                user_id = await store.create_user(conn, email, name, password_hash)
        except store.EmailTaken:
            existing = await store.user_by_email(conn, email)
            if await mail_allowed(conn, "exists", email, ip):
                await mailer.send(email, "Votre compte Carrefour existe déjà", (
                    f"Bonjour {existing.display_name},\n\nQuelqu'un (vous, sans doute) a voulu créer un compte "
                    "Carrefour avec cette adresse, qui en a déjà un. Pour vous connecter : "
                    f"{base_url.rstrip('/')}/connexion — mot de passe oublié : "
                    f"{base_url.rstrip('/')}/mot-de-passe-oublie\n\n— Carrefour\n"), conn=conn)
            await audit(conn, None, "account.signup_existing", f"user:{existing.id}", {"ip": ip})
            return None
        if not await mail_allowed(conn, "verify", email, ip):  # sign-ups from one address: 20 an hour
            raise AccountError("email", "Trop de demandes depuis votre connexion : réessayez dans une heure.")
        await store.create_token(conn, user_id, "verify", token, domain.VERIFY_TTL_S)
        await mailer.send(email, VERIFY_SUBJECT, verify_body(name, link(base_url, "/verification", token)), conn=conn)
        await audit(conn, user_id, "account.signup", f"user:{user_id}", {"ip": ip})
    return user_id


async def resend_verification(engine: AsyncEngine, mailer, base_url: str, user_id: int, ip: str) -> bool:
    token = domain.new_token()
    async with engine.begin() as conn:
        row = await store.user_by_id(conn, user_id)
        if row is None or row.email_verified:
            return False
        if not await mail_allowed(conn, "verify", row.email.lower(), ip):
            return False
        await store.create_token(conn, user_id, "verify", token, domain.VERIFY_TTL_S)
        await mailer.send(row.email, VERIFY_SUBJECT, verify_body(row.display_name,
                                                                 link(base_url, "/verification", token)), conn=conn)
    return True


async def verify_email(engine: AsyncEngine, token: str) -> int | None:
    if not domain.valid_token(token):
        return None
    async with engine.begin() as conn:
        user_id = await store.use_token(conn, "verify", token)
        if user_id is not None:
            await store.mark_verified(conn, user_id)
            await audit(conn, user_id, "account.verified", f"user:{user_id}")
    return user_id


async def request_reset(engine: AsyncEngine, mailer, base_url: str, email_raw: str, ip: str) -> None:
    """Mail a reset link when the address has an account; the same answer either way."""
    await _mail_link(engine, mailer, email_raw, ip, "reset", domain.RESET_TTL_S, RESET_SUBJECT,
                     lambda name, token: reset_body(name, link(base_url, "/reinitialisation", token)),
                     "account.reset_requested")


async def reset_password(engine: AsyncEngine, token: str, password: str, password2: str) -> int:
    """Set a new password with a reset token (single use); every session of the account is closed."""
    async with engine.connect() as conn:
        user_id = await store.peek_token(conn, "reset", token) if domain.valid_token(token) else None
        row = await store.user_by_id(conn, user_id) if user_id else None
    if row is None:
        raise AccountError("token", "Ce lien n'est plus valable : demandez-en un nouveau.")
    password_hash = await _new_password_hash(password, password2, row.email)
    async with engine.begin() as conn:
        if await store.use_token(conn, "reset", token) != row.id:
            raise AccountError("token", "Ce lien n'est plus valable : demandez-en un nouveau.")
        await store.set_password(conn, row.id, password_hash)
        await store.mark_verified(conn, row.id)  # the link proved the address
        await store.delete_sessions_of(conn, row.id)
        await store.throttle_clear(conn, f"login:acct:{row.email.lower()}")
        await audit(conn, row.id, "account.password_reset", f"user:{row.id}")
    return row.id


async def change_password(engine: AsyncEngine, user_id: int, current: str, password: str, password2: str,
                          keep_token: str | None) -> None:
    async with engine.connect() as conn:
        row = await store.user_by_id(conn, user_id)
    ok, _ = await verify_password(row.password_hash if row else None,
                                  current if len(current) <= domain.PASSWORD_MAX else "")
    if not ok:
        raise AccountError("current", "Le mot de passe actuel est incorrect.")
    password_hash = await _new_password_hash(password, password2, row.email)
    async with engine.begin() as conn:
        await store.set_password(conn, user_id, password_hash)
        await store.delete_sessions_of(conn, user_id, keep_token=keep_token)
        await audit(conn, user_id, "account.password_changed", f"user:{user_id}")
