"""Gateway security, pure parts: the client address behind trusted proxies; the bounded password hashing
(real argon2 in threads, no I/O); reply senders."""

from __future__ import annotations

import asyncio

import pytest
from argon2 import PasswordHasher

from services.gateway.accounts import passwords
from services.gateway.contact.domain import sender_allowed
from services.gateway.web.client_address import parse_networks, resolve, trusted

PROXIES = parse_networks("10.0.0.0/8, 192.168.1.1 ,fd00::/8")


def test_forwarded_for_is_read_only_from_trusted_peers():
    assert resolve("203.0.113.5", ["198.51.100.1"], PROXIES) == "203.0.113.5"  # not a proxy: its own address
    assert resolve("10.1.2.3", ["198.51.100.1"], PROXIES) == "198.51.100.1"
    assert resolve("10.1.2.3", [], PROXIES) == "10.1.2.3"
    assert resolve("testclient", ["198.51.100.1"], PROXIES) == "testclient"  # not an address: never trusted


def test_a_visitor_cannot_choose_the_address_by_writing_forwarded_for():
    # the visitor sent "X-Forwarded-For: 1.1.1.1"; the ingress appended the real peer
    assert resolve("10.0.0.2", ["1.1.1.1, 198.51.100.9"], PROXIES) == "198.51.100.9"
    # two proxies of ours in a row are skipped, right to left
    assert resolve("10.0.0.2", ["1.1.1.1, 198.51.100.9, 10.0.0.7"], PROXIES) == "198.51.100.9"
    assert resolve("10.0.0.2", ["1.1.1.1", "198.51.100.9, 192.168.1.1"], PROXIES) == "198.51.100.9"
    # garbage stops the walk: what is left of it was written by the visitor
    assert resolve("10.0.0.2", ["1.1.1.1, nonsense, 198.51.100.9"], PROXIES) == "198.51.100.9"
    assert resolve("10.0.0.2", ["nonsense"], PROXIES) == "10.0.0.2"
    # only our proxies in the chain: the leftmost
    assert resolve("10.0.0.2", ["10.9.9.9, 10.0.0.3"], PROXIES) == "10.9.9.9"
    assert resolve("10.0.0.2", ["[2001:db8::1]:443, 198.51.100.9:1234"], PROXIES) == "198.51.100.9"
    assert resolve("fd00::1", ["2001:db8::1"], PROXIES) == "2001:db8::1"


def test_trust_lists():
    assert parse_networks("*") is None and trusted("203.0.113.5", None)
    assert parse_networks("") == () and not trusted("127.0.0.1", ())
    assert trusted("127.0.0.1", parse_networks("127.0.0.1,::1")) and trusted("::1", parse_networks("127.0.0.1,::1"))
    assert not trusted("127.0.0.2", parse_networks("127.0.0.1"))
    with pytest.raises(ValueError):
        parse_networks("10.0.0.0/33")


def test_reply_sender_must_be_the_party():
    assert sender_allowed("Paul@Exemple.fr", ["paul@exemple.fr", None])
    assert not sender_allowed("mallory@exemple.fr", ["paul@exemple.fr"])
    assert not sender_allowed("", ["paul@exemple.fr"]) and not sender_allowed("paul@exemple.fr", [None])


@pytest.fixture
def two_slots():
    before = passwords.parameters()
    passwords.configure(concurrency=2)
    yield
    passwords.configure(before["memory_kib"], before["time_cost"], before["parallelism"], before["concurrency"])


async def test_password_hashing_runs_at_most_the_configured_number_at_once(two_slots):
    stored = passwords.hash_password_sync("une phrase de passe solide")
    # at the limit: two at once both run
    assert [ok for ok, _ in await asyncio.gather(*(passwords.verify_password(stored, "une phrase de passe solide")
                                                   for _ in range(2)))] == [True, True]
    # one past: the third is refused at once, with a Retry-After, while two run
    running = [asyncio.ensure_future(passwords.verify_password(stored, "x" * 20)) for _ in range(2)]
    await asyncio.sleep(0)  # both took their slot (taken before the first await)
    with pytest.raises(passwords.PasswordBusy) as busy:
        await passwords.hash_password("encore un mot de passe")
    assert busy.value.status_code == 503 and busy.value.headers == {"Retry-After": "1"}
    await asyncio.gather(*running)
    # far beyond: 64 at once — exactly two run, 62 are refused, and the slots are free afterwards
    results = await asyncio.gather(*(passwords.verify_password(stored, "x" * 20) for _ in range(64)),
                                   return_exceptions=True)
    assert sum(isinstance(r, passwords.PasswordBusy) for r in results) == 62
    assert sum(r == (False, False) for r in results) == 2
    assert (await passwords.verify_password(stored, "une phrase de passe solide"))[0]


async def test_hashes_use_19_mib_two_passes_and_old_ones_still_verify_and_ask_for_a_rehash():
    new = await passwords.hash_password("une phrase de passe solide")
    assert "$m=19456,t=2,p=1$" in new
    old = PasswordHasher().hash("une phrase de passe solide")  # argon2-cffi's default: 64 MiB, t=3, p=4
    assert "$m=65536,t=3,p=4$" in old
    assert await passwords.verify_password(old, "une phrase de passe solide") == (True, True)
    assert await passwords.verify_password(new, "une phrase de passe solide") == (True, False)
    assert await passwords.verify_password(old, "autre chose") == (False, False)
