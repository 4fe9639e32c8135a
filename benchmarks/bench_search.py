"""Gateway search latency and throughput on the embedded PostgreSQL backend.

    .venv/bin/python -m benchmarks.bench_search            # 40,000 projects, 32 clients, 20 s
    BENCH_PROJECTS=5000 BENCH_SECONDS=5 .venv/bin/python -m benchmarks.bench_search

Starts the embedded broker and PostgreSQL on free ports, writes BENCH_PROJECTS generated
canonical projects (communes drawn from the gazetteer, weighted by population) straight through
the index writer (``upsert_many``), starts the gateway as its own process (uvicorn,
BENCH_WORKERS worker processes, default 2: one per core; ``make up`` starts 1), and runs concurrent keep-alive
HTTP/1.1 clients. The clients are raw asyncio sockets (one process, same machine) so that they
cost as little CPU as possible; they still share the machine's cores with the gateway and
PostgreSQL, so the figures are a floor.

Scenario "keyword + 3 facets + geo" (the target): q = one of the generated project kinds, a
theme, 1-2 stages, 1-3 sources, lat/lon of one of 10 big cities with a radius of 30, 50 or 80 km.
The query mix is skewed like real search traffic: BENCH_DISTINCT (100,000) distinct queries whose
popularity follows Zipf's law with exponent BENCH_ZIPF (0.9): the most popular query is 4.5 % of
requests, the top 100 together 29 %, and with an unbounded cache the hit rate after 5,000 /
20,000 / 100,000 requests would be 37 % / 50 % / 68 % (``zipf_stats``). Every client draws its
own sequence from that distribution.

The target scenario runs twice (``BENCH_CACHES``, default ``0,64``), search caches off
(``SEARCH_CACHE_MB=0``: one SQL statement per search) then on (the default, 64 MB per process, exact invalidation: candidate sets per words
answered in memory, hit documents, whole answers); each time:
- 1 client, closed loop: service time, no queueing;
- BENCH_CLIENTS (32) clients, closed loop (each sends its next request when the last answer
  arrived) for BENCH_SECONDS: the issue's target figures;
- open loop: each of BENCH_RATE (500,1000; the first only with the caches off) requests/s
  offered at fixed intervals over BENCH_CLIENTS connections for BENCH_SECONDS; latency counts from the scheduled send time (a request waiting
  for a free connection waits on the clock), so an overloaded server shows up as latency.
The caches' hit rates of each run come from the gateway's /metrics (every worker's counters).
Other scenarios (BENCH_CONTEXT=1, the default) are printed for context, cache on.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import os
import platform
import random
import re
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.generate import KINDS, SOURCES
from benchmarks.rundir import run_directory
from libs.contracts.events import CanonicalProject, Contact, Location, SourceRef
from services.geocoder.gazetteer import default_gazetteer
from services.indexer.adapters.search import PostgresIndexWriter
from tools.devstack import Stack, free_port

THEMES = {  # the generator's kinds, classified as the normalizer would
    "Jardin partagé": ["alimentation", "environnement-dechets"],
    "Épicerie solidaire": ["alimentation", "solidarite-lien-social"],
    "Fablab mobile": ["numerique", "education-jeunesse"],
    "Garage solidaire": ["mobilite", "emploi-insertion"],
    "Ressourcerie": ["environnement-dechets", "economie-locale-ess"],
    "Colocation intergénérationnelle": ["habitat-logement", "seniors-vieillissement"],
    "Tiers-lieu": ["economie-locale-ess", "culture"],
    "Troc de graines": ["environnement-dechets", "alimentation"],
    "Atelier vélo": ["mobilite", "environnement-dechets"],
    "Centrale villageoise": ["energie", "democratie-citoyennete"],
}
KEYWORDS = ["jardin partage", "epicerie", "fablab", "garage solidaire", "ressourcerie", "colocation",
            "tiers lieu", "graines", "atelier velo", "centrale"]
STAGES = ["idee", "experimentation", "developpement", "essaimage", "termine"]
HOLDERS = ["association", "entreprise-sociale", "collectivite", "collectif-informel", "fondation"]
ENGINEERING = ["sociale", "financiere", "territoriale", "technique", "juridique", "numerique"]
CITIES = [(48.8566, 2.3522), (45.764, 4.8357), (43.2965, 5.3698), (50.6292, 3.0573), (43.6047, 1.4442),
          (47.2184, -1.5536), (48.5734, 7.7521), (44.8378, -0.5792), (48.1173, -1.6778), (43.7102, 7.262)]
T0 = datetime(2019, 1, 1, tzinfo=UTC)


def projects(n: int, seed: int = 7) -> list[CanonicalProject]:
    rng = random.Random(seed)
    communes = [c for c in default_gazetteer() if c.kind == "COM" and c.lat is not None]
    weights = [max(c.population, 50) for c in communes]
    picked = rng.choices(communes, weights=weights, k=n)
    out = []
    for i, commune in enumerate(picked):
        kind, _, _ = rng.choice(KINDS)
        first_seen = T0 + timedelta(minutes=rng.randrange(0, 60 * 24 * 365 * 7))
        partners = rng.sample(SOURCES, k=1 if rng.random() < 0.85 else 2)
        out.append(CanonicalProject(
            id=f"bench-{i}", title=f"{kind} {commune.name} n°{i}",
            summary=f"{kind} porté par des habitants de {commune.name}.",
            description=f"{kind} porté par des habitants de {commune.name}. Le projet {i} favorise le lien social "
                        "et l'entraide, et accompagne les publics fragiles du territoire.",
            themes=THEMES[kind], stage=rng.choice(STAGES), engineering=rng.sample(ENGINEERING, k=rng.randint(0, 2)),
            holder_name=f"Collectif {i}", holder_type=rng.choice(HOLDERS),
            contact=Contact(email=f"contact{i}@exemple.org"),
            location=Location(commune_code=commune.code, commune_name=commune.name,
                              postcode=commune.postcodes[0] if commune.postcodes else None,
                              departement_code=commune.departement, departement_name=commune.departement_name,
                              region_code=commune.region, region_name=commune.region_name,
                              lat=commune.lat, lon=commune.lon, precision="commune", method="gazetteer"),
            sources=[SourceRef(partner=p, record_id=f"{p}-{i}", url=f"https://{p}.example.org/projets/{i}",
                               last_seen=first_seen) for p in partners],
            first_seen=first_seen, updated_at=first_seen,
        ))
    return out


def target_query(rng: random.Random) -> str:
    """One "keyword + 3 facets + geo" search, as a visitor would build it."""
    kw = rng.choice(KEYWORDS)
    kind = next(k for k in THEMES if k.lower().startswith(kw.split()[0][:5]) or kw in k.lower()) \
        if any(kw.split()[0][:5] in k.lower() for k in THEMES) else rng.choice(list(THEMES))
    lat, lon = rng.choice(CITIES)
    params = [("q", kw), ("theme", rng.choice(THEMES[kind]))]
    params += [("stage", s) for s in rng.sample(STAGES, k=rng.randint(1, 2))]
    params += [("source", s) for s in rng.sample(SOURCES, k=rng.randint(1, 3))]
    params += [("lat", f"{lat}"), ("lon", f"{lon}"), ("radius_km", str(rng.choice([30, 50, 80])))]
    return "/api/v1/search?" + urlencode(params)


class Zipf:
    """``n`` distinct items drawn with probability proportional to 1 / rank ** s."""

    def __init__(self, items: list[str], s: float):
        self.items = items
        self.cumulative = list(itertools.accumulate(1 / (r + 1) ** s for r in range(len(items))))

    def draw(self, rng: random.Random) -> str:
        return self.items[min(len(self.items) - 1, bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1]))]


def zipf_stats(n: int, s: float) -> str:
    weights = [1 / (r + 1) ** s for r in range(n)]
    total = sum(weights)
    p = [w / total for w in weights]

    def hit_rate(requests: int) -> float:  # unbounded cache: 1 - expected distinct / requests
        return 1 - sum(1 - (1 - x) ** requests for x in p) / requests

    return (f"top query {p[0]:.1%}, top 100 {sum(p[:100]):.0%}; unbounded-cache hit rate after "
            + " / ".join(f"{r:,}: {hit_rate(r):.0%}" for r in (5_000, 20_000, 100_000)))


def target_mix(n: int, s: float, seed: int = 1) -> Zipf:
    rng = random.Random(seed)
    distinct: dict[str, None] = {}
    while len(distinct) < n:
        distinct[target_query(rng)] = None
    items = list(distinct)
    rng.shuffle(items)  # popularity rank independent of how the query was built
    return Zipf(items, s)


def scenarios(rng: random.Random) -> dict[str, list[str]]:
    """Context scenarios: uniform draws from small sets of queries."""
    keyword = ["/api/v1/search?" + urlencode({"q": rng.choice(KEYWORDS)}) for _ in range(200)]
    browse = ["/api/v1/search?" + urlencode({"theme": rng.choice(list(THEMES.values()))[0],
                                             "page": rng.randint(1, 5)}) for _ in range(200)]
    mapq = ["/api/v1/map?" + urlencode({"bbox": "-5.2,41.3,9.6,51.1", "zoom": 6,
                                        "theme": rng.choice(list(THEMES.values()))[0]}) for _ in range(50)]
    return {"keyword only (10 distinct queries)": keyword,
            "GET /health (HTTP floor: no database)": ["/health"],
            "no keyword, 1 facet (browse, all facets counted over ~10k rows; 50 distinct)": browse,
            "map clusters, France, zoom 6 (10 distinct)": mapq}


async def _request(reader, writer, host: str, path: str) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\r\n".encode())
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


def _summary(latencies: list[float], errors: int, elapsed: float) -> dict:
    latencies.sort()
    q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000  # noqa: E731
    return {"requests": len(latencies), "errors": errors, "rps": len(latencies) / elapsed,
            "p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "mean": statistics.fmean(latencies) * 1000}


def _draw(paths) -> callable:
    if isinstance(paths, Zipf):
        return paths.draw
    return lambda rng: rng.choice(paths)


async def load(host: str, port: int, paths, clients: int, seconds: float) -> dict:
    """Closed loop: ``clients`` connections, each sending its next request when the last answer arrived."""
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    errors = 0
    draw = _draw(paths)

    async def client(k: int):
        nonlocal errors
        rng = random.Random(f"{k}-{seconds}-{clients}-{time.time()}")
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                path = draw(rng)
                t = time.perf_counter()
                status = await _request(reader, writer, f"{host}:{port}", path)
                latencies.append(time.perf_counter() - t)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    return _summary(latencies, errors, time.perf_counter() - t0)


async def open_loop(host: str, port: int, paths, rate: float, connections: int, seconds: float) -> dict:
    """Open loop: request i is due at start + i / rate whatever the answers; it goes out on the first
    free connection, and its latency counts from when it was due (no coordinated omission)."""
    draw, rng = _draw(paths), random.Random(f"open-{time.time()}")
    n = int(rate * seconds)
    queue: asyncio.Queue = asyncio.Queue()
    latencies: list[float] = []
    errors = 0
    t0 = time.perf_counter()

    async def connection():
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (item := await queue.get()) is not None:
                due, path = item
                status = await _request(reader, writer, f"{host}:{port}", path)
                latencies.append(time.perf_counter() - due)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    for i in range(n):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, draw(rng)))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return _summary(latencies, errors, time.perf_counter() - t0)


async def cache_counters(host: str, port: int, workers: int) -> dict[str, dict[str, dict[str, float]]]:
    """{cache: {pid: {"hit": n, "miss": n}}} from /metrics, over fresh connections until every
    worker answered."""
    seen: dict[str, dict[str, dict[str, float]]] = {}
    for _ in range(20 * workers):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET /metrics HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        body = (await reader.read()).decode(errors="replace")
        writer.close()
        for labels, value in re.findall(r"^carrefour_search_cache_lookups_total\{([^}]*)\} (\S+)$", body, re.M):
            found = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            seen.setdefault(found["cache"], {}).setdefault(found["pid"], {})[found["result"]] = float(value)
        if len(seen.get("answers", {})) >= workers:
            break
    return seen


def hit_rate(before: dict, after: dict) -> str:
    """Hit rates of the whole-answer cache and of the candidate sets (words already read)."""
    out = []
    for cache, name in (("answers", "answer cache hits"), ("candidates", "candidate sets in memory"),
                        ("documents", "documents in memory")):
        count = lambda d, r: sum(v.get(r, 0) for v in d.get(cache, {}).values())  # noqa: E731
        hits = count(after, "hit") - count(before, "hit")
        misses = count(after, "miss") - count(before, "miss")
        if hits + misses:
            out.append(f"{name} {hits / (hits + misses):.0%} ({hits:.0f}/{hits + misses:.0f})")
    return ", ".join(out) or "cache off"


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live descendants (plus the children it reaped)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK") + sum(_tree_cpu(int(c)) for c in children)


class CpuMeter:
    """CPU per request of the gateway (every worker), PostgreSQL (every backend) and the load
    generator: robust to a busy machine where req/s and latency are not."""

    def __init__(self, stack: Stack):
        self.gateway = stack.services["gateway"].pid
        self.postgres = int((stack.postgres.datadir / "postmaster.pid").read_text().split()[0])

    def snapshot(self) -> tuple[float, float, float]:
        return _tree_cpu(self.gateway), _tree_cpu(self.postgres), time.process_time()

    @staticmethod
    def per_request(before, after, requests: int) -> str:
        gw, pg, client = ((b - a) * 1000 / max(requests, 1) for a, b in zip(before, after))
        return f"CPU per request: gateway {gw:.2f} ms, PostgreSQL {pg:.2f} ms, load generator {client:.2f} ms"


def worker_rss_mb(pid: int) -> list[float]:
    """Resident memory (MB) of the gateway's worker processes (the process itself when it has none)."""
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    out = []
    for p in children or [pid]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        out.extend(int(m) / 1024 for m in re.findall(r"^VmRSS:\s+(\d+) kB", status, re.M))
    return out


