"""Contact between visitors and holders — the pure rules (no I/O).

- what a visitor may send (sizes, links, honeypot), as French error messages per field;
- rate-limit rules (per IP, per sender e-mail, per conversation party) applied to counts that
  the store reads from PostgreSQL;
- duplicate suppression: a fingerprint of the normalised text;
- tokens (reply-to addresses, secret links): random, only their SHA-256 stored;
- inbound e-mail: which token it was sent to, whether it is an automatic answer, and the new
  text of a reply with its quoted history removed (``mail-parser-reply``, plus our own marker).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses

from email_validator import EmailNotValidError, validate_email
from mailparser_reply import EmailReplyParser

from libs.contracts.text import html_to_text

NAME_MAX = 100
BODY_MIN = 10
BODY_MAX = 5000
REASON_MAX = 500
MAX_LINKS = 2
TOKEN_BYTES = 32
TARGET_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,100}$")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{40,64}$")
REPLY_LOCAL = "reponse"
REPLY_MARKER = "-- Répondez au-dessus de cette ligne --"
LINK = re.compile(
    r"(?:https?://|ftp://|www\.)\S+"  # explicit URLs
    r"|\b[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})*\.(?:com|net|org|fr|info|biz|io|ru|cn|xyz|top|site|online|ly|co)"
    r"(?:/\S*)?\b",
    re.IGNORECASE)
EMAIL_IN_TEXT = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class Draft:
    """A first message from a visitor, cleaned; ``errors`` maps a field to a French message."""

    name: str
    email: str
    body: str
    errors: dict[str, str]
    spam: bool = False  # the honeypot was filled: accept silently, send nothing


def clean_text(text: str | None) -> str:
    """NFC, no control characters (newlines and tabs kept), unified newlines, trimmed."""
    text = unicodedata.normalize("NFC", (text or "").replace("\r\n", "\n").replace("\r", "\n"))
    return CONTROL.sub("", text).strip()


def count_links(text: str) -> int:
    """Links in a text: URLs, www. names and bare domain names (``exemple.fr/promo``); e-mail
    addresses do not count."""
    return len(LINK.findall(EMAIL_IN_TEXT.sub(" ", text)))


def check_body(body: str | None, minimum: int = BODY_MIN) -> tuple[str, str | None]:
    """(cleaned body, error or None); a first message needs ``BODY_MIN`` characters, a reply one."""
    body = clean_text(body)
    if not body:
        return body, "Le message est vide."
    if len(body) < minimum:
        return body, f"Le message doit faire au moins {minimum} caractères."
    if len(body) > BODY_MAX:
        return body, f"Le message ne doit pas dépasser {BODY_MAX} caractères (il en fait {len(body)})."
    if count_links(body) > MAX_LINKS:
        return body, f"Pas plus de {MAX_LINKS} liens par message."
    return body, None


def normalise_email(email: str | None) -> tuple[str, str | None]:
    raw = clean_text(email)
    if not raw:
        return raw, "Indiquez votre adresse électronique, pour recevoir la réponse."
    if len(raw) > 254:
        return raw, "Adresse électronique trop longue."
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower(), None
    except EmailNotValidError:
        return raw, "Adresse électronique invalide."


def check_draft(name: str | None, email: str | None, body: str | None, honeypot: str | None, *,
                logged_in_email: str | None = None, logged_in_name: str | None = None) -> Draft:
    """Validate a first message. A logged-in visitor's name and e-mail come from their account."""
    errors: dict[str, str] = {}
    if logged_in_email:
        name_c, email_c = clean_text(logged_in_name)[:NAME_MAX] or "Un visiteur", logged_in_email.lower()
    else:
        name_c = " ".join(clean_text(name).split())
        if not name_c:
            errors["name"] = "Indiquez votre nom."
        elif len(name_c) > NAME_MAX:
            errors["name"] = f"Le nom ne doit pas dépasser {NAME_MAX} caractères."
        elif count_links(name_c) or "@" in name_c:
            errors["name"] = "Le nom ne peut contenir ni lien ni adresse."
        email_c, err = normalise_email(email)
        if err:
            errors["email"] = err
    body_c, err = check_body(body)
    if err:
        errors["body"] = err
    return Draft(name=name_c, email=email_c, body=body_c, errors=errors, spam=bool(clean_text(honeypot)))


