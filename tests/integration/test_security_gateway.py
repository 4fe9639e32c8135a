"""Gateway security on a real gateway process (``python -m services.gateway``) behind a pretend ingress:
the test connects from 127.0.0.1, which FORWARDED_ALLOW_IPS trusts, and says who the visitor is in
X-Forwarded-For, as the ingress does.

- 64 concurrent logins keep the process's memory bounded (argon2 19 MiB, at most 2 at once; the rest
  answered 503 + Retry-After at once) and the search keeps answering;
- per-visitor login limits are per visitor behind the proxy (at, one past, far beyond), and a visitor
  cannot pick the address the gateway sees;
- nobody locks an operator out by failing their password: the password alone stops working, a mailed
  link still logs them in;
- /metrics is on METRICS_PORT only.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import httpx
import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import print_log_tails, wait_ready
from tests.helpers_accounts import DEFAULT_PASSWORD, create_user, link_in, wait_for_mail
from tests.integration.test_search_conformance import indexed_database
from tools.devstack import free_port, start_service, stop_process

CONCURRENCY = 2          # PASSWORD_HASH_CONCURRENCY (the default)
HASH_MIB = 19            # PASSWORD_HASH_MEMORY_KIB / 1024 (the default)
FAILURES_PER_IP = 5
STORM = 64
# growth allowed during the storm: the hashes that may run at once, plus 48 MiB for 64 requests in
# flight, threads and allocator slack. Unbounded hashing on the default thread pool (6 threads on 2
# cores) would take 6 × 19 = 114 MiB with today's parameters, 6 × 64 = 384 MiB with the old ones.
GROWTH_MAX_MIB = CONCURRENCY * HASH_MIB + 48


@pytest.fixture(scope="module")
def gateway(stack, tmp_path_factory):
    run = tmp_path_factory.mktemp("secgw")
    port, metrics_port = free_port(), free_port()

    async def setup():
        url, engine = await indexed_database(stack, "sec")
        for i in range(STORM):
            await create_user(engine, f"foule{i}@example.org")
        await create_user(engine, "op@example.org", roles=("operator",))
        await engine.dispose()
        return url

    url = asyncio.run(setup())
    env = stack.service_env(DATABASE_URL=url, GATEWAY_PORT=str(port), METRICS_PORT=str(metrics_port),
                            FORWARDED_ALLOW_IPS="127.0.0.0/8,::1", LOGIN_FAILURES_PER_IP=str(FAILURES_PER_IP),
                            LOGIN_DELAY_BASE_S="0.01", MAILBOX_DIR=str(run / "mail"), INBOUND_MAILBOX_DIR="",
                            SECRET_KEY="security-tests-" + uuid.uuid4().hex, EVENT_SUBSCRIBERS="false",
                            SEARCH_CACHE_MB="0", PASSWORD_HASH_CONCURRENCY=str(CONCURRENCY))
    proc = start_service("gateway", env, run)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, timeout=90)
        yield dict(base=base, metrics=f"http://127.0.0.1:{metrics_port}", proc=proc, url=url, mail=run / "mail")
    except BaseException:
        print_log_tails(run, ["gateway"], 40)
        raise
    finally:
        stop_process(proc)


def _csrf(base: str) -> str:
    r = httpx.get(f"{base}/connexion")
    return r.cookies["csrftoken"]


async def _login(base: str, token: str, email: str, password: str, ip: str,
                 client: httpx.AsyncClient | None = None) -> httpx.Response:
    own = client is None
    client = client or httpx.AsyncClient(cookies={"csrftoken": token}, timeout=120)
    try:
        return await client.post(f"{base}/connexion", data={"email": email, "password": password,
                                                             "_csrf_token": token},
                                 headers={"x-forwarded-for": ip}, follow_redirects=False)
    finally:
        if own:
            await client.aclose()


class RssSampler:
    def __init__(self, pid: int):
        self.proc, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


async def test_64_concurrent_logins_keep_memory_bounded_and_search_answers(gateway):
    base = gateway["base"]
    token = _csrf(base)
    # warm up: one login (the hasher, the pool) and a few searches, then the baseline
    assert (await _login(base, token, "foule0@example.org", DEFAULT_PASSWORD, "198.18.1.1")).status_code == 303
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(3):
            assert (await client.get(f"{base}/api/v1/search")).status_code == 200
    await asyncio.sleep(0.5)
    baseline = psutil.Process(gateway["proc"].pid).memory_info().rss

    searches: list[tuple[int, float]] = []

    async def search_during(stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=60) as client:
            while not stop.is_set():
                started = time.monotonic()
                r = await client.get(f"{base}/api/v1/search", params={"q": "jardin"})
                searches.append((r.status_code, time.monotonic() - started))
                await asyncio.sleep(0.05)

    stop = asyncio.Event()
    with RssSampler(gateway["proc"].pid) as rss:
        searching = asyncio.create_task(search_during(stop))
        answers = await asyncio.gather(*(_login(base, token, f"foule{i}@example.org", DEFAULT_PASSWORD,
                                                f"198.18.0.{i + 1}") for i in range(STORM)))
        stop.set()
        await searching
    growth_mib = (rss.peak - baseline) / 2**20
    statuses = [a.status_code for a in answers]
    print(f"\nRSS idle {baseline / 2**20:.0f} MiB, peak {rss.peak / 2**20:.0f} MiB (+{growth_mib:.0f} MiB) "
          f"for {STORM} concurrent logins; answers {sorted(set(statuses))}: {statuses.count(303)} × 303, "
          f"{statuses.count(503)} × 503; {len(searches)} searches meanwhile, slowest "
          f"{max(s for _, s in searches):.2f} s")
    assert set(statuses) <= {303, 503}, statuses
    assert statuses.count(303) >= 1 and statuses.count(503) >= 1, "the hashing limit never acted"
    assert all(a.headers.get("retry-after") == "1" for a in answers if a.status_code == 503)
    assert growth_mib <= GROWTH_MAX_MIB, f"RSS grew {growth_mib:.0f} MiB (> {GROWTH_MAX_MIB})"
    assert searches and all(status == 200 for status, _ in searches), searches
    # nobody was lost: those told to retry get in when they do
    for i, answer in enumerate(answers):
        if answer.status_code == 503:
            for _ in range(20):
                again = await _login(base, token, f"foule{i}@example.org", DEFAULT_PASSWORD, f"198.18.0.{i + 1}")
                if again.status_code != 503:
                    break
                await asyncio.sleep(int(again.headers["retry-after"]))
            assert again.status_code == 303


async def test_login_limits_are_per_visitor_behind_the_proxy(gateway):
    base = gateway["base"]
    token = _csrf(base)
    visitor, neighbour = "203.0.113.10", "203.0.113.11"
    for i in range(FAILURES_PER_IP):  # at the limit: every failure is still judged
        r = await _login(base, token, f"inconnu{i}@example.org", "mauvais mot de passe", visitor)
        assert r.status_code == 400, r.text[:300]
    r = await _login(base, token, "inconnu-x@example.org", "mauvais mot de passe", visitor)  # one past
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 15 * 60
    # far beyond, all at once: refused, none judged
    far = await asyncio.gather(*(_login(base, token, f"inconnu-far{i}@example.org", "mauvais mot de passe",
                                        visitor) for i in range(40)))
    assert {r.status_code for r in far} == {429}
    # a visitor cannot pass for someone else: the proxy appends the real address after what they wrote
    r = await _login(base, token, "foule1@example.org", DEFAULT_PASSWORD, f"{neighbour}, {visitor}")
    assert r.status_code == 429
    # the other visitor behind the same proxy is not affected
    r = await _login(base, token, "inconnu-y@example.org", "mauvais mot de passe", neighbour)
    assert r.status_code == 400
    r = await _login(base, token, "foule2@example.org", DEFAULT_PASSWORD, neighbour)
    assert r.status_code == 303
    engine = create_async_engine(gateway["url"])
    try:
        async with engine.connect() as conn:
            keys = set((await conn.execute(text(
                "SELECT DISTINCT key FROM auth_throttle WHERE key LIKE 'login:ip:203.0.113.%'"))).scalars())
    finally:
        await engine.dispose()
    assert keys == {f"login:ip:{visitor}", f"login:ip:{neighbour}"}


async def test_a_stranger_failing_an_operators_password_does_not_lock_them_out(gateway):
    base = gateway["base"]
    token = _csrf(base)
    attacker, operator = "198.51.100.66", "192.0.2.1"
    tries = await asyncio.gather(*(_login(base, token, "op@example.org", f"devinette numero {i}", attacker)
                                   for i in range(30)))
    statuses = [t.status_code for t in tries]
    assert set(statuses) <= {400, 429, 503} and statuses.count(400) <= FAILURES_PER_IP, statuses
    # the password alone no longer logs the operator in...
    async with httpx.AsyncClient(cookies={"csrftoken": token}, timeout=60) as client:
        r = await _login(base, token, "op@example.org", DEFAULT_PASSWORD, operator, client)
        if r.status_code == 303:  # fewer than five guesses were judged: the password still works, fine
            return
        assert r.status_code == 429 and "lien reçu par e-mail" in r.text
        # ...but the link mailed to their address does (the attacker cannot read it)
        r = await client.post(f"{base}/connexion/lien", data={"email": "op@example.org", "_csrf_token": token},
                              headers={"x-forwarded-for": operator})
        assert r.status_code == 200
        mail = await wait_for_mail(gateway["mail"], to="op@example.org", subject_contains="lien de connexion")
        link = link_in(mail, "/connexion/lien")
        path = link[link.index("/connexion/lien"):]
        assert (await client.get(f"{base}{path}")).status_code == 200
        r = await client.post(f"{base}/connexion/lien/confirmer",
                              data={"token": path.split("token=", 1)[1], "_csrf_token": token},
                              headers={"x-forwarded-for": operator}, follow_redirects=False)
        assert r.status_code == 303
        me = (await client.get(f"{base}/api/v1/me")).json()
        assert me["email"] == "op@example.org" and "operator" in me["roles"]
    # and the password works again: the owner proved the address
    assert (await _login(base, token, "op@example.org", DEFAULT_PASSWORD, operator)).status_code == 303


async def test_metrics_are_on_their_own_port_only(gateway):
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.get(f"{gateway['base']}/health")).status_code == 200
        assert (await client.get(f"{gateway['base']}/metrics")).status_code == 404
        r = await client.get(f"{gateway['metrics']}/metrics")
        assert r.status_code == 200 and "carrefour_http_requests_total" in r.text
