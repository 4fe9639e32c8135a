"""Login protections in process (Litestar test client) on the real database: attempts recorded before
they are judged, so parallel attempts cannot all pass (per account and per address, at, one past, far
beyond); the growing delay; the rehash of old argon2 parameters; X-Forwarded-For from an untrusted peer
changes nothing."""

from __future__ import annotations

import asyncio
import time

import pytest
from argon2 import PasswordHasher
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.conftest import fresh_database
from tests.helpers_accounts import DEFAULT_PASSWORD, create_user, csrf, link_in, read_mailbox, wait_for_mail

WRONG = "pas le bon mot de passe"


@pytest.fixture
async def env(stack, tmp_path):
    url = fresh_database(stack, "seclog")
    engine = create_async_engine(url)

    def app(**settings):
        base = dict(database_url=url, kafka_bootstrap=stack.bootstrap, mailbox_dir=str(tmp_path / "mail"),
                    login_delay_base_s=0.0, password_hash_concurrency=64)
        return create_app(GatewaySettings(**{**base, **settings}))

    yield app, engine
    await engine.dispose()


async def _login(client, email: str, password: str, **headers):
    token = await csrf(client)
    return await client.post("/connexion", data={"email": email, "password": password, "_csrf_token": token},
                             headers=headers, follow_redirects=False)


async def _count(engine, key: str) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM auth_throttle WHERE key = :k"), {"k": key})).scalar()


async def test_parallel_guesses_on_one_account_are_judged_at_most_five_times(env):
    make, engine = env
    await create_user(engine, "cible@example.org")
    async with AsyncTestClient(app=make(login_failures_per_ip=1000)) as client:
        await csrf(client)
        answers = await asyncio.gather(*(_login(client, "cible@example.org", f"{WRONG} {i}") for i in range(40)))
        statuses = [a.status_code for a in answers]
        judged = statuses.count(400)
        assert set(statuses) <= {400, 429} and 1 <= judged <= 5, statuses  # checked then recorded: 40 × 400
        assert await _count(engine, "login:acct:cible@example.org") == judged  # refused attempts leave no row
        # sequentially up to the limit: at 5 failures still judged, one past challenged, far beyond too
        for _ in range(5 - judged):
            assert (await _login(client, "cible@example.org", WRONG)).status_code == 400
        for _ in range(3):
            r = await _login(client, "cible@example.org", DEFAULT_PASSWORD)
            assert r.status_code == 429 and "lien reçu par e-mail" in r.text
        assert await _count(engine, "login:acct:cible@example.org") == 5


async def test_parallel_guesses_from_one_address_are_judged_at_most_the_limit(env):
    make, engine = env
    async with AsyncTestClient(app=make(login_failures_per_ip=7)) as client:
        await csrf(client)
        answers = await asyncio.gather(*(_login(client, f"x{i}@example.org", WRONG) for i in range(50)))
        statuses = [a.status_code for a in answers]
        assert set(statuses) <= {400, 429} and 1 <= statuses.count(400) <= 7, statuses
        assert all(1 <= int(a.headers["retry-after"]) <= 900 for a in answers if a.status_code == 429)


async def test_an_untrusted_peer_cannot_pick_its_address_with_forwarded_for(env):
    make, engine = env
    # the test client's peer is "testclient", in no trusted network: its X-Forwarded-For is ignored
    async with AsyncTestClient(app=make(login_failures_per_ip=3)) as client:
        for i in range(3):
            r = await _login(client, f"y{i}@example.org", WRONG, **{"x-forwarded-for": f"198.51.100.{i}"})
            assert r.status_code == 400
        r = await _login(client, "y9@example.org", WRONG, **{"x-forwarded-for": "198.51.100.99"})
        assert r.status_code == 429
    assert await _count(engine, "login:ip:testclient") == 3
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM auth_throttle WHERE key LIKE '%198.51.100%'"))).scalar() == 0
    # trusting every peer ("*", for a socket only a proxy can reach) believes the header
    async with AsyncTestClient(app=make(login_failures_per_ip=3, forwarded_allow_ips="*")) as client:
        r = await _login(client, "z@example.org", WRONG, **{"x-forwarded-for": "198.51.100.7"})
        assert r.status_code == 400
    assert await _count(engine, "login:ip:198.51.100.7") == 1


