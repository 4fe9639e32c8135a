#!/usr/bin/env python3
"""Generate ``generated.csv``: messy variants of real commune names with their INSEE code.

Deterministic (seeded). Communes are drawn from the gazetteer at random (all zones, weighted
towards populated ones, since those are the ones projects are in); each gets one perturbation:
upper/lower case, accents dropped, "Saint" → "St", hyphens → spaces, article moved to the end
"(Le)", postcode before or after, département number in parentheses, "Ville de …", "CEDEX",
a street address, one typo (a letter dropped, doubled or swapped) with a département hint.
Names shared by several communes always get a postcode or département hint, so the expected
answer is well defined. Run from the repository root:

    .venv/bin/python tests/data/geocoding/generate.py
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from unidecode import unidecode

from services.geocoder.gazetteer import default_gazetteer

OUT = Path(__file__).parent / "generated.csv"
N = 400
SEED = 20261126


def typo(rng: random.Random, s: str) -> str:
    letters = [i for i, ch in enumerate(s) if ch.isalpha()]
    i = rng.choice(letters[1:-1] or letters)
    kind = rng.choice(("drop", "double", "swap"))
    if kind == "drop":
        return s[:i] + s[i + 1:]
    if kind == "double":
        return s[:i] + s[i] + s[i:]
    j = i + 1 if i + 1 < len(s) and s[i + 1].isalpha() else i - 1
    a, b = sorted((i, j))
    return s[:a] + s[b] + s[a] + s[b + 1:]


def main() -> int:
    gaz = default_gazetteer()
    rng = random.Random(SEED)
    communes = [c for c in gaz if c.kind == "COM" and c.postcodes and c.zone != "com"]
    big = [c for c in communes if c.population >= 5000]
    rows = []
    seen = set()
    while len(rows) < N:
        c = rng.choice(big if rng.random() < 0.6 else communes)
        if c.code in seen:
            continue
        seen.add(c.code)
        homonyms = [h for h in gaz.by_name(c.name) if h.kind == "COM"]
        pc = rng.choice(c.postcodes)
        name = c.name
        variant = rng.choice((
            "upper", "lower", "noaccent", "st", "spaces", "article", "pc_before", "pc_after",
            "dep_paren", "ville_de", "cedex", "address", "typo", "typo", "field_pc",
        ))
        postcode = ""
        if variant == "upper":
            text = name.upper()
        elif variant == "lower":
            text = name.lower()
        elif variant == "noaccent":
            text = unidecode(name)
        elif variant == "st":
            text = name.replace("Saint-", "St ").replace("Sainte-", "Ste ").replace("Saint ", "St-")
        elif variant == "spaces":
            text = name.replace("-", " ").replace("'", " ")
        elif variant == "article":
            for art in ("Le ", "La ", "Les ", "L'"):
                if name.startswith(art):
                    text = f"{name[len(art):]} ({art.strip()})"
                    break
            else:
                text = unidecode(name).upper()
        elif variant == "pc_before":
            text = f"{pc} {name}"
        elif variant == "pc_after":
            text = f"{name.upper()} {pc}"
        elif variant == "dep_paren":
            text = f"{name} ({c.departement})"
        elif variant == "ville_de":
            text = f"Ville de {name}" if name[0] not in "AEIOUYÉÈ" else f"Mairie d'{name}"
        elif variant == "cedex":
            text = f"{name.upper()} CEDEX {rng.randint(1, 9)}"
            postcode = pc
        elif variant == "address":
            text = f"{rng.randint(1, 120)} {rng.choice(('rue', 'avenue', 'place', 'chemin'))} de la {rng.choice(('Gare', 'Mairie', 'Liberté', 'République'))}, {pc} {name}"
        elif variant == "typo":
            text = f"{typo(rng, name)} ({c.departement})" if len(name) >= 6 else f"{pc} {typo(rng, name)}"
        else:  # field_pc
            text, postcode = unidecode(name).upper(), pc
        needs_hint = len(homonyms) > 1 and variant in ("upper", "lower", "noaccent", "st", "spaces", "article", "ville_de")
        if needs_hint:
            postcode = pc
        rows.append({"text": text, "postcode": postcode, "expected": c.code, "note": f"generated:{variant}"})
    with open(OUT, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["text", "postcode", "expected", "note"], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
