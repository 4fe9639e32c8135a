"""Pure rules of accounts: addresses, passwords, roles, redirects, cookie flag, throttling, operator inputs."""

from __future__ import annotations

import pytest

from services.gateway.accounts import domain
from services.gateway.accounts.domain import AccountError
from services.gateway.accounts.identity import User
from services.gateway.web.mailer import Mailer, build_message


def test_emails_are_validated_and_lowercased():
    assert domain.normalize_email("  Lea.Martin@Example.ORG ") == "lea.martin@example.org"
    for bad in ("", "pas-une-adresse", "a@b", "x" * 250 + "@example.org", "a@@example.org", "a@example.org\nBcc: x"):
        with pytest.raises(AccountError) as exc:
            domain.normalize_email(bad)
        assert exc.value.field == "email"


@pytest.mark.parametrize("password, ok", [
    ("court", False), ("a" * 12, False), ("ababababababab", False), ("motdepasse123", False),
    ("x" * 201, False), ("correct horse battery", True), ("Ünë phrâse dë pässe", True),
])
def test_password_rules(password, ok):
    assert (domain.password_problem(password, "lea@example.org") is None) is ok


def test_password_may_not_contain_the_address():
    assert domain.password_problem("lea.martin@example.org", "lea.martin@example.org")
    assert domain.password_problem("mon nom lea.martin 2024", "lea.martin@example.org")
    assert domain.password_problem("correct horse battery", "lea.martin@example.org") is None


def test_display_name():
    assert domain.check_display_name("  Léa   Martin ", "l@example.org") == "Léa Martin"
    assert domain.check_display_name("", "lea@example.org") == "lea"
    with pytest.raises(AccountError):
        domain.check_display_name("x" * 81, "l@example.org")
    with pytest.raises(AccountError):
        domain.check_display_name("a\x00b", "l@example.org")


def test_roles():
    assert domain.effective_roles(["operator"], verified=False) == {"visitor"}
    assert domain.effective_roles([], verified=True) == {"visitor", "holder"}
    assert domain.effective_roles(["partner", "bogus"], verified=True) == {"visitor", "holder", "partner"}
    op = User(1, "o@example.org", "O", domain.effective_roles(["operator"], True), None, True)
    assert op.has("moderator") and op.has("operator") and not op.has("partner")
    mod = User(2, "m@example.org", "M", domain.effective_roles(["moderator"], True), None, True)
    assert mod.has("moderator") and not mod.has("operator")


@pytest.mark.parametrize("raw, expected", [
    (None, "/compte"), ("/annonces?x=1", "/annonces?x=1"), ("https://evil.example/", "/compte"),
    ("//evil.example/x", "/compte"), ("/\\evil.example", "/compte"), ("javascript:alert(1)", "/compte"),
    ("/ok\r\nSet-Cookie: x", "/compte"), ("/" + "a" * 600, "/compte"),
])
def test_safe_next(raw, expected):
    assert domain.safe_next(raw) == expected


def test_cookie_secure():
    assert domain.cookie_secure(None, "127.0.0.1", "http") is False
    assert domain.cookie_secure(None, "localhost", "http") is False
    assert domain.cookie_secure(None, "carrefour.example.org", "http") is True
    assert domain.cookie_secure(None, "localhost", "https") is True
    assert domain.cookie_secure(False, "carrefour.example.org", "https") is False
    assert domain.cookie_secure(True, "127.0.0.1", "http") is True


def test_throttle_verdicts():
    # attempts counted with the current one: the 5th failure is still judged, the 6th attempt is challenged
    assert domain.login_verdict(5, 30).allowed
    assert domain.login_verdict(6, 0).reason == "challenge"
    assert domain.login_verdict(10_000, 0).reason == "challenge"
    assert domain.login_verdict(0, 31).reason == "ip" and domain.login_verdict(6, 31).reason == "ip"
    policy = domain.LoginPolicy(challenge_after=2, failures_per_ip=3)
    assert domain.login_verdict(2, 3, policy).allowed and not domain.login_verdict(3, 3, policy).allowed
    assert domain.mail_verdict(2, 0).allowed and not domain.mail_verdict(3, 0).allowed


def test_failure_delay_grows_and_is_capped():
    assert domain.failure_delay(0, 0.5) == 0
    assert [domain.failure_delay(n, 0.5) for n in range(1, 7)] == [0.5, 1, 2, 4, 8, 8]
    assert domain.failure_delay(10_000, 0.5) == 8 and domain.failure_delay(3, 0) == 0


def test_tokens_are_random_and_hashed():
    a, b = domain.new_token(), domain.new_token()
    assert a != b and len(a) >= 40 and domain.token_hash(a) != a and len(domain.token_hash(a)) == 64


def test_operator_inputs():
    assert domain.check_slug(" Avise ") == "avise"
    for bad in ("", "-x", "x-", "a b", "x" * 65, "é"):
        with pytest.raises(AccountError):
            domain.check_slug(bad)
    assert domain.check_scopes(["read", "ingest", "read"]) == ("read", "ingest")
    for bad in ([], ["admin"], ["ingest", "admin"]):
        with pytest.raises(AccountError):
            domain.check_scopes(bad)
    assert domain.check_label("  ") is None


async def test_mailer_refuses_header_injection():
    mailer = Mailer(engine=None)  # refused before any database access
    for to in ("pas-une-adresse", "a@example.org\r\nBcc: x@example.org"):
        with pytest.raises(ValueError):
            await mailer.send(to, "s", "b")
    for headers in ({"Bcc": "x@example.org"}, {"X-Bad Name": "v"}, {"From": "x@example.org"}):
        with pytest.raises(ValueError):
            await mailer.send("a@example.org", "s", "b", headers=headers)
    with pytest.raises(ValueError):
        await mailer.send("a@example.org", "s", "b", reply_to="x@example.org\nBcc: y@example.org")
    msg = build_message("Carrefour <n@example.org>", "a@example.org", "Objet", "Corps é", "r@example.org",
                        {"X-Carrefour-Conversation": "12"})
    assert msg["Reply-To"] == "r@example.org" and msg["X-Carrefour-Conversation"] == "12"
    assert msg["Message-ID"].endswith("@carrefour.localhost>")
