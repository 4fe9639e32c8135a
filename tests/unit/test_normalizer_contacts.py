"""E-mails (email-validator), phones (phonenumbers) and language detection (lingua)."""

from __future__ import annotations

import pytest

from libs.contracts.events import PartnerRecord
from services.normalizer.contacts import normalize_email, normalize_phone
from services.normalizer.domain import check, normalize
from services.normalizer.language import detect


def record(**overrides) -> PartnerRecord:
    data = {"source": "avise", "source_record_id": "1", "url": "https://www.avise.org/p", "title": "Projet"}
    data.update(overrides)
    return PartnerRecord.model_validate(data)


@pytest.mark.parametrize(("raw", "out"), [
    ("01 84 60 27 13", "+33 1 84 60 27 13"),
    ("01.84.60.27.13", "+33 1 84 60 27 13"),
    ("+33 (0)1 84 60 27 13", "+33 1 84 60 27 13"),
    ("0033 1 84 60 27 13", "+33 1 84 60 27 13"),
    ("06-12-34-56-78", "+33 6 12 34 56 78"),
    ("0262 41 00 00", "+262 262 41 00 00"),   # La Réunion
    ("0269 61 00 00", "+262 269 61 00 00"),   # Mayotte
    ("+32 2 511 00 00", "+32 2 511 00 00"),   # Brussels
])
def test_valid_phones_are_normalised(raw, out) -> None:
    assert normalize_phone(raw) == (out, None)


@pytest.mark.parametrize("raw", ["12", "00 00 00 00 00", "01 02", "+33 1 2"])
def test_invalid_phones_are_dropped_with_a_reason(raw) -> None:
    phone, why = normalize_phone(raw)
    assert phone is None and raw in why and "not a valid number" in why


@pytest.mark.parametrize(("raw", "out"), [
    ("contact@Exemple.FR", "contact@exemple.fr"),
    (" Marie.Dupont@asso-exemple.org ", "Marie.Dupont@asso-exemple.org"),
    ("jeanne@élysée.fr", "jeanne@élysée.fr"),
])
def test_valid_emails_are_normalised(raw, out) -> None:
    assert normalize_email(raw) == (out, None)


@pytest.mark.parametrize("raw", ["a@b..fr", "jean.@exemple.fr", "a@-b.fr", "a@b_c.fr"])
def test_invalid_emails_are_dropped_with_a_reason(raw) -> None:
    email, why = normalize_email(raw)
    assert email is None and why.startswith(f"email {raw!r} dropped")


def test_record_contacts_normalised_and_reported() -> None:
    p = normalize(record(contact={"email": "a@b..fr", "phone": "01 84 60 27 13", "website": "https://exemple.org"}))
    assert p.contact.email is None and p.contact.phone == "+33 1 84 60 27 13"
    assert p.contact.website == "https://exemple.org"
    assert len(p.warnings) == 1 and "a@b..fr" in p.warnings[0]


def test_record_with_only_bad_contacts_has_none() -> None:
    p = normalize(record(contact={"phone": "12 34"}))
    assert p.contact is None and "not a valid number" in p.warnings[0]


@pytest.mark.parametrize(("text", "lang"), [
    ("Un jardin partagé au cœur du quartier pour créer du lien social entre les habitants.", "fr"),
    ("A shared garden in the heart of the neighbourhood, run by the residents themselves.", "en"),
    ("Ein Gemeinschaftsgarten mitten im Viertel, der von den Bewohnern betrieben wird.", "de"),
    ("Un huerto compartido en el corazón del barrio, gestionado por los vecinos.", "es"),
])
def test_language_detection(text, lang) -> None:
    code, confidence = detect(text)
    assert code == lang and confidence >= 0.5


def test_too_short_to_detect() -> None:
    assert detect("Papa Charlie") == (None, None)
    assert detect("") == (None, None)


def test_record_language() -> None:
    p = normalize(record(title="Repair Café", description="Des bénévoles réparent gratuitement vos objets du quotidien."))
    assert p.language == "fr" and p.language_confidence >= 0.5
    assert normalize(record(title="Papa Charlie")).language is None


@pytest.mark.parametrize(("field", "reason"), [
    ("title", "title is garbage"),
    ("description", "description is garbage"),
])
def test_binary_garbage_is_rejected(field, reason) -> None:
    garbage = "\ufffd\ufffdPNG\ufffd\ufffd\ufffd IHDR \ufffd\ufffd\ufffd\ufffd"
    fields = {"title": "Projet", field: garbage}
    assert check(normalize(record(**fields))).startswith(reason)


# --------------------------------------------------------------------------- robustness

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_text = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=200)


@settings(max_examples=150, deadline=None, database=None)
@given(title=_text.filter(lambda s: s.strip()), description=_text, theme=_text.filter(lambda s: s.strip()),
       email=st.emails(), phone=st.from_regex(r"[0-9+() .\-/]{4,40}", fullmatch=True))
