"""Builds the labelled deduplication set ``records.jsonl`` (reproducible: fixed seed).

    .venv/bin/python tests/data/dedup/build_set.py

Every line is one partner record with its true ``cluster``. Duplicates use the variants French
partners really produce: "Association X" vs "X", abbreviations (St/Saint, intergén.), plural and
accent/case differences, reordered words, the town added to the title, typos, each partner's own
wording of the description, phones in three formats, a département only instead of the commune.
Near misses that must stay apart: the same name in two towns, the same kind of project with
another name in the same town, a network sharing one website across towns, one partner
publishing two antennas of one name, generic titles with different holders.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from services.geocoder.gazetteer import default_gazetteer

HERE = Path(__file__).parent
SOURCES = ["avise", "la-fonda", "unccas", "cerdd", "fej", "social-planet", "esspace", "odas-apriles"]
KINDS = ["Jardin partagé", "Épicerie solidaire", "Repair café", "Ressourcerie", "Tiers-lieu", "Atelier vélo",
         "Garage solidaire", "Café associatif", "Fablab", "Colocation intergénérationnelle", "Recyclerie",
         "Conciergerie solidaire", "Halte-répit", "Maison des aidants", "Cuisine partagée", "Bricothèque",
         "Friperie solidaire", "Accorderie", "Boutique solidaire", "Ferme urbaine"]
NAMES = ["Les Lilas", "La Passerelle", "Le Moulin", "Bel Air", "La Fabrique", "Les Petits Pas", "Le Chaudron",
         "La Ruche", "Les Coquelicots", "L'Escale", "Le Relais", "La Boussole", "Les Tilleuls", "Le Phare",
         "La Clé des champs", "Les Abeilles", "Le Grenier", "La Source", "Les Alizés", "Le Trait d'union",
         "La Main tendue", "Les Saules", "Le Cerisier", "La Tisserie", "Saint-Roch", "Sainte-Anne",
         "Le Fil rouge", "La Roue libre", "Les Glaneurs", "Le Bocal", "La Guinguette", "Les Jardins d'Émile",
         "Le Comptoir", "La Caravane", "Les Possibles", "L'Envol", "La Ribambelle", "Le Colibri",
         "Les Mille Pattes", "La Marmite", "Le Carillon", "La Boîte à outils", "Les Semeurs", "Le Radeau",
         "La Pépinière", "L'Atelier du coin", "Le Tremplin", "La Cordée", "Les Écureuils", "Le Nid"]
DESC = [
    "{kind} {name} est né à {commune} en {year} à l'initiative d'habitants. Il propose {activity} et "
    "accueille chaque semaine une cinquantaine de personnes.",
    "À {commune}, l'association {name} fait vivre un projet de {kind_l} : {activity}. Bénévoles et "
    "salariés en insertion y travaillent ensemble depuis {year}.",
    "Projet {kind_l} porté par {holder} ({commune}). Objectifs : {activity}, lutte contre l'isolement, "
    "lien social entre générations. Ouvert à tous.",
    "Depuis {year}, {name} anime à {commune} {activity}. Le lieu s'appuie sur un réseau de partenaires "
    "locaux (CCAS, centre social, bailleurs).",
]
ACTIVITIES = ["des ateliers de réparation et de réemploi", "des paniers de produits frais à petit prix",
              "des permanences d'accompagnement numérique", "des chantiers participatifs",
              "des jardins cultivés collectivement", "des repas partagés et des animations",
              "des prêts d'outils et de vélos", "des formations et du mentorat"]


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:] if rng.random() < 0.5 else word[:i] + word[i + 1:]


def variant(title: str, kind: str, name: str, commune: str, rng: random.Random) -> str:
    ops = rng.sample(["asso", "reorder", "town", "abbr", "case", "typo", "plural", "none"], k=rng.choice([1, 1, 2]))
    t = title
    for op in ops:
        if op == "asso" and not t.lower().startswith("association"):
            t = f"Association {t}"
        elif op == "reorder":
            t = f"{name} – {kind.lower()}" if rng.random() < 0.5 else f"{name}, {kind.lower()} de {commune}"
        elif op == "town" and commune.lower() not in t.lower():
            t = f"{t} ({commune})" if rng.random() < 0.5 else f"{t} à {commune}"
        elif op == "abbr":
            t = (t.replace("Saint-", "St-").replace("Sainte-", "Ste-").replace("intergénérationnelle", "intergén.")
                 .replace("Association", "Asso."))
        elif op == "case":
            t = t.upper() if rng.random() < 0.5 else t.lower()
        elif op == "typo":
            words = t.split()
            j = max(range(len(words)), key=lambda k: len(words[k]))
            words[j] = typo(words[j], rng)
            t = " ".join(words)
        elif op == "plural":
            t = t.replace("Jardin partagé", "Jardins partagés").replace("Atelier", "Ateliers")
    return t


def phone_format(digits: str, rng: random.Random) -> str:
    pairs = [digits[i:i + 2] for i in range(0, 10, 2)]
    return rng.choice([" ".join(pairs), "+33 " + digits[1] + " " + " ".join(pairs[1:]), digits, ".".join(pairs)])


def build(seed: int = 5) -> list[dict]:
    rng = random.Random(seed)
    communes = [c for c in default_gazetteer() if c.kind == "COM" and c.lat is not None and c.population > 15000]
    rng.shuffle(communes)
    towns = communes[:45]
    records: list[dict] = []
    counter = {"n": 0}
    used_titles: set[tuple[str, str]] = set()

    def project(kind: str, name: str, town, holder: str | None = None, website: str | None = None) -> dict:
        n = counter["n"] = counter["n"] + 1
        slug = "".join(ch for ch in name.lower() if ch.isalpha())[:12] or "projet"
        return dict(
            kind=kind, name=name, town=town, year=rng.randint(2008, 2024), activity=rng.choice(ACTIVITIES),
            holder=holder or rng.choice([f"Association {name}", name, f"Collectif {name}", f"{name} SCIC"]),
            email=f"contact@{slug}{n}.fr" if rng.random() < 0.8 else f"{slug}.{n}@gmail.com",
            phone=f"0{rng.choice('12345')}{rng.randint(10**7, 10**8 - 1)}",
            website=website or (f"https://www.{slug}-{n}.org" if rng.random() < 0.7 else None),
            lat=town.lat + rng.uniform(-0.02, 0.02), lon=town.lon + rng.uniform(-0.02, 0.02),
        )

    def record(p: dict, cluster: str, source: str, title: str, first: bool) -> dict:
        counter["n"] += 1
        town = p["town"]
        desc_t = rng.choice(DESC)
        desc = desc_t.format(kind=p["kind"], kind_l=p["kind"].lower(), name=p["name"], commune=town.name,
                             year=p["year"], activity=p["activity"], holder=p["holder"])
        r = dict(cluster=cluster, source=source, source_record_id=f"{source}-{counter['n']}",
                 url=f"https://{source}.example.org/projets/{counter['n']}", title=title, description=desc,
                 holder_name=None, email=None, phone=None, website=None,
                 commune_code=town.code, commune_name=town.name, postcode=town.postcodes[0] if town.postcodes else None,
                 departement_code=town.departement, lat=town.lat, lon=town.lon, precision="commune")
        if rng.random() < 0.6:
            r["holder_name"] = p["holder"] if rng.random() < 0.7 else p["holder"].replace("Association ", "")
        if rng.random() < 0.5:
            r["email"] = p["email"]
        if rng.random() < 0.4:
            r["phone"] = phone_format(p["phone"], rng)
        if p["website"] and rng.random() < 0.6:
            r["website"] = p["website"] if rng.random() < 0.7 else p["website"].replace("https://www.", "http://")
        if rng.random() < 0.3:
            r.update(lat=round(p["lat"] + rng.uniform(-0.001, 0.001), 5),
                     lon=round(p["lon"] + rng.uniform(-0.001, 0.001), 5), precision="coordinates")
        elif not first and rng.random() < 0.1:  # this partner gave only a postcode: département precision
            r.update(commune_code=None, commune_name=None, lat=None, lon=None, precision="departement")
        return r

    def title_of(kind: str, name: str, town) -> str:
        return rng.choice([f"{kind} {name}", f"{kind} {name}", f"{name}", f"{kind} {name} de {town.name}"])

    # 1. true clusters: 1 to 4 partners each
    for i in range(130):
        kind, name, town = rng.choice(KINDS), rng.choice(NAMES), rng.choice(towns)
        if (kind, name) in used_titles:
            continue
        used_titles.add((kind, name))
        p = project(kind, name, town)
        base = title_of(kind, name, town)
        k = rng.choices([1, 2, 3, 4], weights=[30, 42, 22, 6])[0]
        for j, source in enumerate(rng.sample(SOURCES, k)):
            t = base if j == 0 else variant(base, kind, name, town.name, rng)
            records.append(record(p, f"c{i:03d}", source, t, j == 0))

    # 2. near misses, each its own cluster
    nm = 0

    def alone(p, title, source=None):
        nonlocal nm
        nm += 1
        records.append(record(p, f"n{nm:03d}", source or rng.choice(SOURCES), title, True))

    for _ in range(22):  # the same name in two towns
        kind, name = rng.choice(KINDS), rng.choice(NAMES)
        t1, t2 = rng.sample(towns, 2)
        for town in (t1, t2):
            alone(project(kind, name, town), f"{kind} {name}")
    for _ in range(18):  # the same kind of project, another name, in the same town
        kind, town = rng.choice(KINDS), rng.choice(towns)
        n1, n2 = rng.sample(NAMES, 2)
        alone(project(kind, n1, town), f"{kind} {n1}")
        alone(project(kind, n2, town), f"{kind} {n2}")
    for _ in range(8):  # a network with one website, in several towns
        kind = rng.choice(["Repair café", "Accorderie", "Atelier vélo"])
        site = f"https://www.reseau-{kind.lower().replace(' ', '').replace('é', 'e')}.org"
        for town in rng.sample(towns, 2):
            alone(project(kind, town.name, town, website=site), f"{kind} {town.name}")
    for _ in range(8):  # one partner, two antennas of one name in one town
        kind, name, town = rng.choice(KINDS), rng.choice(NAMES), rng.choice(towns)
        source = rng.choice(SOURCES)
        p = project(kind, name, town)
        alone(p, f"{kind} {name}", source)
        alone(project(kind, name, town), f"{kind} {name}", source)
    for _ in range(6):  # generic titles, different holders, same town
        kind, town = rng.choice(KINDS), rng.choice(towns)
        for h in rng.sample(NAMES, 2):
            p = project(kind, h, town, holder=f"Association {h}")
            nm += 1
            r = record(p, f"n{nm:03d}", rng.choice(SOURCES), kind, True)
            r["holder_name"] = p["holder"]
            records.append(r)
    return records


if __name__ == "__main__":
    rows = build()
    with open(HERE / "records.jsonl", "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    clusters = {r["cluster"] for r in rows}
    print(f"{len(rows)} records, {len(clusters)} clusters")
