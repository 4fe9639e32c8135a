"""Gateway search latency and throughput on the embedded PostgreSQL backend.

    .venv/bin/python -m benchmarks.bench_search            # 40,000 projects, 32 clients, 20 s
    BENCH_PROJECTS=5000 BENCH_SECONDS=5 .venv/bin/python -m benchmarks.bench_search

Starts the embedded broker and PostgreSQL on free ports, writes BENCH_PROJECTS generated
canonical projects (communes drawn from the gazetteer, weighted by population) straight through
the index writer (``upsert_many``), starts the gateway as its own process (uvicorn, one worker,
as ``make up`` does), and runs BENCH_CLIENTS concurrent keep-alive HTTP/1.1 clients for
BENCH_SECONDS per scenario. The clients are raw asyncio sockets (one process, same machine) so
that they cost as little CPU as possible; they still share the machine's cores with the gateway
and PostgreSQL, so the figures are a floor.

Scenario "keyword + 3 facets + geo" (the target): q = one of the generated project kinds,
theme + stage + source filters, lat/lon of a big city with a radius of 30-80 km; 400 distinct
queries drawn at random. Other scenarios are printed for context.
"""

from __future__ import annotations

import asyncio
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.generate import KINDS, SOURCES
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
T0 = datetime(2019, 1, 1, tzinfo=timezone.utc)


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


def scenarios(rng: random.Random) -> dict[str, list[str]]:
    target = []
    for _ in range(400):
        kw = rng.choice(KEYWORDS)
        kind = next(k for k in THEMES if k.lower().startswith(kw.split()[0][:5]) or kw in k.lower()) \
            if any(kw.split()[0][:5] in k.lower() for k in THEMES) else rng.choice(list(THEMES))
        lat, lon = rng.choice(CITIES)
        params = [("q", kw), ("theme", rng.choice(THEMES[kind])), ("stage", rng.choice(STAGES)),
                  ("stage", rng.choice(STAGES)), ("source", rng.choice(SOURCES)), ("source", rng.choice(SOURCES)),
                  ("source", rng.choice(SOURCES)), ("lat", f"{lat}"), ("lon", f"{lon}"),
                  ("radius_km", str(rng.choice([30, 50, 80])))]
        target.append("/api/v1/search?" + urlencode(params))
    keyword = ["/api/v1/search?" + urlencode({"q": rng.choice(KEYWORDS)}) for _ in range(200)]
    browse = ["/api/v1/search?" + urlencode({"theme": rng.choice(list(THEMES.values()))[0],
                                             "page": rng.randint(1, 5)}) for _ in range(200)]
    mapq = ["/api/v1/map?" + urlencode({"bbox": "-5.2,41.3,9.6,51.1", "zoom": 6,
                                        "theme": rng.choice(list(THEMES.values()))[0]}) for _ in range(50)]
    return {"keyword + 3 facets + geo (target)": target, "keyword only": keyword,
            "GET /health (HTTP floor: no database)": ["/health"],
            "no keyword, 1 facet (browse, all facets counted over ~10k rows)": browse,
            "map clusters, France, zoom 6": mapq}


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


async def load(host: str, port: int, paths: list[str], clients: int, seconds: float) -> dict:
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    errors = 0

    async def client(k: int):
        nonlocal errors
        rng = random.Random(k)
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                path = rng.choice(paths)
                t = time.perf_counter()
                status = await _request(reader, writer, f"{host}:{port}", path)
                latencies.append(time.perf_counter() - t)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000  # noqa: E731
    return {"requests": len(latencies), "errors": errors, "rps": len(latencies) / elapsed,
            "p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "mean": statistics.fmean(latencies) * 1000}


async def main() -> None:
    n = int(os.environ.get("BENCH_PROJECTS", "40000"))
    clients = int(os.environ.get("BENCH_CLIENTS", "32"))
    seconds = float(os.environ.get("BENCH_SECONDS", "20"))
    run_dir = Path(tempfile.mkdtemp(prefix="bench-search-"))
    os.chmod(run_dir, 0o755)
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
        await engine.dispose()
        print(f"loaded {n} projects through PostgresIndexWriter.upsert_many in {load_s:.1f}s "
              f"({n / load_s:.0f} docs/s)")

        port = free_port()
        stack.start_services(("gateway",), log_dir=run_dir / "logs", DATABASE_URL=database_url,
                             GATEWAY_PORT=str(port), LOG_LEVEL="WARNING")
        for _ in range(300):
            try:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                status = await _request(r, w, f"127.0.0.1:{port}", "/ready")
                w.close()
                if status == 200:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.1)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
              f"Python {platform.python_version()}; "
              f"{clients} concurrent keep-alive clients, {seconds:.0f} s per scenario, gateway = 1 uvicorn worker")
        for name, paths in scenarios(random.Random(1)).items():
            await load("127.0.0.1", port, paths[:50], clients, 2)  # warm-up
            one = await load("127.0.0.1", port, paths, 1, min(seconds, 5))  # service time, no queueing
            r = await load("127.0.0.1", port, paths, clients, seconds)
            print(f"{name}\n    1 client:   p50 {one['p50']:6.1f} ms  p99 {one['p99']:6.1f} ms  {one['rps']:6.0f} req/s"
                  f"\n    {clients} clients:  p50 {r['p50']:6.1f} ms  p90 {r['p90']:6.1f} ms  p99 {r['p99']:6.1f} ms  "
                  f"{r['rps']:6.0f} req/s  ({r['requests']} requests, {r['errors']} errors)")
        print("targets (keyword + 3 facets + geo): p50 <= 10 ms, p99 <= 50 ms, >= 500 req/s")
    finally:
        stack.stop_services()
        await asyncio.to_thread(stack.stop)


if __name__ == "__main__":
    asyncio.run(main())
