"""Contact rules, pure: validation, links, honeypot, fingerprints, rate-limit decisions, tokens,
reply addresses, automatic-mail detection and quoted-text stripping of e-mail replies."""

from __future__ import annotations

from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.contact import domain
from services.gateway.contact.domain import (
    LIMITS,
    check_body,
    check_draft,
    count_links,
    extract_reply,
    fingerprint,
    first_exceeded,
    new_token,
    parse_inbound,
    reply_address,
    token_hash,
    tokens_in_addresses,
)

GOOD = "Bonjour, je voudrais participer au jardin partagé le samedi."


def test_a_good_draft_passes_and_is_cleaned():
    d = check_draft("  Paul   Martin ", "Paul@Exemple.FR", GOOD + "\r\n\x00", "")
    assert d.errors == {} and not d.spam
    assert (d.name, d.email, d.body) == ("Paul Martin", "paul@exemple.fr", GOOD)


def test_each_field_is_checked():
    d = check_draft("", "pas-une-adresse", "court", "")
    assert set(d.errors) == {"name", "email", "body"}
    assert check_draft("x" * 101, "a@b.fr", GOOD, "").errors.keys() == {"name"}
    assert check_draft("Paul https://spam.example", "a@b.fr", GOOD, "").errors.keys() == {"name"}
    assert check_draft("Paul", "a@b.fr", "x" * (domain.BODY_MAX + 1), "").errors.keys() == {"body"}
    assert check_draft("Paul", "", GOOD, "").errors.keys() == {"email"}


def test_logged_in_sender_takes_the_account_identity():
    d = check_draft(None, None, GOOD, None, logged_in_email="Marie@Exemple.fr", logged_in_name="Marie")
    assert d.errors == {} and (d.name, d.email) == ("Marie", "marie@exemple.fr")


def test_honeypot_marks_spam_without_errors():
    d = check_draft("Paul", "a@b.fr", GOOD, "http://bot.example")
    assert d.spam and d.errors == {}


def test_links_are_counted_and_limited():
    assert count_links("voir https://a.fr et www.b.org et c.com/promo") == 3
    assert count_links("écrivez à paul@exemple.fr") == 0
    assert count_links("rien ici. Vraiment.") == 0
    body = GOOD + " https://a.fr https://b.fr"
    assert check_body(body)[1] is None
    assert "liens" in check_body(body + " https://c.fr")[1]
    assert check_body("Oui", minimum=1)[1] is None
    assert check_body("   ", minimum=1)[1] == "Le message est vide."


def test_fingerprint_ignores_case_spaces_and_punctuation():
    assert fingerprint("Bonjour,  le   Jardin !") == fingerprint("bonjour le jardin")
    assert fingerprint("Bonjour le jardin") != fingerprint("Bonjour le verger")


def test_first_exceeded_limit():
    assert first_exceeded(LIMITS, {}) is None
    assert first_exceeded(LIMITS, {("ip", 3600): 4}) is None
    hit = first_exceeded(LIMITS, {("ip", 3600): 5})
    assert hit and hit.bucket == "ip" and hit.window_s == 3600
    hit = first_exceeded(LIMITS, {("ip", 3600): 1, ("sender", 86400): 10})
    assert hit and hit.bucket == "sender" and hit.window_s == 86400


def test_tokens_are_random_and_only_hashes_are_kept():
    a, ha = new_token()
    b, hb = new_token()
    assert a != b and ha != hb and ha == token_hash(a) and a not in ha
    assert domain.valid_token(a) and not domain.valid_token("short") and not domain.valid_token(None)


def test_reply_addresses_round_trip_and_other_domains_are_ignored():
    token, _ = new_token()
    addr = reply_address(token, "carrefour.localhost")
    assert addr == f"reponse+{token}@carrefour.localhost"
    assert tokens_in_addresses([f"Carrefour <{addr}>, autre@x.fr"], "carrefour.localhost") == [token]
    assert tokens_in_addresses([f"reponse+{token}@evil.example"], "carrefour.localhost") == []
    assert tokens_in_addresses(["reponse+court@carrefour.localhost"], "carrefour.localhost") == []