def fingerprint(body: str) -> str:
    """Same text give or take case, accents-as-typed, spaces and punctuation → same fingerprint."""
    folded = unicodedata.normalize("NFKC", body).casefold()
    words = re.findall(r"\w+", folded)
    return hashlib.sha256(" ".join(words).encode()).hexdigest()


def hash_key(value: str) -> str:
    """Rate-limit keys (IP, e-mail) are stored hashed."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()


# --------------------------------------------------------------------------- rate limits


@dataclass(frozen=True)
class Limit:
    bucket: str          # 'ip', 'sender', 'reply'
    window_s: int
    max: int
    message: str


LIMITS = (
    Limit("ip", 3600, 5, "Trop de messages envoyés depuis votre connexion : réessayez dans une heure."),
    Limit("ip", 86400, 20, "Trop de messages envoyés depuis votre connexion aujourd'hui : réessayez demain."),
    Limit("sender", 3600, 3, "Trop de messages envoyés depuis cette adresse : réessayez dans une heure."),
    Limit("sender", 86400, 10, "Trop de messages envoyés depuis cette adresse aujourd'hui : réessayez demain."),
)
REPLY_LIMITS = (
    Limit("reply", 3600, 20, "Trop de réponses dans cette conversation : réessayez dans une heure."),
)
DUPLICATE_WINDOW_S = 86400
# a reply-by-mail address works while its conversation lives: until this long after its last message
REPLY_IDLE_DAYS = 30
DUPLICATE_MESSAGE = "Vous avez déjà envoyé ce message : inutile de le renvoyer."


def first_exceeded(limits: tuple[Limit, ...], counts: dict[tuple[str, int], int]) -> Limit | None:
    """The first limit whose count (attempts already made in its window) is at its maximum."""
    for limit in limits:
        if counts.get((limit.bucket, limit.window_s), 0) >= limit.max:
            return limit
    return None


# --------------------------------------------------------------------------- tokens and addresses


def new_token() -> tuple[str, str]:
    """(token to hand out, its hash to store)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def valid_token(token: str | None) -> bool:
    return token is not None and bool(TOKEN.match(token))


def reply_address(token: str, domain: str) -> str:
    return f"{REPLY_LOCAL}+{token}@{domain}"


def tokens_in_addresses(values: list[str], domain: str) -> list[str]:
    """Tokens of our reply addresses among header values (To, Cc, Delivered-To...)."""
    pattern = re.compile(rf"^{REPLY_LOCAL}\+([A-Za-z0-9_-]{{40,64}})@{re.escape(domain)}$", re.IGNORECASE)
    out = []
    for _, addr in getaddresses(values):
        m = pattern.match(addr.strip())
        if m and m.group(1) not in out:
            out.append(m.group(1))
    return out


# --------------------------------------------------------------------------- inbound e-mail


@dataclass(frozen=True)
class InboundMail:
    tokens: list[str]
    from_address: str
    message_id: str | None
    text: str            # the new text only, quotes stripped
    automatic: bool      # out-of-office, bounce, mailing list: never appended


AUTO_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}


def is_automatic(msg: EmailMessage) -> bool:
    """An automatic message (RFC 3834 Auto-Submitted, vacation responders, bounces, lists)."""
    auto = (msg.get("Auto-Submitted") or "no").strip().lower()
    if auto != "no":
        return True
    if (msg.get("Precedence") or "").strip().lower() in AUTO_PRECEDENCE:
        return True
    if any(msg.get(h) for h in ("X-Autoreply", "X-Autorespond", "List-Id", "List-Unsubscribe")):
        return True
    sender = (msg.get("Return-Path") or "").strip()
    if sender == "<>":
        return True
    subject = (msg.get("Subject") or "").lower()
    return subject.startswith(("absence", "out of office", "automatic reply", "réponse automatique",
                               "undeliverable", "delivery status notification"))


def body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeDecodeError, AssertionError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_type() == "text/html":  # a quoted message in HTML is a blockquote
        return html_to_text(content, lines=True, drop=("blockquote", "head")) or ""
    return content


TRAILING_SEPARATORS = re.compile(
    r"(\n\s*(-{2,}\s*(message d'origine|original message|message transféré|forwarded message)\s*-{2,}"
    r"|_{10,})\s*)+$", re.IGNORECASE)


