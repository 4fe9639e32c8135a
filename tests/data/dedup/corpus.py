"""Generator of realistic multi-partner republications, with near misses, in two splits.

    .venv/bin/python -m tests.data.dedup.corpus          # writes dev.jsonl here
    .venv/bin/python -m tests.data.dedup.corpus test --refreeze   # the frozen test split: never, unless on purpose

A project is published by one to four partners; each rewrites it its own way: the title
decorated (subtitle, holder clause, town, prefix, category, upper case, apostrophes, accents
lost), the place written differently (arrondissement as "Lyon 7e", "Lyon VIIe" or "69007 Lyon",
a misspelt town, the town with its postcode, a postcode only, a street address only,
coordinates), the description rewritten from the same facts, contact fields kept or dropped.
Every record goes through the real offline geocoder, as in production. Near misses are
projects that must stay apart from a twin: the same name in another town (far or near), the
same name in two homonymous communes, the same holder (and contact) with another project, and a
partner's template ("Ressourcerie numérique de Brest" / "… de Dijon") in another town.

The ``dev`` split uses :data:`vocab.DEV`, seed 1 and the towns not held out; the frozen
``test`` split uses :data:`vocab.TEST` (other partners, names, templates), seed 2 and the
held-out towns. ``test.jsonl`` is committed and never regenerated while tuning.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from unidecode import unidecode

from libs.contracts.events import NormalizedProject
from services.geocoder.domain import geocode, haversine_km
from services.geocoder.gazetteer import Commune, default_gazetteer
from tests.data.dedup.vocab import DEV, TEST, Vocab

HERE = Path(__file__).parent
SPLITS = {"dev": (DEV, 1, 1100), "test": (TEST, 2, 1100)}
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV", "XVI",
         "XVII", "XVIII", "XIX", "XX")


def held_out(key: str) -> bool:
    """A quarter of the towns (and homonymous names) belong to the test split only."""
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % 4 == 0


def typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 2)
    if rng.random() < 0.5:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + word[i + 1:]


class Towns:
    def __init__(self, split: str) -> None:
        test = split == "test"
        gaz = default_gazetteer()
        self.gaz = gaz
        coms = [c for c in gaz if c.kind == "COM" and c.lat is not None and c.postcodes and c.precision == "commune"]
        by_name: dict[str, list[Commune]] = {}
        for c in coms:
            if c.population >= 1500:
                by_name.setdefault(c.name, []).append(c)
        self.homonyms = sorted(
            (tuple(cs) for name, cs in by_name.items()
             if len({c.departement for c in cs}) > 1 and held_out("h:" + name) == test), key=lambda cs: cs[0].code)
        homonymous = {c.code for cs in self.homonyms for c in cs} | {
            c.code for cs in by_name.values() if len(cs) > 1 for c in cs}
        self.towns = [c for c in coms if c.population >= 4000 and held_out(c.code) == test
                      and c.code not in homonymous]
        self.arrondissements = [c for c in gaz if c.kind == "ARM" and c.postcodes]
        self.grid: dict[tuple[int, int], list[Commune]] = {}
        for c in coms:
            if c.population >= 1000 and c.code not in homonymous:
                self.grid.setdefault((int(c.lat * 4), int(c.lon * 3)), []).append(c)

    def pick(self, rng: random.Random) -> Commune:
        return rng.choice(self.arrondissements) if rng.random() < 0.12 else rng.choice(self.towns)

    def near(self, c: Commune, rng: random.Random, lo: float, hi: float) -> Commune | None:
        gi, gj = int(c.lat * 4), int(c.lon * 3)
        around = [o for di in (-1, 0, 1) for dj in (-1, 0, 1) for o in self.grid.get((gi + di, gj + dj), [])
                  if o.code != c.code and o.code != c.parent and lo <= haversine_km(c.lat, c.lon, o.lat, o.lon) <= hi]
        return rng.choice(sorted(around, key=lambda o: o.code)) if around else None

    def name(self, c: Commune) -> str:
        """How a title names the town: the city for an arrondissement."""
        return self.gaz.by_code(c.parent).name if c.parent else c.name


def place(c: Commune, towns: Towns, vocab: Vocab, rng: random.Random, need_postcode: bool) -> tuple[dict, str]:
    pc = c.postcodes[0]
    street = f"{rng.randint(1, 120)} {rng.choice(vocab.streets)}"
    jitter = dict(lat=round(c.lat + rng.uniform(-0.004, 0.004), 5), lon=round(c.lon + rng.uniform(-0.004, 0.004), 5))
    if c.parent:
        city = towns.name(c)
        n = int("".join(ch for ch in c.name.split()[-2] if ch.isdigit()))
        options = {"arrondissement": dict(commune=f"{city} {n}{'er' if n == 1 else 'e'}"),
                   "arrondissement_roman": dict(commune=f"{city} {ROMAN[n - 1]}e"),
                   "postcode_town": dict(commune=f"{pc} {city}"),
                   "town_postcode": dict(commune=city, postcode=pc),
                   "address_only": dict(address=f"{street}, {pc} {city}"),
                   "coordinates": dict(commune=city, **jitter)}
    else:
        options = {"town": dict(commune=c.name), "town_postcode": dict(commune=c.name, postcode=pc),
                   "postcode_town": dict(commune=f"{pc} {c.name}"),
                   "address_only": dict(address=f"{street}, {pc} {c.name}"),
                   "address_postcode": dict(address=street, postcode=pc),
                   "coordinates": dict(commune=c.name, postcode=pc, **jitter)}
        if len(c.name) >= 6:
            options["misspelt_town"] = dict(commune=typo(c.name, rng), postcode=pc if rng.random() < 0.5 else None)
        if not need_postcode:
            options["postcode_only"] = dict(postcode=pc)
            options["street_and_town"] = dict(address=f"{street} {c.name}")
    if need_postcode:
        options = {k: v for k, v in options.items() if pc in " ".join(str(x) for x in v.values()) or "lat" in v}
    kind = rng.choice(sorted(options))
    return options[kind], kind


def decorate(title: str, p: dict, vocab: Vocab, rng: random.Random) -> tuple[str, list[str]]:
    if rng.random() < 0.3:
        return title, []
    templates = rng.sample(vocab.titles, k=rng.choice((1, 1, 2)))
    used = []
    # the name's own changes first, the case last
    for tpl in sorted(templates, key=lambda t: (t not in ("{typo}", "{nokind}"), t.startswith("{") and t[1] in "una")):
        if tpl == "{upper}":
            title = title.upper()
        elif tpl == "{noaccent}":
            title = unidecode(title)
        elif tpl == "{typo}":
            words = title.split()
            j = max(range(len(words)), key=lambda k: len(words[k]))
            words[j] = typo(words[j], rng) if len(words[j]) >= 5 else words[j]
            title = " ".join(words)
        elif tpl == "{nokind}":
            kind = p["kind"]
            rest = title[len(kind):].strip()
            title = rest if title.lower().startswith(kind.lower() + " ") and rest[:1].isupper() and " " in rest else title
        elif tpl == "{apostrophe}":
            title = title.replace("'", "’") if "'" in title else title.replace("’", "'")
        else:
            title = tpl.format(t=title, sub=p["subtitle"], holder=p["holder"], town=p["town_name"], kind=p["kind"])
        used.append(tpl)
    return title, used


def project_name(vocab: Vocab, rng: random.Random, kind: str) -> str:
    form = rng.random()
    if form < 0.35:
        return f"{rng.choice(vocab.heads)} {rng.choice(vocab.complements)}"
    if form < 0.55:
        return rng.choice(vocab.heads)
    if form < 0.7:
        return f"{kind[0].upper()}{kind[1:]} {rng.choice(vocab.adjectives)}"
    if form < 0.85:
        return f"{rng.choice(vocab.nouns)} {rng.choice(vocab.audiences)}"
    return f"{kind[0].upper()}{kind[1:]} {rng.choice(vocab.heads)}"


class Generator:
    def __init__(self, split: str) -> None:
        self.vocab, seed, self.n_projects = SPLITS[split]
        self.rng = random.Random(seed)
        self.towns = Towns(split)
        self.records: list[dict] = []
        self.n = 0
        self.cache: dict[tuple, dict] = {}
        self.names: set[tuple[str, str]] = set()  # (name, city) already drawn

    def new_project(self, town: Commune, name: str | None = None, kind: str | None = None, **over) -> dict:
        rng, v = self.rng, self.vocab
        self.n += 1
        kind = kind or rng.choice(v.kinds)
        city = town.parent or town.code
        for _ in range(50):  # two unrelated projects of one name in one town would be indistinguishable
            if name is not None:
                break
            drawn = project_name(v, rng, kind)
            if (unidecode(drawn).lower(), city) not in self.names:
                name = drawn
        name = name or project_name(v, rng, kind)
        self.names.add((unidecode(name).lower(), city))
        head = rng.choice(v.heads)
        slug = "".join(ch for ch in unidecode(name).lower() if ch.isalnum())[:14] or "projet"
        p = dict(cluster=f"p{self.n:05d}", name=name, kind=kind, town=town, town_name=self.towns.name(town),
                 holder=rng.choice(v.holders).format(head=head, head_plain=head.split(" ", 1)[-1],
                                                     town=self.towns.name(town)),
                 subtitle=rng.choice(v.subtitles), year=rng.randint(2005, 2025), activity=rng.choice(v.activities),
                 public=rng.choice(v.publics), email=f"contact@{slug}-{self.n}.fr" if rng.random() < 0.8 else None,
                 phone=f"0{rng.choice('12345')}{rng.randint(10**7, 10**8 - 1)}" if rng.random() < 0.7 else None,
                 website=f"https://www.{slug}-{self.n}.org" if rng.random() < 0.6 else None, near_miss=None)
        p.update(over)
        return p

    def publish(self, p: dict, n: int, need_postcode: bool = False, description: str | None = None,
                sources: list[str] | None = None) -> None:
        rng, v = self.rng, self.vocab
        sources = sources or rng.sample(v.partners, k=n)
        styles = rng.sample(range(len(v.descriptions)), k=min(n, len(v.descriptions)))
        for i, source in enumerate(sources):
            self.n += 1
            title, patterns = decorate(p.get("title") or p["name"], p, v, rng)
            raw, where = place(p["town"], self.towns, v, rng, need_postcode)
            facts = dict(name=p["name"], kind=p["kind"], town=p["town_name"], year=p["year"],
                         activity=p["activity"], public=p["public"], holder=p["holder"])
            desc = description.format(**facts) if description else v.descriptions[styles[i % len(styles)]].format(
                **facts)
            r = dict(cluster=p["cluster"], near_miss=p["near_miss"], patterns=patterns + [where], source=source,
                     source_record_id=f"{source}-{self.n}", url=f"https://{source}.example.org/projets/{self.n}",
                     title=title, description=desc, holder_name=p["holder"] if rng.random() < 0.6 else None,
                     email=p["email"] if rng.random() < 0.5 else None,
                     phone=p["phone"] if rng.random() < 0.4 else None,
                     website=p["website"] if rng.random() < 0.5 else None, raw=raw)
            r.update(self.geocode(raw))
            self.records.append(r)

    def geocode(self, raw: dict) -> dict:
        key = tuple(sorted(raw.items()))
        if key not in self.cache:
            loc = geocode(NormalizedProject(source="gen", source_record_id="0", url="-", title="-", content_hash="-",
                                            **raw), self.towns.gaz)
            self.cache[key] = dict(commune_code=loc.commune_code, commune_name=loc.commune_name,
                                   postcode=loc.postcode, departement_code=loc.departement_code, lat=loc.lat,
                                   lon=loc.lon, precision=loc.precision)
        return self.cache[key]

    def count(self) -> int:
        return self.rng.choices((1, 2, 3, 4), weights=(42, 35, 17, 6))[0]

    def build(self) -> list[dict]:
        rng, towns = self.rng, self.towns
        base = []
        for _ in range(self.n_projects):
            p = self.new_project(towns.pick(rng))
            base.append(p)
            self.publish(p, self.count())
        twins = rng.sample(base, k=len(base) // 5)
        for i, p in enumerate(twins):
            kind = ("other_town", "same_holder", "template")[i % 3]
            tag = f"{kind}:{p['cluster']}"
            if kind != "template":
                p["near_miss"] = tag  # its records were published already: mark them
                for r in self.records:
                    if r["cluster"] == p["cluster"]:
                        r["near_miss"] = tag
            if kind == "other_town":
                far = rng.random() < 0.6
                town = towns.pick(rng) if far else towns.near(p["town"], rng, 5, 30) or towns.pick(rng)
                q = self.new_project(town, name=p["name"], kind=p["kind"], near_miss=tag)
                self.publish(q, rng.choice((1, 2)))
            elif kind == "same_holder":
                q = self.new_project(p["town"], holder=p["holder"], email=p["email"], phone=p["phone"],
                                     website=p["website"], kind=rng.choice((p["kind"], rng.choice(self.vocab.kinds))),
                                     near_miss=tag)
                self.publish(q, rng.choice((1, 2)))
            else:
                far = rng.random() < 0.7
                town = towns.pick(rng) if far else towns.near(p["town"], rng, 5, 30) or towns.pick(rng)
                adjective = rng.choice(self.vocab.adjectives).lower()
                template = rng.choice(self.vocab.descriptions)
                pair = [self.new_project(t, name=f"{p['kind'][0].upper()}{p['kind'][1:]} {adjective}",
                                         kind=p["kind"], near_miss=tag) for t in (p["town"], town)]
                one, other = rng.sample(self.vocab.partners, k=2)
                for q, source in zip(pair, (one, other)):
                    q["title"] = f"{q['name']} de {q['town_name']}"
                    self.publish(q, 1, description=template, sources=[source])
        for _ in range(max(20, self.n_projects // 25)):  # the same name in two homonymous communes
            cs = rng.choice(towns.homonyms)
            a, b = rng.sample(list(cs), k=2)
            first = self.new_project(a)
            tag = f"homonym:{first['cluster']}"
            first["near_miss"] = tag
            second = self.new_project(b, name=first["name"], kind=first["kind"], near_miss=tag)
            for q in (first, second):
                self.publish(q, rng.choice((1, 2)), need_postcode=True)
        return self.records


def write(split: str, refreeze: bool = False) -> Path:
    """Write a split. The frozen test split is never overwritten unless asked (``--refreeze``)."""
    out = HERE / f"{split}.jsonl"
    if split == "test" and out.exists() and not refreeze:
        raise SystemExit(f"{out} is frozen: regenerate it only on purpose (--refreeze), and say so in docs/dedup.md")
    rows = Generator(split).build()
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return out


if __name__ == "__main__":
    import sys

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    for s in args or ["dev"]:
        print(write(s, refreeze="--refreeze" in sys.argv))