def test_normalize_never_raises_and_stays_in_the_taxonomy(title, description, theme, email, phone) -> None:
    from libs.contracts.taxonomy import taxonomy

    try:
        r = record(title=title[:300], description=description, themes=[theme[:100]],
                   contact={"email": email, "phone": phone.strip() or "0000"})
    except Exception:  # the contract refused it (it never reaches the normalizer)
        return
    p = normalize(r)
    assert set(p.themes) <= taxonomy().slugs("theme")
    assert set(p.unclassified) <= {"theme", "stage", "engineering", "holder_type"}
    assert all(0 < c <= 1 for c in p.taxonomy_confidence.values())
    assert p.contact is None or p.contact.phone is None or p.contact.phone.startswith("+")


# ------------------------------------------------- short roads: same answers as the full way

import re  # noqa: E402

from email_validator import EmailNotValidError, validate_email  # noqa: E402

from services.normalizer.contacts import _OVERSEAS_PREFIX, phone_full_way  # noqa: E402


def _email_full_way(raw: str) -> tuple[str | None, str | None]:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized, None
    except EmailNotValidError as exc:
        return None, f"email {raw!r} dropped: {exc}"


def _phone_full_way(raw: str) -> tuple[str | None, str | None]:
    return phone_full_way(raw, overseas=_OVERSEAS_PREFIX.match(re.sub(r"[^0-9+]", "", raw)) is not None)


_local = st.from_regex(r"[A-Za-z0-9_!#$%&'*+/=?^`{|}~.\-]{1,70}", fullmatch=True)
_domain = st.one_of(
    st.sampled_from(["exemple.org", "Exemple.FR", "élysée.fr", "xn--lyse-bsa.fr", "b..fr", "-b.fr", "b_c.fr",
                     "localhost", "asso.test", "a.b", "1.2.3.4", "[127.0.0.1]", "orange.fr.", "x" * 64 + ".fr",
                     ".".join(["abcdefghij" * 6] * 4) + ".fr", "ÉLYSÉE.FR", "straße.de", "\u0301b.fr"]),
    st.from_regex(r"[a-zA-Z0-9\-.éÉ_]{1,40}", fullmatch=True),
)


@settings(max_examples=400, deadline=None, database=None)
@given(address=st.one_of(st.emails(), st.builds(lambda lo, d: f"{lo}@{d}", _local, _domain),
                         st.sampled_from([" Marie.Dupont@asso-exemple.org ", "Postmaster@Exemple.FR", "a@b@c.fr",
                                          "\"quoted\"@exemple.fr", "Jean <jean@exemple.fr>", "jean@", "@exemple.fr",
                                          "x" * 250 + "@exemple.fr"])))
def test_email_short_road_gives_the_full_answer(address) -> None:
    assert normalize_email.__wrapped__(address) == _email_full_way(address)


@settings(max_examples=600, deadline=None, database=None)
@given(first=st.integers(0, 9), rest=st.lists(st.integers(0, 99), min_size=4, max_size=4),
       sep=st.sampled_from(["", " ", ".", "-", "  ", "/"]), pad=st.sampled_from(["", " "]))
def test_phone_short_road_gives_the_full_answer(first, rest, sep, pad) -> None:
    raw = pad + f"0{first}" + sep + sep.join(f"{x:02d}" for x in rest) + pad
    assert normalize_phone.__wrapped__(raw) == _phone_full_way(raw)


def test_phone_short_road_on_every_french_prefix() -> None:
    # Every two-digit prefix 01-09 and a spread of the following digits, both ways.
    for first in range(1, 10):
        for second in range(0, 100, 3):
            for tail in ("000000", "123456", "999999", "450789"):
                raw = f"0{first}{second:02d}{tail}"
                raw = " ".join(raw[i:i + 2] for i in range(0, 10, 2))
                assert normalize_phone.__wrapped__(raw) == _phone_full_way(raw), raw


def test_phone_short_road_on_every_three_digit_french_prefix() -> None:
    for prefix in range(100, 1000):
        for tail in ("000000", "123456", "987654"):
            raw = f"0{prefix}{tail}"
            assert normalize_phone.__wrapped__(raw) == _phone_full_way(raw), raw


_label = st.from_regex(r"[a-z0-9\-]{1,66}", fullmatch=True)


@settings(max_examples=1500, deadline=None, database=None)
@given(labels=st.lists(_label, min_size=1, max_size=5),
       tld=st.one_of(st.sampled_from(["fr", "org", "com", "test", "arpa", "local", "localhost", "onion", "invalid",
                                      "x1", "1", "f-r", "-fr", "fr-", "xn--p1ai", "a" * 63, "a" * 64]), _label),
       local=st.sampled_from(["contact", "Postmaster", "a.b", "x" * 64]))
def test_email_plain_host_road_gives_the_full_answer(labels, tld, local) -> None:
    address = f"{local}@{'.'.join([*labels, tld])}"
    assert normalize_email.__wrapped__(address) == _email_full_way(address)


def test_email_plain_host_road_on_long_domains() -> None:
    for n in (240, 249, 250, 251, 252, 253, 254):
        domain = ("a" * 60 + ".") * 4
        domain = (domain + "b" * 63)[-n:].lstrip(".-")
        address = f"x@{domain}"
        assert normalize_email.__wrapped__(address) == _email_full_way(address), n