async def test_each_failure_of_an_account_is_answered_later_than_the_previous(env):
    make, engine = env
    await create_user(engine, "lent@example.org")
    base = 0.2
    async with AsyncTestClient(app=make(login_delay_base_s=base)) as client:
        await csrf(client)
        took = []
        for _ in range(4):
            started = time.monotonic()
            assert (await _login(client, "lent@example.org", WRONG)).status_code == 400
            took.append(time.monotonic() - started)
        for n, seconds in enumerate(took, start=1):  # base, 2×, 4×, 8×
            assert seconds >= base * 2 ** (n - 1), took
        started = time.monotonic()
        assert (await _login(client, "lent@example.org", DEFAULT_PASSWORD)).status_code == 303
        assert time.monotonic() - started < base * 8  # success is not delayed


async def test_a_hash_with_old_parameters_still_logs_in_and_is_rehashed(env):
    make, engine = env
    user_id = await create_user(engine, "ancien@example.org")
    old = PasswordHasher().hash(DEFAULT_PASSWORD)  # 64 MiB, t=3, p=4: argon2-cffi's default
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET password_hash = :h WHERE id = :i"), {"h": old, "i": user_id})
    async with AsyncTestClient(app=make()) as client:
        assert (await _login(client, "ancien@example.org", DEFAULT_PASSWORD)).status_code == 303
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT password_hash FROM users WHERE id = :i"), {"i": user_id})).scalar()
    assert stored != old and "$m=19456,t=2,p=1$" in stored


async def test_a_full_hashing_slot_answers_503_with_retry_after_and_counts_nothing(env):
    make, engine = env
    await create_user(engine, "occupe@example.org")
    async with AsyncTestClient(app=make(password_hash_concurrency=1)) as client:
        await csrf(client)
        answers = await asyncio.gather(*(_login(client, "occupe@example.org", WRONG) for i in range(4)))
        statuses = [a.status_code for a in answers]
        assert statuses.count(400) >= 1 and set(statuses) <= {400, 503}, statuses
        assert all(a.headers["retry-after"] == "1" for a in answers if a.status_code == 503)
        # only the judged attempts count as failures; refused ones are forgotten
        assert await _count(engine, "login:acct:occupe@example.org") == statuses.count(400)


async def test_a_stranger_using_up_the_login_links_still_leaves_the_owner_a_working_one(env, tmp_path):
    make, engine = env
    await create_user(engine, "proprio@example.org")
    async with AsyncTestClient(app=make()) as stranger:
        token = await csrf(stranger)
        for _n in range(1, 6):  # at the address's limit (3 an hour), one past, beyond: same answer each time
            r = await stranger.post("/connexion/lien", data={"email": "proprio@example.org", "_csrf_token": token})
            assert r.status_code == 200 and "Si un compte existe" in r.text
        await wait_for_mail(tmp_path / "mail", to="proprio@example.org", subject_contains="lien de connexion",
                            count=3)
        await asyncio.sleep(1.0)
    mails = [m for m in read_mailbox(tmp_path / "mail") if "lien de connexion" in str(m["Subject"])]
    assert len(mails) == 3
    # the owner cannot ask for another one within the hour, but the last one sent works (valid one hour)
    async with engine.begin() as conn:  # 50 minutes later
        await conn.execute(text("UPDATE user_tokens SET expires_at = expires_at - interval '50 minutes'"))
    path = link_in(mails[-1], "/connexion/lien").split("testserver.local", 1)[1]
    async with AsyncTestClient(app=make()) as owner:
        token = await csrf(owner)
        r = await owner.post("/connexion/lien/confirmer", data={"token": path.split("token=", 1)[1],
                                                                 "_csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303 and owner.cookies.get("carrefour_session")
