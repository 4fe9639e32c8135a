"""French number and date formats for the pages (pure; Jinja filters ``nombre``, ``km``, ``date_fr``).

Babel is not a dependency: the rules needed here are few and fixed (CLDR ``fr``): a comma before the
decimals, a narrow no-break space (U+202F) between thousands, dates as ``6 décembre 2026`` or
``06/12/2026``. The browser side uses ``Intl.NumberFormat("fr-FR")`` (static/app.js).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

NNBSP = "\u202f"
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


def nombre(value: Any, decimals: int = 0) -> str:
    """``12345.6`` → ``12 345,6`` (with ``decimals=1``); ``None`` and non-numbers → ``""``."""
    if value is None or isinstance(value, bool):
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = f"{abs(number):,.{max(decimals, 0)}f}"
    whole, _, frac = text.partition(".")
    out = whole.replace(",", NNBSP) + ("," + frac if frac else "")
    return ("-" if number < 0 and out.strip("0,\u202f") else "") + out


def km(value: Any) -> str:
    """A distance: ``0.04`` → ``0,0 km``; ``12.345`` → ``12,3 km``; from 100 km, no decimals."""
    if value is None:
        return ""
    number = float(value)
    return nombre(number, 0 if abs(number) >= 100 else 1) + "\u00a0km"


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def date_fr(value: Any, long: bool = True) -> str:
    """``2026-12-06`` (string, date or datetime) → ``6 décembre 2026`` (``long``) or ``06/12/2026``."""
    d = _as_date(value)
    if d is None:
        return "" if value is None else str(value)
    if not long:
        return f"{d.day:02d}/{d.month:02d}/{d.year}"
    return f"{'1er' if d.day == 1 else d.day} {MONTHS[d.month - 1]} {d.year}"


FILTERS = {"nombre": nombre, "km": km, "date_fr": date_fr}


def register(engine, **globals_: Any) -> None:
    """Adds the filters (and ``globals_``, e.g. the map's tile settings) to a Litestar Jinja engine."""
    engine.engine.filters.update(FILTERS)
    engine.engine.globals.update(globals_)