def line(name: str, r: dict) -> str:
    return (f"    {name:<34} p50 {r['p50']:6.1f} ms  p90 {r['p90']:6.1f} ms  p99 {r['p99']:6.1f} ms  "
            f"{r['rps']:6.0f} req/s  ({r['requests']} requests, {r['errors']} errors)")


async def _wait_ready(host: str, port: int) -> None:
    for _ in range(300):
        try:
            r, w = await asyncio.open_connection(host, port)
            status = await _request(r, w, f"{host}:{port}", "/ready")
            w.close()
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the gateway did not get ready")


async def main() -> None:
    n = int(os.environ.get("BENCH_PROJECTS", "40000"))
    clients = int(os.environ.get("BENCH_CLIENTS", "32"))
    seconds = float(os.environ.get("BENCH_SECONDS", "20"))
    workers = int(os.environ.get("BENCH_WORKERS", "2"))
    rates = [float(r) for r in os.environ.get("BENCH_RATE", "500,1000").split(",")]
    distinct = int(os.environ.get("BENCH_DISTINCT", "100000"))
    zipf_s = float(os.environ.get("BENCH_ZIPF", "0.9"))
    context = os.environ.get("BENCH_CONTEXT", "1") == "1"
    run_dir = run_directory("bench-search-")
    stack = Stack(run_dir=run_dir, kafka_port=free_port(), pg_port=free_port())
    await asyncio.to_thread(stack.start_infra)
    try:
        database_url = stack.postgres.create_database(f"bench_{uuid.uuid4().hex[:6]}")
        engine = create_async_engine(database_url)
        writer = PostgresIndexWriter(engine)
        docs = projects(n)
        t = time.perf_counter()
        sem = asyncio.Semaphore(2)

        async def write(batch):
            async with sem:
                await writer.upsert_many(batch)

        await asyncio.gather(*(write([(p, 1) for p in docs[i:i + 1000]]) for i in range(0, n, 1000)))
        load_s = time.perf_counter() - t
        async with engine.connect() as conn:  # what autovacuum does after a bulk load: hint bits, visibility map
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE search_documents"))
            table_mb, database_mb = (await conn.execute(text(
                "SELECT pg_total_relation_size('search_documents') / 1048576.0, "
                "pg_database_size(current_database()) / 1048576.0"))).one()
        await engine.dispose()
        del docs  # the gateway's memory is measured below, not the benchmark's
        print(f"loaded {n} projects through PostgresIndexWriter.upsert_many in {load_s:.1f}s "
              f"({n / load_s:.0f} docs/s); search table with its indexes {table_mb:,.0f} MB, "
              f"database {database_mb:,.0f} MB")

        host, port = "127.0.0.1", free_port()
        mix = target_mix(distinct, zipf_s)
        print(f"query mix (keyword + 3 facets + geo): {distinct:,} distinct queries, Zipf exponent {zipf_s}: "
              f"{zipf_stats(distinct, zipf_s)}")
        for cache_mb in os.environ.get("BENCH_CACHES", "0,64").split(","):
            # the counters are on METRICS_PORT (never the public port), every worker's in multiprocess mode
            metrics_port, multiproc = free_port(), Path(tempfile.mkdtemp(prefix="prom-", dir=run_dir))
            stack.start_services(("gateway",), log_dir=run_dir / "logs", DATABASE_URL=database_url,
                                 GATEWAY_PORT=str(port), LOG_LEVEL="WARNING", GATEWAY_WORKERS=str(workers),
                                 SEARCH_CACHE_MB=cache_mb, METRICS_PORT=str(metrics_port),
                                 PROMETHEUS_MULTIPROC_DIR=str(multiproc))
            await _wait_ready(host, port)
            print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average "
                  f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}; gateway = {workers} uvicorn "
                  f"worker(s), search result cache {'off' if cache_mb == '0' else cache_mb + ' MB per worker'}")
            print(f"keyword + 3 facets + geo (target), cache {'off' if cache_mb == '0' else 'on'}")
            await load(host, port, mix, clients, 2)  # warm-up: connections, prepared statements
            runs = [("1 client, closed loop", lambda: load(host, port, mix, 1, min(seconds, 5))),
                    (f"{clients} clients, closed loop", lambda: load(host, port, mix, clients, seconds)),
                    *((f"open loop {rate:.0f} req/s offered, {clients} conn.",
                       lambda rate=rate: open_loop(host, port, mix, rate, clients, seconds))
                      for rate in (rates if cache_mb != "0" else rates[:1]))]
            meter = CpuMeter(stack)
            for name, run in runs:
                before = await cache_counters(host, metrics_port, workers)
                cpu = meter.snapshot()
                r = await run()
                cpu = meter.per_request(cpu, meter.snapshot(), r["requests"])
                after = await cache_counters(host, metrics_port, workers)
                print(line(name, r) + f"  {hit_rate(before, after)}\n        {cpu}; "
                      f"load average {os.getloadavg()[0]:.1f}")
            if cache_mb != "0" and context:
                for name, paths in scenarios(random.Random(1)).items():
                    await load(host, port, paths[:50], clients, 1)
                    print(name)
                    print(line("1 client", await load(host, port, paths, 1, min(seconds, 5))))
                    print(line(f"{clients} clients", await load(host, port, paths, clients, seconds)))
            rss = worker_rss_mb(stack.services["gateway"].pid)
            print(f"gateway resident memory per worker after the runs: {', '.join(f'{m:.0f} MB' for m in rss)}")
            stack.stop_services()
        print("targets (keyword + 3 facets + geo, 32 clients): p50 <= 10 ms, p99 <= 50 ms, >= 500 req/s")
    finally:
        stack.stop_services()
        await asyncio.to_thread(stack.stop)


if __name__ == "__main__":
    asyncio.run(main())
