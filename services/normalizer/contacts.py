"""Contact details (pure): e-mails checked and normalised by email-validator, phone numbers by
phonenumbers (Google's libphonenumber metadata), French numbers first, overseas ones included."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

# Numbers written nationally with an overseas prefix ("0262 …" La Réunion, "0269 …" Mayotte,
# "0590 …" Guadeloupe…) belong to the overseas plans; French metadata would also accept them as
# "+33 2 69 …", so those regions are tried first for such numbers.
_OVERSEAS = ("RE", "YT", "GP", "MQ", "GF", "PM", "BL", "MF")
_REGIONS = ("FR", "NC", "PF", "WF")
_OVERSEAS_PREFIX = re.compile(r"^0(?:26[239]|5(?:08|9[046])|6(?:39|9[0-7]))")


@lru_cache(maxsize=20_000)
def normalize_email(raw: str | None) -> tuple[str | None, str | None]:
    """(normalised address, None) or (None, reason). No DNS lookup: offline and pure."""
    if not raw:
        return None, None
    try:
        info = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        return None, f"email {raw!r} dropped: {exc}"
    return info.normalized, None


@lru_cache(maxsize=20_000)
def normalize_phone(raw: str | None) -> tuple[str | None, str | None]:
    """(+33 1 23 45 67 89, None) or (None, reason)."""
    if not raw:
        return None, None
    digits = re.sub(r"[^0-9+]", "", raw)
    regions = _OVERSEAS + _REGIONS if _OVERSEAS_PREFIX.match(digits) else _REGIONS
    for region in regions:
        try:
            num = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL), None
        if raw.strip().startswith("+"):
            break  # an explicit country code: other default regions change nothing
    return None, f"phone {raw!r} dropped: not a valid number"
