"""Visitor queries with their expected projects, over ``corpus.jsonl``.

    .venv/bin/python -m tests.data.search.build_set dev    # rewrites dev.jsonl (the tuning split)
    .venv/bin/python -m tests.data.search.build_set test   # rewrites test.jsonl: DO NOT (frozen, committed)

Each query is written as a visitor types it, from one project of the corpus (its *target*), by
one of the variations below, and lists the projects a visitor would accept: the target, plus
the projects indistinguishable from it for that query (same title, or — for a query naming a
kind of project and a commune — every project of that kind in that commune).

dev (seed 11) uses the variations the search was designed and tuned on: the title as typed
(lower case, accents or not), title words + commune, a partner's decoration of the title
("Projet « … »", "…, porté par …", "… (commune)", "… - département"), a sentence with words the
project does not use ("projet de … pour les … à …"), one typo, another name of the kind + commune,
the project's proper name + commune, the words shuffled with noise ("2024", "association").

test (seed 29, frozen: generated once, never used for tuning, only its figures are printed)
draws the same variations and adds five the code was not designed around: shouting with
punctuation ("JARDIN PARTAGÉ DES LILAS – ROUBAIX (59)"), abbreviations ("asso", "st", "ste"),
plurals ("jardins partagés à …"), glued words ("saintjean", "tierslieu"), two typos at once, and
the project described by what it does rather than named ("réparer son vélo à Lyon").
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

from libs.contracts.search import fold
from tests.data.search.corpus import KINDS, load

HERE = Path(__file__).parent
SPLITS = {"dev": (HERE / "dev.jsonl", 11, 400), "test": (HERE / "test.jsonl", 29, 400)}
NEAR_KEYS = {c: n for row in ("azertyuiop", "qsdfghjklm", "wxcvbn") for c, n in zip(row, row[1:] + row[-2])}
WHO_WORDS = ["les étudiants", "les jeunes", "les familles", "les seniors", "les enfants", "tous", "les habitants",
             "les personnes isolées", "les chômeurs"]
VERBS = {  # test split: what a project does, as a visitor says it
    "atelier-velo": "réparer son vélo", "repair-cafe": "réparer ses objets", "aide-devoirs": "soutien scolaire",
    "covoiturage": "trajets partagés en voiture", "compostage": "composter ses déchets",
    "grainotheque": "échanger des graines", "outilotheque": "emprunter des outils", "amap": "paniers de légumes bio",
    "mediation-numerique": "aide aux démarches en ligne", "boutique-solidaire": "vêtements de seconde main",
    "centrale-villageoise": "panneaux solaires citoyens", "ludotheque": "prêt de jeux de société",
    "visites-seniors": "visites aux personnes âgées isolées", "creche": "garde des tout-petits",
}


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(["swap", "drop", "double", "near"])
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "drop":
        return word[:i] + word[i + 1:]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + NEAR_KEYS.get(word[i], word[i]) + word[i + 1:]


def casual(text: str, rng: random.Random) -> str:
    """As visitors type: lower case, often without accents."""
    text = text.lower()
    return fold(text) if rng.random() < 0.5 else text


def words(text: str) -> list[str]:
    return re.findall(r"[\wÀ-ÿ'-]+", text)


class Builder:
    def __init__(self, rows: list[dict], rng: random.Random):
        self.rows, self.rng = rows, rng
        self.by_id = {r["id"]: r for r in rows}
        self.by_title: dict[str, set[str]] = defaultdict(set)
        self.by_kind_commune: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.by_name_commune: dict[tuple[str, str], set[str]] = defaultdict(set)
        for r in rows:
            self.by_title[fold(r["title"])].add(r["id"])
            self.by_kind_commune[(r["kind"], r["commune_code"])].add(r["id"])
            if r["name"] in r["title"] or r["name"] in r["holder_name"] or r["name"] in r["description"]:
                self.by_name_commune[(r["name"], r["commune_code"])].add(r["id"])

    def same_title(self, r: dict) -> set[str]:
        return self.by_title[fold(r["title"])] | {r["id"]}

    def same_title_here(self, r: dict) -> set[str]:
        return {i for i in self.same_title(r)
                if self.by_id[i]["commune_code"] == r["commune_code"]}

    def kind_here(self, r: dict) -> set[str]:
        return self.by_kind_commune[(r["kind"], r["commune_code"])]

    # ------------------------------------------------------------------ variations (dev and test)

    def title(self, r):
        return casual(r["title"], self.rng), self.same_title(r)

    def title_commune(self, r):
        kept = [w for w in words(r["title"]) if fold(w) not in fold(r["commune_name"]).split()]
        return casual(" ".join(kept) + " " + r["commune_name"], self.rng), self.same_title_here(r)

    def decorated(self, r):
        form = self.rng.choice(["Projet « {title} »", "{title}, porté par {holder}", "{title} ({commune})",
                                "{title} - {departement}", "« {title} » - projet soutenu"])
        q = form.format(title=r["title"], holder=r["holder_name"], commune=r["commune_name"],
                        departement=r["departement_name"])
        return q, self.same_title_here(r) if "{commune}" in form or "{holder}" in form else self.same_title(r)

    def sentence(self, r):
        label = self.rng.choice(KINDS[r["kind"]][0])
        q = f"projet {self.rng.choice(['de', 'd', ''])} {label} pour {self.rng.choice(WHO_WORDS)} à {r['commune_name']}"
        return casual(q.replace("  ", " "), self.rng), self.kind_here(r)

    def one_typo(self, r):
        ws = words(r["title"])
        long = [i for i, w in enumerate(ws) if len(w) >= 5]
        if not long:
            return None
        i = self.rng.choice(long)
        ws[i] = typo(fold(ws[i]), self.rng)
        return casual(" ".join(ws), self.rng), self.same_title(r)

    def other_name(self, r):
        label = self.rng.choice(list(KINDS[r["kind"]][0]))
        return casual(f"{label} {r['commune_name']}", self.rng), self.kind_here(r)

    def proper_name(self, r):
        found = self.by_name_commune.get((r["name"], r["commune_code"]))
        if not found or r["id"] not in found:
            return None
        return casual(f"{r['name']} {r['commune_name']}", self.rng), found

    def noisy(self, r):
        ws = words(r["title"])
        self.rng.shuffle(ws)
        ws.insert(self.rng.randrange(len(ws) + 1), self.rng.choice(["2024", "association", "projet", "asso 2023"]))
        return casual(" ".join(ws), self.rng), self.same_title(r)

    # ------------------------------------------------------------------ test only

    def shouting(self, r):
        return f"{r['title'].upper()} – {r['commune_name'].upper()} ({r['departement_code']})", self.same_title_here(r)

    def abbreviations(self, r):
        q = f"{r['title']} {r['commune_name']}"
        q2 = re.sub(r"\bSaint\b", "St", re.sub(r"\bSainte\b", "Ste", q))
        q2 = re.sub(r"\bAssociation\b", "asso", q2)
        if q2 == q:
            q2 = f"asso {q}"
        return casual(q2, self.rng), self.same_title_here(r)

    def plural(self, r):
        label = KINDS[r["kind"]][0][0]
        plural = " ".join(w if len(w) < 4 or w.endswith(("s", "x")) else w + "s" for w in label.split())
        return casual(f"{plural} à {r['commune_name']}", self.rng), self.kind_here(r)

    def glued(self, r):
        q = f"{r['title']} {r['commune_name']}"
        q2 = re.sub(r"(\w)[-'](\w)", r"\1\2", q)
        if q2 == q:
            return None
        return casual(q2, self.rng), self.same_title_here(r)

    def two_typos(self, r):
        ws = words(r["title"]) + [r["commune_name"]]
        long = [i for i, w in enumerate(ws) if len(w) >= 5]
        if len(long) < 2:
            return None
        for i in self.rng.sample(long, 2):
            ws[i] = typo(fold(ws[i]), self.rng)
        return " ".join(ws).lower(), self.same_title_here(r)

    def described(self, r):
        if r["kind"] not in VERBS:
            return None
        return casual(f"{VERBS[r['kind']]} {self.rng.choice(['à', 'sur', ''])} {r['commune_name']}", self.rng), \
            self.kind_here(r)


DEV = ["title", "title_commune", "decorated", "sentence", "one_typo", "other_name", "proper_name", "noisy"]
TEST = DEV + ["shouting", "abbreviations", "plural", "glued", "two_typos", "described"]


def build(split: str) -> list[dict]:
    path, seed, size = SPLITS[split]
    rng = random.Random(seed)
    rows = load()
    builder = Builder(rows, rng)
    variations = DEV if split == "dev" else TEST
    out, seen = [], set()
    while len(out) < size:
        r = rng.choice(rows)
        variation = variations[len(out) % len(variations)]
        made = getattr(builder, variation)(r)
        if made is None:
            continue
        q, expected = made
        q = " ".join(q.split())
        if (q, variation) in seen or not expected:
            continue
        seen.add((q, variation))
        out.append({"q": q, "expected": sorted(expected), "target": r["id"], "variation": variation})
    return out


def write(split: str) -> None:
    path = SPLITS[split][0]
    rows = build(split)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} queries to {path}")


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else "dev")
