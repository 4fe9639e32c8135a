"""Pure rules of accounts: e-mail and password checks, tokens, roles, redirects, throttling (no I/O)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

ROLES = ("visitor", "holder", "partner", "moderator", "operator")
STAFF_ROLES = ("partner", "moderator", "operator")
PASSWORD_MIN = 12
PASSWORD_MAX = 200  # argon2 on a megabyte password is a denial of service
EMAIL_MAX = 254
NAME_MAX = 80
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
ISSUABLE_SCOPES = ("ingest", "read")
COMMON_PASSWORDS = frozenset({
    "123456789012", "motdepasse123", "motdepasse1234", "azertyuiop12", "azertyuiop123", "password1234",
    "password12345", "qwertyuiop12", "qwertyuiop123", "000000000000", "111111111111", "123456123456",
    "abcdefghijkl", "iloveyou1234", "carrefour123", "carrefour1234", "soleil123456", "bonjour12345",
})

# login throttling: failures counted over a sliding window, per account and per client address
THROTTLE_WINDOW_S = 15 * 60
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_IP = 30
# e-mails a person can trigger (verification resend, password reset) per address and per hour
MAX_MAILS_PER_ADDRESS = 3
MAX_MAILS_PER_IP = 20
MAIL_WINDOW_S = 3600

VERIFY_TTL_S = 48 * 3600
RESET_TTL_S = 3600
# as long as the window of the mail limit: when a stranger has used up the address's 3 mails of the
# hour, the last link they caused to be sent still works until the owner may ask for a new one
LOGIN_LINK_TTL_S = MAIL_WINDOW_S
MAX_DELAY_FACTOR = 16
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]", "testserver.local"})


class AccountError(ValueError):
    """A user-facing problem with what was submitted; ``field`` names the form field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def normalize_email(raw: str) -> str:
    """A syntactically valid address, lower-cased; AccountError otherwise (no DNS lookup)."""
    raw = (raw or "").strip()
    if not raw or len(raw) > EMAIL_MAX:
        raise AccountError("email", "Indiquez une adresse e-mail valide.")
    try:
        info = validate_email(raw, check_deliverability=False)
    except EmailNotValidError:
        raise AccountError("email", "Cette adresse e-mail n'est pas valide.") from None
    return info.normalized.lower()


def check_display_name(raw: str | None, email: str) -> str:
    name = " ".join((raw or "").split())
    if not name:
        name = email.split("@", 1)[0]
    if len(name) > NAME_MAX:
        raise AccountError("display_name", f"Le nom affiché fait au plus {NAME_MAX} caractères.")
    if any(ord(c) < 32 for c in name):
        raise AccountError("display_name", "Le nom affiché contient des caractères non autorisés.")
    return name


def password_problem(password: str, email: str = "") -> str | None:
    """Why ``password`` is refused (French), or None when it is acceptable."""
    if len(password) < PASSWORD_MIN:
        return f"Le mot de passe doit faire au moins {PASSWORD_MIN} caractères."
    if len(password) > PASSWORD_MAX:
        return f"Le mot de passe doit faire au plus {PASSWORD_MAX} caractères."
    lowered = password.lower()
    if len(set(password)) < 5:
        return "Le mot de passe est trop répétitif : variez les caractères."
    if lowered in COMMON_PASSWORDS:
        return "Ce mot de passe est trop courant."
    local = email.split("@", 1)[0].lower()
    if email and (lowered == email.lower() or (len(local) >= 4 and local in lowered)):
        return "Le mot de passe ne doit pas reprendre votre adresse e-mail."
    return None


def check_password(password: str, email: str = "", field: str = "password") -> str:
    problem = password_problem(password, email)
    if problem:
        raise AccountError(field, problem)
    return password


TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


def valid_token(token: str | None) -> bool:
    """The shape of a token this module issued (url-safe base64): anything else is never looked up."""
    return bool(token) and TOKEN.match(token or "") is not None


