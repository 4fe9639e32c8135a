"""Throughput of the pure normalize + geocode functions on one core, and the geocoder's load cost.

    RAYON_NUM_THREADS=1 .venv/bin/python -m benchmarks.bench_normalize_geocode [--n 20000] [--stages]

Records come from ``benchmarks/generate.py`` (French projects in random communes, with HTML
descriptions, labels, stages, holders, e-mails), made messier here: a third carry partner
coordinates (reverse-geocoded), a tenth a messy location string from the geocoding test corpus
instead of a clean commune, a tenth only an address, and half a phone number. E-mail domains are
mostly the project's own (``epicerie-solidaire-opio.fr``: distinct, as on the demo sites) and a
quarter common providers (``orange.fr``, ``gmail.com``…). Every record is distinct (titles,
descriptions, e-mails, phones): no result is reused from one record to the next except what real
traffic repeats too (labels, communes, countries, e-mail providers, place strings of the same
town). Every record is normalised (HTML cleaning, taxonomy, contacts, language) and geocoded;
the figures are for one process, one thread, after the data files are loaded (as the services
do at start), first pass (resolver cache cold). ``--stages`` adds the time of each stage.
"""

from __future__ import annotations

import argparse
import csv
import gc
import random
import resource
import time
from pathlib import Path

from benchmarks.generate import generate
from libs.contracts.events import PartnerRecord
from libs.contracts.search import fold

PROVIDERS = ("orange.fr", "gmail.com", "wanadoo.fr", "free.fr", "laposte.net", "hotmail.fr", "yahoo.fr", "sfr.fr")


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def messy(records: list[PartnerRecord], seed: int = 7) -> list[PartnerRecord]:
    rng = random.Random(seed)
    domains = random.Random(seed + 1)  # its own stream: the other fields stay as they always were
    corpus = Path(__file__).resolve().parents[1] / "tests" / "data" / "geocoding" / "generated.csv"
    with open(corpus, encoding="utf-8", newline="") as fh:
        strings = [(r["text"], r["postcode"] or None) for r in csv.DictReader(fh)]
    from services.geocoder.gazetteer import default_gazetteer

    gaz = default_gazetteer()
    out = []
    for r in records:
        upd: dict = {}
        x = rng.random()
        if x < 0.1:
            text, pc = rng.choice(strings)
            upd.update(commune=text[:120], postcode=pc)
        elif x < 0.2:
            upd.update(address=f"{rng.randint(1, 99)} rue de la Gare, {r.postcode or ''} {r.commune}", commune=None, postcode=None)
        if rng.random() < 0.33 and r.commune:
            c = gaz.by_name(r.commune)
            if c and c[0].lat is not None:
                upd.update(lat=round(c[0].lat + rng.uniform(-0.005, 0.005), 5), lon=round(c[0].lon + rng.uniform(-0.005, 0.005), 5))
        email = r.contact.email if r.contact else None
        if email:
            own = "-".join(fold(r.title.split(" n°")[0]).split()) + domains.choice([".fr", ".fr", ".org", ".com"])
            email = email.split("@")[0] + "@" + (domains.choice(PROVIDERS) if domains.random() < 0.25 else own)
            upd["contact"] = {"email": email}
        if rng.random() < 0.5:
            upd["contact"] = {"email": email,
                              "phone": f"0{rng.randint(1, 5)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}"}
        upd["description"] = (r.description or "") + " <p>Les bénévoles accueillent chaque semaine les habitants du quartier pour des ateliers, des repas partagés et des permanences d&#39;accès aux droits.</p>"
        out.append(PartnerRecord.model_validate({**r.model_dump(), **upd}))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--stages", action="store_true",
                    help="also time each stage (wrapped calls: the total is then a little slower)")
    args = ap.parse_args()

    base = rss_mb()
    t0 = time.perf_counter()
    from services.geocoder.gazetteer import default_gazetteer

    gaz = default_gazetteer()
    t1 = time.perf_counter()
    r1 = rss_mb()
    from services.geocoder.domain import Geocoder
    from services.geocoder.reverse import default_outlines

    geo = Geocoder(gaz, outlines=default_outlines())
    t2 = time.perf_counter()
    r2 = rss_mb()
    from services.normalizer import domain as norm

    norm.preload()  # what the service does at start: language models, keyword lists, every partner's table
    t3 = time.perf_counter()
    r3 = rss_mb()
    print(f"load: gazetteer {t1 - t0:.2f} s (+{r1 - base:.0f} MB), resolver+outlines {t2 - t1:.2f} s (+{r2 - r1:.0f} MB), "
          f"normalizer models {t3 - t2:.2f} s (+{r3 - r2:.0f} MB); RSS {r3:.0f} MB")

    records = messy(generate(args.n, duplicate_rate=0.0))
    stage_times = instrument(norm, geo) if args.stages else None
    gc.collect()
    stats = {"normalize": 0.0, "geocode": 0.0}
    precisions: dict[str, int] = {}
    start = time.perf_counter()
    cpu_start = time.process_time()
    for r in records:
        a = time.perf_counter()
        p = norm.normalize(r)
        b = time.perf_counter()
        loc = geo.geocode(p)
        c = time.perf_counter()
        stats["normalize"] += b - a
        stats["geocode"] += c - b
        precisions[loc.precision] = precisions.get(loc.precision, 0) + 1
    total = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    n = len(records)
    print(f"{n} records: {n / total:,.0f} records/s normalize+geocode wall clock, {n / cpu:,.0f} records/s of CPU time "
          f"(normalize {stats['normalize'] / n * 1e6:.0f} µs, geocode {stats['geocode'] / n * 1e6:.0f} µs per record); "
          f"precision {dict(sorted(precisions.items()))}; RSS {rss_mb():.0f} MB")
    if stage_times is not None:
        report_stages(stage_times, stats, n)
    return 0


