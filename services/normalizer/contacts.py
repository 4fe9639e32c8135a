"""Contact details (pure): e-mails checked and normalised by email-validator, phone numbers by
phonenumbers (Google's libphonenumber metadata), French numbers first, overseas ones included.

Both libraries are pure Python and cost 40-70 µs per distinct value; the common shapes take a
shorter road through the same libraries, with the same answers (``tests/unit/test_normalizer_contacts.py``
compares both roads on generated values):

* an e-mail ``local@domain`` whose local part is plain ASCII (RFC 5322 dot-atom, which
  email-validator accepts unchanged) only needs its domain validated; a plain lower-case ASCII
  host name (``asso-exemple.org``: letters, digits, inner hyphens, a letter at the end, no
  ``--``, not a special-use name) is one email-validator keeps as it is; any other domain goes
  through email-validator once (cached: ``orange.fr``, ``gmail.com`` repeat);
* a French number written nationally (``01 84 60 27 13``, ``06.12.34.56.78``) is what
  ``phonenumbers.parse(…, "FR")`` would build (country code 33, the nine digits after the 0);
  it is checked and formatted with phonenumbers' own French metadata (number types, formats),
  its patterns compiled once instead of looked up a dozen times per number.

Anything else (or anything the short road doubts) goes the full way.
"""

from __future__ import annotations

import re
from functools import lru_cache

import email_validator
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import (
    CASE_INSENSITIVE_MAILBOX_NAMES,
    DOMAIN_MAX_LENGTH,
    DOT_ATOM_TEXT,
    EMAIL_MAX_LENGTH,
)

# Numbers written nationally with an overseas prefix ("0262 …" La Réunion, "0269 …" Mayotte,
# "0590 …" Guadeloupe…) belong to the overseas plans; French metadata would also accept them as
# "+33 2 69 …", so those regions are tried first for such numbers.
_OVERSEAS = ("RE", "YT", "GP", "MQ", "GF", "PM", "BL", "MF")
_REGIONS = ("FR", "NC", "PF", "WF")
_OVERSEAS_PREFIX = re.compile(r"^0(?:26[239]|5(?:08|9[046])|6(?:39|9[0-7]))")
_NOT_DIGITS = re.compile(r"[^0-9+]")
_FRENCH_NATIONAL = re.compile(r"0([1-9](?:[ .\-]?[0-9]{2}){4})")
"""0 and nine digits, in pairs optionally separated: parse(…, "FR") strips the national prefix 0."""
_CASE_INSENSITIVE = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


class _NationalPlan:
    """phonenumbers' validity test and international format for one region's numbers, from the
    library's metadata for that region, patterns compiled once (same logic as
    ``is_valid_number`` / ``format_number(…, INTERNATIONAL)`` for a number of that region)."""

    _TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
              "voicemail", "fixed_line", "mobile")

    def __init__(self, region: str) -> None:
        md = phonenumbers.PhoneMetadata.metadata_for_region(region)
        self.prefix = f"+{md.country_code} "
        self.general = self._desc(md.general_desc)
        self.types = [d for d in (self._desc(getattr(md, t)) for t in self._TYPES) if d is not None]
        self.formats = [(re.compile(f.leading_digits_pattern[-1]) if f.leading_digits_pattern else None,
                         re.compile(f.pattern), f.format) for f in (md.intl_number_format or md.number_format)]

    @staticmethod
    def _desc(desc) -> tuple[frozenset[int], re.Pattern] | None:
        if desc is None or not desc.national_number_pattern:
            return None
        return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)

    @staticmethod
    def _matches(nsn: str, desc: tuple[frozenset[int], re.Pattern]) -> bool:
        lengths, pattern = desc
        return (not lengths or len(nsn) in lengths) and pattern.fullmatch(nsn) is not None

    def format_if_valid(self, nsn: str) -> str | None:
        """``+33 1 84 60 27 13`` for a valid national significant number, else None."""
        if self.general is None or not self._matches(nsn, self.general):
            return None
        if not any(self._matches(nsn, d) for d in self.types):
            return None
        for leading, pattern, rule in self.formats:
            if (leading is None or leading.match(nsn)) and pattern.fullmatch(nsn):
                return self.prefix + pattern.sub(rule, nsn)
        return self.prefix + nsn