def _no_controls(text: str) -> bool:
    return not any(ord(c) < 32 or ord(c) == 127 for c in text)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def effective_roles(stored: list[str] | tuple[str, ...] | frozenset[str], verified: bool) -> frozenset[str]:
    """Everyone is a visitor; a verified account is a holder; staff roles are stored. An unverified
    account has no role beyond visitor until its address is confirmed."""
    if not verified:
        return frozenset({"visitor"})
    return frozenset({"visitor", "holder", *(r for r in stored if r in ROLES)})


def implied(roles: frozenset[str]) -> frozenset[str]:
    """``operator`` implies ``moderator``."""
    return roles | {"moderator"} if "operator" in roles else roles


def safe_next(raw: str | None, default: str = "/compte") -> str:
    """A local path to go back to after logging in; anything else (another host, scheme, //x) → default."""
    if not raw or len(raw) > 500 or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return default
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in raw):
        return default
    return raw


def cookie_secure(configured: bool | None, host: str, scheme: str) -> bool:
    """The session cookie's Secure flag: as configured, else on except for local development over http."""
    if configured is not None:
        return configured
    if scheme == "https":
        return True
    bare = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return bare.lower() not in LOCAL_HOSTS


@dataclass(frozen=True)
class ThrottleVerdict:
    allowed: bool
    reason: str | None = None


@dataclass(frozen=True)
class LoginPolicy:
    """How logins are limited. Per client address: ``failures_per_ip`` failures in the window, then 429.
    Per account, never a lock a stranger can trigger: each failure is answered a little later
    (:func:`failure_delay`), and after ``challenge_after`` failures the password alone no longer logs
    in — an e-mailed single-use link does (only the address's owner can read it)."""
    challenge_after: int = MAX_FAILURES_PER_ACCOUNT
    failures_per_ip: int = MAX_FAILURES_PER_IP
    delay_base_s: float = 0.5
    window_s: int = THROTTLE_WINDOW_S


def login_verdict(account_attempts: int, ip_attempts: int, policy: LoginPolicy = LoginPolicy()) -> ThrottleVerdict:
    """Attempts counted *including* the current one (recorded before it is judged, so parallel
    attempts all count): 'ip' past the address's limit, 'challenge' past the account's."""
    if ip_attempts > policy.failures_per_ip:
        return ThrottleVerdict(False, "ip")
    if account_attempts > policy.challenge_after:
        return ThrottleVerdict(False, "challenge")
    return ThrottleVerdict(True)


def failure_delay(failures: int, base_s: float) -> float:
    """Seconds before answering the ``failures``-th failure of an account within the window: base,
    2×base, 4×base ... at most 16×base."""
    if failures <= 0:
        return 0.0
    return base_s * min(2 ** (failures - 1), MAX_DELAY_FACTOR)


def mail_verdict(address_count: int, ip_count: int) -> ThrottleVerdict:
    if address_count >= MAX_MAILS_PER_ADDRESS:
        return ThrottleVerdict(False, "address")
    if ip_count >= MAX_MAILS_PER_IP:
        return ThrottleVerdict(False, "ip")
    return ThrottleVerdict(True)


def check_slug(raw: str) -> str:
    slug = (raw or "").strip().lower()
    if not SLUG.match(slug):
        raise AccountError("slug", "L'identifiant : lettres minuscules, chiffres et tirets (2 à 64 caractères).")
    return slug


def check_org_name(raw: str) -> str:
    name = " ".join((raw or "").split())
    if not name or len(name) > 200 or not _no_controls(name):
        raise AccountError("name", "Indiquez le nom de l'organisation (200 caractères au plus).")
    return name


def check_scopes(raw: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    scopes = tuple(dict.fromkeys(raw or ()))
    if not scopes or any(s not in ISSUABLE_SCOPES for s in scopes):
        raise AccountError("scopes", "Choisissez les droits de la clé : ingest et/ou read.")
    return scopes


def check_label(raw: str | None) -> str | None:
    label = " ".join((raw or "").split()) or None
    if label and (len(label) > 100 or not _no_controls(label)):
        raise AccountError("label", "Le libellé fait au plus 100 caractères.")
    return label