STAGES = {
    # name in services.normalizer.domain → stage
    "clean_text": "HTML/text cleaning (nh3, ftfy, entities, spaces)",
    "classify": "taxonomy (mapping tables, keyword classifier)",
    "normalize_email": "e-mail (email-validator)",
    "normalize_phone": "phone (phonenumbers)",
    "detect_language": "language (plainly French: word test; else lingua)",
    "summarize": "summary",
    "NormalizedProject": "NormalizedProject validation (pydantic)",
}
GEO_STAGES = {"resolve": "place strings → commune (resolver)", "reverse": "coordinates → commune (outlines)"}


def instrument(norm, geo) -> dict[str, float]:
    """Wrap the functions each stage calls with a timer (perf_counter: ~0.1 µs per call)."""
    times: dict[str, float] = dict.fromkeys([*STAGES, *GEO_STAGES], 0.0)

    def wrap(owner, name):
        f = getattr(owner, name)
        clock = time.perf_counter

        def timed(*a, **k):
            t = clock()
            try:
                return f(*a, **k)
            finally:
                times[name] += clock() - t

        setattr(owner, name, timed)

    for name in STAGES:
        wrap(norm, name)
    wrap(geo.resolver, "resolve")
    wrap(geo, "reverse")
    return times


def report_stages(times: dict[str, float], stats: dict[str, float], n: int) -> None:
    us = {k: v / n * 1e6 for k, v in times.items()}
    print("per stage, µs per record (averaged over every record, wall clock):")
    for k, label in STAGES.items():
        print(f"  normalize  {us[k]:6.1f}  {label}")
    rest = stats["normalize"] / n * 1e6 - sum(us[k] for k in STAGES)
    print(f"  normalize  {rest:6.1f}  the rest: record → fields, content hash (sha256 of orjson), timers")
    for k, label in GEO_STAGES.items():
        print(f"  geocode    {us[k]:6.1f}  {label}")
    rest = stats["geocode"] / n * 1e6 - sum(us[k] for k in GEO_STAGES)
    print(f"  geocode    {rest:6.1f}  the rest: evidence order, Location building, coordinates checks")


if __name__ == "__main__":
    raise SystemExit(main())