def _mail(body: str, **headers) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Marie <marie@exemple.fr>"
    msg["To"] = headers.pop("to", "x@y.fr")
    msg["Subject"] = headers.pop("subject", "Re: votre message")
    msg["Message-ID"] = "<abc@exemple.fr>"
    for k, v in headers.items():
        msg[k.replace("_", "-")] = v
    msg.set_content(body)
    return msg


def test_automatic_messages_are_recognised():
    assert not domain.is_automatic(_mail("Bonjour"))
    assert domain.is_automatic(_mail("absent", Auto_Submitted="auto-replied"))
    assert domain.is_automatic(_mail("absent", Precedence="bulk"))
    assert domain.is_automatic(_mail("absent", subject="Réponse automatique : absent"))


def test_french_reply_loses_quote_and_marker():
    text = ("Bonjour,\n\nAvec plaisir, passez samedi.\n\nMarie\n\n"
            "Le jeu. 26 nov. 2026 à 18:30, Carrefour <reponse+x@carrefour.localhost> a écrit :\n"
            f"> {domain.REPLY_MARKER}\n> Paul vous a écrit\n")
    assert extract_reply(text) == "Bonjour,\n\nAvec plaisir, passez samedi.\n\nMarie"


def test_english_outlook_and_bare_quotes_are_stripped():
    assert extract_reply("Sure!\n\nOn Thu, Nov 26, 2026 at 6:30 PM Carrefour <a@b.fr> wrote:\n> hello\n") == "Sure!"
    assert extract_reply("Volontiers.\n\n-----Message d'origine-----\nDe : Carrefour\nEnvoyé : jeudi\n\ntexte") \
        == "Volontiers."
    assert extract_reply("Oui, à bientôt\n\n> ligne citée\n> encore\n") == "Oui, à bientôt"
    assert extract_reply(f"Réponse au-dessus\n{domain.REPLY_MARKER}\ntout le reste") == "Réponse au-dessus"


def test_parse_inbound_finds_token_and_text():
    token, _ = new_token()
    msg = _mail("Merci, à samedi !\n\nLe lun. 1 déc. 2026, X a écrit :\n> bla\n",
                to=f"Carrefour <{reply_address(token, 'carrefour.localhost')}>")
    got = parse_inbound(msg, "carrefour.localhost")
    assert got.tokens == [token] and got.text == "Merci, à samedi !" and not got.automatic
    assert got.from_address == "marie@exemple.fr" and got.message_id == "<abc@exemple.fr>"
    env = parse_inbound(_mail("Oui"), "carrefour.localhost", envelope_to=[reply_address(token, "carrefour.localhost")])
    assert env.tokens == [token]


def test_html_only_reply_drops_blockquote():
    msg = EmailMessage()
    msg["From"] = "m@exemple.fr"
    msg.set_content("<html><body><p>Oui, d'accord</p><blockquote>ancien message</blockquote></body></html>",
                    subtype="html")
    assert domain.extract_reply(domain.body_text(msg)) == "Oui, d'accord"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000), st.text(max_size=200), st.text(max_size=300), st.text(max_size=50))
def test_validation_and_extraction_never_crash(body, name, email, trap):
    d = check_draft(name, email, body, trap)
    assert isinstance(d.errors, dict)
    if not d.errors:
        assert domain.BODY_MIN <= len(d.body) <= domain.BODY_MAX and count_links(d.body) <= domain.MAX_LINKS
    assert isinstance(extract_reply(body), str)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4000))
def test_any_bytes_parse_without_error(raw):
    from email import policy
    from email.parser import BytesParser

    got = parse_inbound(BytesParser(policy=policy.default).parsebytes(raw), "carrefour.localhost")
    assert got.tokens == [] and isinstance(got.text, str)


def test_odd_charsets_and_headers_parse():
    from email import policy
    from email.parser import BytesParser

    raw = (b"From: =?utf-8?q?Marie?= <m@exemple.fr>\nTo: reponse+" + b"a" * 43 + b"@carrefour.localhost\n"
           b"Content-Type: text/plain; charset=unknown-8bit\n\n\xff\xfe bonjour")
    got = parse_inbound(BytesParser(policy=policy.default).parsebytes(raw), "carrefour.localhost")
    assert got.tokens == ["a" * 43] and "bonjour" in got.text