_FRANCE = _NationalPlan("FR")


_PLAIN_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{0,62}[a-z]")
"""Lower-case LDH labels of at most 63 characters, not starting or ending with a hyphen, the last
one ending with a letter (a top-level domain)."""


def _plain_host(domain: str) -> bool:
    """A domain email-validator accepts and returns unchanged (its IDNA remapping, dot-atom, label,
    length, top-level and special-use checks all pass trivially)."""
    if len(domain) > DOMAIN_MAX_LENGTH or "--" in domain or not _PLAIN_HOST.fullmatch(domain):
        return False
    last = domain.rsplit(".", 1)[1]
    if last.startswith("-"):
        return False
    return not any(domain == d or domain.endswith("." + d) for d in email_validator.SPECIAL_USE_DOMAIN_NAMES)


def _email_domain(domain: str) -> tuple[str, str] | None:
    """(normalised domain, its IDNA ASCII form) as email-validator gives them, or None if refused."""
    if _plain_host(domain):
        return domain, domain
    return _email_domain_validated(domain)


@lru_cache(maxsize=4096)
def _email_domain_validated(domain: str) -> tuple[str, str] | None:
    try:
        info = validate_email("a@" + domain, check_deliverability=False)
    except EmailNotValidError:
        return None
    return info.domain, info.ascii_domain


def _utf8_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8"))


def _email_short_road(address: str) -> str | None:
    """email-validator's normalised form of a plain address, or None to take the full way."""
    local, at, domain = address.partition("@")
    if not at or "@" in domain or not DOT_ATOM_TEXT.match(local) or not domain or domain[0] == "[":
        return None
    dom = _email_domain(domain)
    if dom is None:
        return None  # refused: the full way says why
    name, ascii_name = dom
    if local.lower() in _CASE_INSENSITIVE:
        local = local.lower()  # RFC 2142 mailbox names, as email-validator does
    normalized = f"{local}@{name}"
    if max(_utf8_len(address), _utf8_len(normalized), len(local) + 1 + len(ascii_name)) > EMAIL_MAX_LENGTH:
        return None
    return normalized


@lru_cache(maxsize=20_000)
def normalize_email(raw: str | None) -> tuple[str | None, str | None]:
    """(normalised address, None) or (None, reason). No DNS lookup: offline and pure."""
    if not raw:
        return None, None
    address = raw.strip()
    short = _email_short_road(address)
    if short is not None:
        return short, None
    try:
        info = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return None, f"email {raw!r} dropped: {exc}"
    return info.normalized, None


def _format(num: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@lru_cache(maxsize=20_000)
def normalize_phone(raw: str | None) -> tuple[str | None, str | None]:
    """(+33 1 23 45 67 89, None) or (None, reason)."""
    if not raw:
        return None, None
    digits = _NOT_DIGITS.sub("", raw)
    overseas = _OVERSEAS_PREFIX.match(digits)
    if not overseas:
        national = _FRENCH_NATIONAL.fullmatch(raw.strip())
        if national:
            formatted = _FRANCE.format_if_valid(digits[1:])  # the digits after the national prefix 0
            if formatted is not None:
                return formatted, None
    return phone_full_way(raw, overseas=overseas is not None)


def phone_full_way(raw: str, overseas: bool) -> tuple[str | None, str | None]:
    """The full way, libphonenumber with each default region in turn (the overseas ones first for an
    overseas prefix): what :func:`normalize_phone` answers when its short road does not."""
    regions = _OVERSEAS + _REGIONS if overseas else _REGIONS
    for region in regions:
        try:
            num = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            return _format(num), None
        if raw.strip().startswith("+"):
            break  # an explicit country code: other default regions change nothing
    return None, f"phone {raw!r} dropped: not a valid number"
