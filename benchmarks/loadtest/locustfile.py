"""Load test of a running Carrefour deployment (compose, Kubernetes, or ``make up``) with locust.

Self-contained (only locust and the standard library), so it runs from the locust image too:

    # against the compose deployment (gateway published on :8000)
    docker run --rm --network host -v "$PWD/benchmarks/loadtest:/mnt/locust" locustio/locust \\
        -f /mnt/locust/locustfile.py --host http://127.0.0.1:8000 --headless -u 6 -r 6 -t 2m

    # from the repository's virtualenv (``pip install -e '.[test]'`` brings locust)
    .venv/bin/locust -f benchmarks/loadtest/locustfile.py --host http://127.0.0.1:8000 \\
        --headless -u 6 -r 6 -t 2m

Three kinds of users:

- ``Pusher`` posts generated projects to ``POST /api/v1/ingest/bulk`` (NDJSON, ``LOAD_BULK_SIZE``
  records per request, default 500; about a tenth republish an earlier project under another
  record id, as partners do), as fast as the gateway answers; each request is one locust
  request, so locust's "records" are batches: multiply by the batch size;
- ``Searcher`` runs searches (words, facets, a point and a radius), ``LOAD_SEARCH_WAIT_S``
  between two (default 0.5 s);
- ``Probe`` pushes one project with a unique word in its title every ``LOAD_PROBE_EVERY_S``
  (default 2 s) and searches for that word until it is found: locust reports the time as
  ``pipeline push→searchable`` (p50, p99 in its table), i.e. the pipeline's latency under the
  load the other users make. A probe not found within ``LOAD_PROBE_TIMEOUT_S`` (60 s) is a failure.

Settings (environment): ``LOAD_API_KEY`` (default ``demo-key-not-secret``, the key ``make up``
creates) and ``LOAD_SOURCE`` (the key's partner, default ``demo``); ``LOAD_API_KEYS`` (comma
separated) spreads pushes over several keys — one key may push 200,000 records a minute
(``INGEST_RECORDS_PER_MINUTE``). User weights: ``LOAD_WEIGHT_PUSH``, ``LOAD_WEIGHT_SEARCH``,
``LOAD_WEIGHT_PROBE`` (default 2, 3, 1).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
import uuid

from locust import HttpUser, between, constant, events, task

API_KEYS = [k for k in os.environ.get("LOAD_API_KEYS", os.environ.get("LOAD_API_KEY", "demo-key-not-secret"))
            .split(",") if k]
SOURCE = os.environ.get("LOAD_SOURCE", "demo")
BULK_SIZE = int(os.environ.get("LOAD_BULK_SIZE", "500"))
PROBE_EVERY_S = float(os.environ.get("LOAD_PROBE_EVERY_S", "2"))
PROBE_TIMEOUT_S = float(os.environ.get("LOAD_PROBE_TIMEOUT_S", "60"))
SEARCH_WAIT_S = float(os.environ.get("LOAD_SEARCH_WAIT_S", "0.5"))
RUN = uuid.uuid4().hex[:8]  # record ids of this run do not collide with an earlier run's

COMMUNES = [("Lille", "59000"), ("Roubaix", "59100"), ("Amiens", "80000"), ("Rouen", "76000"),
            ("Nantes", "44000"), ("Rennes", "35000"), ("Brest", "29200"), ("Tours", "37000"),
            ("Dijon", "21000"), ("Besançon", "25000"), ("Lyon", "69001"), ("Grenoble", "38000"),
            ("Marseille", "13001"), ("Nice", "06000"), ("Montpellier", "34000"), ("Toulouse", "31000"),
            ("Bordeaux", "33000"), ("Limoges", "87000"), ("Clermont-Ferrand", "63000"), ("Metz", "57000"),
            ("Strasbourg", "67000"), ("Reims", "51100"), ("Caen", "14000"), ("Poitiers", "86000"),
            ("Pau", "64000"), ("Perpignan", "66000"), ("Ajaccio", "20000"), ("Orléans", "45000")]
KINDS = [("Jardin partagé", ["Jardins partagés", "Alimentation durable"]),
         ("Épicerie solidaire", ["Épicerie sociale", "Précarité alimentaire"]),
         ("Fablab mobile", ["Numérique", "Jeunesse"]), ("Garage solidaire", ["Mobilité", "Insertion"]),
         ("Ressourcerie", ["Réemploi", "Économie circulaire"]), ("Tiers-lieu", ["Tiers-lieu", "ESS"]),
         ("Atelier vélo", ["Mobilité douce", "Réparation"]), ("Troc de graines", ["Semences", "Biodiversité"])]
QUERIES = ["jardin", "epicerie solidaire", "velo", "ressourcerie", "tiers lieu", "zero dechet", "fablab",
           "graines", "insertion", "mobilite"]
THEMES = ["alimentation", "mobilite", "numerique", "environnement-dechets", "emploi-insertion"]
_counter = itertools.count()


def record(i: int, title: str | None = None) -> dict:
    kind, themes = KINDS[i % len(KINDS)]
    commune, postcode = COMMUNES[(i * 7) % len(COMMUNES)]
    return {"source": SOURCE, "source_record_id": f"load-{RUN}-{i}", "url": f"https://{SOURCE}.example.org/p/{RUN}-{i}",
            "title": title or f"{kind} {commune} n°{i}",
            "description": f"<p>{kind} porté par des habitants de {commune}. Le projet {i} favorise le lien social "
                           f"et l'entraide &amp; accompagne les publics fragiles.</p>",
            "commune": commune, "postcode": postcode, "country": "France", "themes": themes,
            "holder": {"name": f"Collectif {i}", "kind": "Association"}, "contact": {"email": f"contact{i}@exemple.org"}}


class Pusher(HttpUser):
    weight = int(os.environ.get("LOAD_WEIGHT_PUSH", "2"))
    wait_time = constant(0)

    @task
    def bulk(self) -> None:
        lines = []
        for _ in range(BULK_SIZE):
            i = next(_counter)
            item = record(i)
            if i > 10 and random.random() < 0.1:  # republished by the partner under another record id
                item = {**record(random.randrange(i)), "source_record_id": f"load-{RUN}-{i}-again"}
            lines.append(json.dumps(item, ensure_ascii=False))
        key = random.choice(API_KEYS)
        with self.client.post("/api/v1/ingest/bulk", data="\n".join(lines).encode(), name="ingest/bulk",
                              headers={"X-API-Key": key, "content-type": "application/x-ndjson"},
                              catch_response=True) as r:
            if r.status_code == 429:  # the key's minute is used up: wait as told, not an error of the platform
                r.success()
                time.sleep(float(r.headers.get("Retry-After", "1")))
            elif r.status_code != 202 or r.json().get("accepted") != len(lines):
                r.failure(f"{r.status_code}: {r.text[:200]}")


class Searcher(HttpUser):
    weight = int(os.environ.get("LOAD_WEIGHT_SEARCH", "3"))
    wait_time = between(SEARCH_WAIT_S / 2, SEARCH_WAIT_S * 1.5)

    @task(3)
    def words(self) -> None:
        self.client.get("/api/v1/search", params={"q": random.choice(QUERIES)}, name="search words")

    @task(1)
    def facets_and_point(self) -> None:
        commune = random.choice(COMMUNES)[0]
        self.client.get("/api/v1/search", params={"theme": random.choice(THEMES), "lat": 47.0, "lon": 2.0,
                                                   "radius_km": 300, "sort": "nearest", "q": commune},
                        name="search facets+geo")


class Probe(HttpUser):
    weight = int(os.environ.get("LOAD_WEIGHT_PROBE", "1"))
    wait_time = constant(PROBE_EVERY_S)

    @task
    def push_then_find(self) -> None:
        word = f"sonde{uuid.uuid4().hex[:12]}"
        item = record(next(_counter), title=f"Jardin {word}")
        sent = time.perf_counter()
        r = self.client.post("/api/v1/ingest", json={"records": [item]}, name="ingest (probe)",
                             headers={"X-API-Key": random.choice(API_KEYS)})
        if r.status_code != 202:
            return
        while time.perf_counter() - sent < PROBE_TIMEOUT_S:
            found = self.client.get("/api/v1/search", params={"q": word}, name="search (probe poll)")
            if found.status_code == 200 and found.json().get("total", 0) >= 1:
                events.request.fire(request_type="pipeline", name="push→searchable", context={},
                                    response_time=(time.perf_counter() - sent) * 1000, response_length=0,
                                    exception=None)
                return
            time.sleep(0.1)
        events.request.fire(request_type="pipeline", name="push→searchable", context={},
                            response_time=PROBE_TIMEOUT_S * 1000, response_length=0,
                            exception=TimeoutError(f"not searchable within {PROBE_TIMEOUT_S:.0f}s"))