def extract_reply(text: str) -> str:
    """The new text of an e-mail reply: everything under our marker, the quoted message
    ("Le … a écrit :", "On … wrote:", "-----Message d'origine-----", "> " lines) and the
    signature are dropped."""
    text = clean_text(text)
    marker = text.find(REPLY_MARKER)
    if marker >= 0:
        text = text[:marker]
    reply = EmailReplyParser(languages=["fr", "en", "de", "es", "it", "nl"]).parse_reply(text=text) or ""
    lines = reply.rstrip().split("\n")
    while lines and (lines[-1].lstrip().startswith(">") or not lines[-1].strip()):
        lines.pop()  # a quote at the bottom that no header announced
    reply = "\n".join(lines)
    reply = TRAILING_SEPARATORS.sub("", reply)
    return clean_text(reply)


def parse_inbound(msg: EmailMessage, domain: str, envelope_to: list[str] | None = None) -> InboundMail:
    headers: list[str] = list(envelope_to or [])
    for name in ("Delivered-To", "X-Original-To", "To", "Cc", "Envelope-To"):
        headers += [str(v) for v in msg.get_all(name, [])]
    tokens = tokens_in_addresses(headers, domain)
    from_addr = (getaddresses([str(msg.get("From") or "")]) or [("", "")])[0][1].lower()
    message_id = (str(msg.get("Message-ID") or "").strip() or None)
    if message_id:
        message_id = message_id[:300]
    return InboundMail(tokens=tokens, from_address=from_addr, message_id=message_id,
                       text=extract_reply(body_text(msg)), automatic=is_automatic(msg))


def sender_allowed(from_address: str, party_addresses: list[str | None]) -> bool:
    """Whether an inbound reply's From is one of the replying party's addresses (case-insensitive): a
    leaked or forwarded reply address is then useless to anyone else. The From header is what the
    MTA's SPF/DKIM/DMARC checks vouch for (docs/security-gateway.md)."""
    sender = (from_address or "").strip().lower()
    return bool(sender) and sender in {(a or "").strip().lower() for a in party_addresses if a}


# --------------------------------------------------------------------------- what the e-mails say


def subject_line(subject: str) -> str:
    return f"[Carrefour] Message à propos de « {subject[:120]} »"


def mail_to_recipient(*, subject: str, sender_name: str, body: str, page_url: str | None, first: bool,
                      via_contact_address: bool) -> str:
    intro = (f"{sender_name} vous a écrit via Carrefour à propos de « {subject} »."
             if first else f"{sender_name} a répondu dans votre conversation à propos de « {subject} ».")
    lines = [REPLY_MARKER, "", intro, "", body, "", "—",
             "Pour répondre, répondez simplement à ce courriel (votre adresse n'est pas communiquée "
             "à votre correspondant : il ne verra que votre réponse)."]
    if page_url:
        lines.append(f"Ou répondez sur la plateforme : {page_url}")
    if via_contact_address:
        lines.append("Vous recevez ce message car cette adresse est le contact publié du projet. "
                     "Porteur du projet ? Créez un compte et revendiquez-le pour suivre vos échanges sur Carrefour.")
    if page_url:
        lines.append("Message abusif ? Signalez-le depuis la page de la conversation.")
    return "\n".join(lines)


def mail_to_sender(*, subject: str, body: str, page_url: str) -> str:
    return "\n".join([REPLY_MARKER, "", f"Vous avez reçu une réponse à votre message à propos de « {subject} » :",
                      "", body, "", "—", "Pour répondre, répondez à ce courriel, ou sur la plateforme :",
                      page_url])


def mail_confirm(*, subject: str, page_url: str) -> str:
    return "\n".join([
        f"Bonjour,\n\nVous avez écrit via Carrefour à propos de « {subject} ».",
        "Pour que votre message parte, confirmez votre adresse en ouvrant ce lien puis en cliquant sur "
        "« Confirmer l'envoi » :", "", page_url, "",
        "Ce lien est personnel : il vous donne accès à la conversation, gardez-le pour suivre les réponses.",
        "Si vous n'avez rien envoyé, ignorez ce courriel : rien ne partira."])
