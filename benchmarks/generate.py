"""A generator of realistic French social-innovation projects, with duplicates across sources."""

from __future__ import annotations

import random

from libs.contracts.events import PartnerRecord
from services.geocoder.gazetteer import default_gazetteer

KINDS = [
    ("Jardin partagé", ["Jardins partagés", "Alimentation durable"], "Association"),
    ("Épicerie solidaire", ["Épicerie sociale", "Précarité alimentaire"], "Association"),
    ("Fablab mobile", ["Numérique", "Jeunesse"], "Association"),
    ("Garage solidaire", ["Mobilité", "Insertion"], "Entreprise sociale"),
    ("Ressourcerie", ["Réemploi", "Économie circulaire"], "SCIC"),
    ("Colocation intergénérationnelle", ["Habitat partagé", "Seniors"], "Association"),
    ("Tiers-lieu", ["Tiers-lieu", "ESS"], "Collectif"),
    ("Troc de graines", ["Semences", "Biodiversité"], "Collectif"),
    ("Atelier vélo", ["Mobilité douce", "Réparation"], "Association"),
    ("Centrale villageoise", ["Énergie citoyenne"], "SCIC"),
]
STAGES = ["Idée", "Expérimentation", "En développement", "Essaimage", "Projet terminé"]
SOURCES = ["avise", "la-fonda", "unccas", "cerdd", "fej", "social-planet", "esspace", "odas-apriles"]


def generate(n: int, duplicate_rate: float = 0.1, seed: int = 42) -> list[PartnerRecord]:
    """``n`` records; about ``duplicate_rate`` of them republish an earlier project from another source."""
    rng = random.Random(seed)
    communes = [c for c in default_gazetteer() if c.kind == "COM" and c.lat is not None and c.population > 2000]
    records: list[PartnerRecord] = []
    for i in range(n):
        if records and rng.random() < duplicate_rate:
            base = rng.choice(records)
            source = rng.choice([s for s in SOURCES if s != base.source])
            records.append(base.model_copy(update={"source": source, "source_record_id": f"{source}-{i}",
                                                   "url": f"https://{source}.example.org/projets/{i}",
                                                   "description": (base.description or "") + " Vu aussi ailleurs."}))
            continue
        kind, themes, holder = rng.choice(KINDS)
        commune = rng.choice(communes)
        source = rng.choice(SOURCES)
        title = f"{kind} {commune.name} n°{i}"
        records.append(PartnerRecord(
            source=source, source_record_id=f"{source}-{i}", url=f"https://{source}.example.org/projets/{i}",
            title=title,
            description=f"<p>{kind} porté par des habitants de {commune.name}. Le projet {i} favorise "
                        f"le lien social et l'entraide &amp; accompagne les publics fragiles.</p>",
            commune=commune.name, postcode=commune.postcodes[0] if commune.postcodes else None, country="France",
            themes=themes, stage=rng.choice(STAGES), holder={"name": f"Collectif {i}", "kind": holder},
            contact={"email": f"contact{i}@exemple.org"},
        ))
    return records
