"""A generated corpus of French social-innovation projects for the search relevance set.

    .venv/bin/python -m tests.data.search.corpus      # rewrites corpus.jsonl (deterministic, seed 2026)

2,000 projects: 34 kinds of project (several ways each to name it), communes drawn from the
gazetteer weighted by population (big cities hold many projects, so "jardin partagé Lille" has
several right answers), proper names and place qualifiers shared across kinds, holders
(associations, centres sociaux, CCAS, collectifs…), descriptions written from a dozen sentence
templates in which "projet" and "association" are as common as in the partners' pages, and
eight partners of very unequal size (the largest publishes a third of the projects; one in ten
projects comes from two partners). The corpus is committed (``corpus.jsonl``) so the frozen
queries keep their meaning if the gazetteer changes.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).parent
CORPUS = HERE / "corpus.jsonl"
SEED = 2026
N_PROJECTS = 2000

# kind: (ways to name it, themes, what it does, who for)
KINDS = {
    "jardin-partage": (["Jardin partagé", "Jardin collectif", "Potager partagé"], ["alimentation", "environnement-dechets"],
                       "des parcelles cultivées ensemble par les habitants, des ateliers de jardinage au naturel",
                       "les habitants du quartier"),
    "epicerie-solidaire": (["Épicerie solidaire", "Épicerie sociale"], ["alimentation", "solidarite-lien-social"],
                           "des produits frais et de première nécessité à petit prix pour les ménages modestes",
                           "les familles en difficulté"),
    "repair-cafe": (["Repair café", "Atelier de réparation"], ["environnement-dechets", "solidarite-lien-social"],
                    "des bénévoles aident à réparer appareils, vêtements et objets plutôt que de les jeter",
                    "tous les habitants"),
    "ressourcerie": (["Ressourcerie", "Recyclerie"], ["environnement-dechets", "emploi-insertion"],
                     "collecte, valorisation et revente d'objets de seconde main, sensibilisation au réemploi",
                     "les personnes éloignées de l'emploi"),
    "fablab": (["Fablab", "Fab lab", "Atelier de fabrication numérique"], ["numerique", "education-jeunesse"],
               "imprimantes 3D, découpe laser et électronique en accès libre, formations au prototypage",
               "les jeunes et les makers"),
    "tiers-lieu": (["Tiers-lieu", "Tiers lieu"], ["economie-locale-ess", "culture"],
                   "un espace partagé de travail, de rencontres et d'activités culturelles ouvert à tous",
                   "les habitants et les entrepreneurs"),
    "atelier-velo": (["Atelier vélo", "Vélo-école", "Atelier d'autoréparation de vélos"], ["mobilite", "environnement-dechets"],
                     "apprendre à réparer et entretenir son vélo, remise en selle des adultes",
                     "les cyclistes débutants"),
    "covoiturage": (["Covoiturage solidaire", "Plateforme de covoiturage"], ["mobilite", "solidarite-lien-social"],
                    "mise en relation de conducteurs bénévoles et de personnes sans voiture pour leurs trajets",
                    "les personnes sans solution de transport"),
    "garage-solidaire": (["Garage solidaire", "Garage associatif"], ["mobilite", "emploi-insertion"],
                         "réparation de voitures à prix réduit et location de véhicules pour aller travailler",
                         "les demandeurs d'emploi"),
    "colocation": (["Colocation intergénérationnelle", "Cohabitation intergénérationnelle"],
                   ["habitat-logement", "seniors-vieillissement"],
                   "un senior accueille un étudiant chez lui contre une présence et de petits services",
                   "les seniors isolés et les étudiants"),
    "habitat-participatif": (["Habitat participatif", "Habitat partagé"], ["habitat-logement", "democratie-citoyennete"],
                             "des familles conçoivent et gèrent ensemble leur immeuble avec des espaces communs",
                             "les futurs habitants"),
    "cafe-associatif": (["Café associatif", "Café citoyen"], ["solidarite-lien-social", "culture"],
                        "un lieu convivial avec concerts, débats et repas partagés tenu par des bénévoles",
                        "les habitants du village"),
    "aide-devoirs": (["Aide aux devoirs", "Accompagnement scolaire"], ["education-jeunesse"],
                     "soutien scolaire gratuit après la classe par des étudiants bénévoles",
                     "les collégiens"),
    "mediation-numerique": (["Médiation numérique", "Atelier numérique"], ["numerique", "seniors-vieillissement"],
                            "initiation aux tablettes, aide aux démarches administratives en ligne",
                            "les personnes âgées"),
    "conciergerie": (["Conciergerie solidaire", "Conciergerie de quartier"], ["emploi-insertion", "economie-locale-ess"],
                     "des services du quotidien rendus par des salariés en insertion",
                     "les salariés et les habitants"),
    "aide-alimentaire": (["Aide alimentaire", "Banque alimentaire", "Distribution alimentaire"],
                         ["alimentation", "solidarite-lien-social"],
                         "collecte et distribution de colis alimentaires, lutte contre la précarité alimentaire",
                         "les personnes en situation de précarité"),
    "cantine-solidaire": (["Cantine solidaire", "Restaurant solidaire"], ["alimentation", "solidarite-lien-social"],
                          "des repas à prix libre cuisinés avec des produits locaux",
                          "les personnes isolées"),
    "centrale-villageoise": (["Centrale villageoise", "Centrale solaire citoyenne"], ["energie", "democratie-citoyennete"],
                             "des panneaux photovoltaïques financés et gérés par les habitants",
                             "les citoyens"),
    "amap": (["AMAP", "Panier paysan"], ["alimentation", "economie-locale-ess"],
             "des paniers de légumes bio livrés chaque semaine par un maraîcher du territoire",
             "les consommateurs"),
    "grainotheque": (["Grainothèque", "Troc de graines"], ["environnement-dechets", "alimentation"],
                     "échange libre de semences paysannes et ateliers de multiplication des graines",
                     "les jardiniers amateurs"),
    "compostage": (["Compostage collectif", "Composteur partagé"], ["environnement-dechets"],
                   "des composteurs de quartier gérés par des référents bénévoles",
                   "les habitants des immeubles"),
    "boutique-solidaire": (["Boutique solidaire", "Vestiboutique"], ["solidarite-lien-social", "environnement-dechets"],
                           "vêtements de seconde main vendus à petits prix",
                           "les familles modestes"),
    "chantier-insertion": (["Chantier d'insertion", "Atelier chantier d'insertion"], ["emploi-insertion"],
                           "des contrats aidés et un accompagnement vers l'emploi durable",
                           "les chômeurs de longue durée"),
    "creche": (["Crèche parentale", "Micro-crèche solidaire"], ["education-jeunesse"],
               "un accueil des tout-petits géré avec les parents, places réservées aux familles monoparentales",
               "les jeunes parents"),
    "repit-aidants": (["Halte répit", "Plateforme de répit des aidants"], ["sante", "seniors-vieillissement"],
                      "un accueil de jour pour permettre aux aidants familiaux de souffler",
                      "les aidants familiaux"),
    "visites-seniors": (["Visites de convivialité", "Réseau de voisins solidaires"], ["seniors-vieillissement",
                                                                                      "solidarite-lien-social"],
                        "des bénévoles rendent visite chaque semaine à des personnes âgées isolées",
                        "les aînés isolés"),
    "maison-sante": (["Maison de santé", "Centre de santé communautaire"], ["sante"],
                     "médecins, infirmiers et travailleurs sociaux réunis pour l'accès aux soins",
                     "les habitants des quartiers prioritaires"),
    "ludotheque": (["Ludothèque", "Ludothèque itinérante"], ["culture", "education-jeunesse"],
                   "prêt de jeux de société et soirées jeux pour petits et grands",
                   "les familles"),
    "web-radio": (["Web radio", "Radio associative"], ["culture", "education-jeunesse"],
                  "des émissions préparées et animées par des adolescents",
                  "les jeunes"),
    "accueil-refugies": (["Accueil des réfugiés", "Hébergement citoyen"], ["solidarite-lien-social", "habitat-logement"],
                         "des familles hébergent des personnes exilées et les accompagnent dans leurs démarches",
                         "les personnes exilées"),
    "outilotheque": (["Outilthèque", "Bricothèque"], ["environnement-dechets", "economie-locale-ess"],
                     "prêt d'outils de bricolage et de jardinage entre voisins",
                     "les bricoleurs"),
    "vrac": (["Épicerie vrac", "Épicerie zéro déchet"], ["environnement-dechets", "alimentation"],
             "des produits sans emballage vendus au poids",
             "les consommateurs"),
    "ferme-urbaine": (["Ferme urbaine", "Micro-ferme"], ["alimentation", "emploi-insertion"],
                      "maraîchage sur les toits et en pied d'immeuble avec des salariés en insertion",
                      "les habitants des cités"),
    "handi-sport": (["Sport adapté", "Handisport pour tous"], ["handicap", "sante"],
                    "des activités sportives adaptées aux personnes en situation de handicap",
                    "les personnes handicapées"),
}
NAMES = ["La Ruche", "Le Panier", "L'Escale", "Les Petites Mains", "Le Chaudron", "La Clé", "Graines de Quartier",
         "Le Relais", "La Fabrique", "Le Fil Rouge", "La Passerelle", "L'Arbre à Palabres", "Les Colibris",
         "Le Grenier", "La Boussole", "Les Mains Vertes", "Le Phare", "La Cabane", "Le Moulin à Paroles",
         "Les Jardins de Cocagne", "La Source", "L'Atelier", "Le Bocal", "Les Ateliers du Bocage", "La Marmite",
         "Le Trait d'Union", "L'Épi", "La Bricole", "Le Nid", "Les Tisserands", "La Guinguette", "Le Carrefour",
         "L'Envol", "La Pépinière", "Les Gais Lurons", "Le Chemin", "La Belle Échappée", "Les Voisineurs",
         "Le Potiron", "La Courte Échelle"]
QUALIFIERS = ["des Lilas", "du Moulin", "de la Gare", "du Centre", "Saint-Jean", "des Trois Ponts", "de la Source",
              "du Vieux Port", "des Coteaux", "de la Croix-Rousse", "du Faubourg", "des Tilleuls", "Bel-Air",
              "de l'Étang", "des Peupliers", "du Marché", "Sainte-Anne", "de la Butte", "des Acacias", "du Plateau"]
HOLDERS = ["Association {name}", "Centre social {qual}", "CCAS de {commune}", "Collectif {name}", "SCIC {name}",
           "Mairie de {commune}", "Les Amis {qual}", "Fondation {name}", "Régie de quartier {qual}"]
HOLDER_TYPES = {"Association": "association", "Centre social": "association", "CCAS": "etablissement-public",
                "Collectif": "collectif-informel", "SCIC": "entreprise-sociale", "Mairie": "collectivite",
                "Les Amis": "association", "Fondation": "fondation", "Régie": "entreprise-sociale"}
SOURCES = [("avise", 0.34), ("la-fonda", 0.22), ("unccas", 0.14), ("cerdd", 0.10), ("fej", 0.08),
           ("social-planet", 0.06), ("esspace", 0.04), ("odas-apriles", 0.02)]
SENTENCES = [
    "Le projet {name} propose {what}.",
    "Porté par {holder}, ce projet s'adresse à {who}.",
    "L'association anime le lieu avec une équipe de bénévoles et un salarié.",
    "Le projet est né en {year} à l'initiative d'habitants de {commune}.",
    "Les activités ont lieu toute l'année ; le projet cherche de nouveaux partenaires.",
    "Ce projet favorise le lien social et l'entraide entre les générations.",
    "L'association {name} s'appuie sur un réseau de partenaires locaux.",
    "Un projet qui change le quotidien de {who} à {commune}.",
    "Soutenu par la commune, le projet a reçu un prix de l'innovation sociale.",
    "Les bénévoles de l'association accueillent le public deux jours par semaine.",
    "Objectif : {what}.",
    "Après une phase d'expérimentation, le projet essaime dans d'autres quartiers.",
]


def _communes(rng: random.Random):
    from services.geocoder.gazetteer import default_gazetteer

    communes = [c for c in default_gazetteer() if c.kind == "COM" and c.lat is not None and c.zone == "metro"]
    weights = [max(c.population, 200) ** 0.8 for c in communes]
    return communes, weights


def generate(n: int = N_PROJECTS, seed: int = SEED) -> list[dict]:
    rng = random.Random(seed)
    communes, weights = _communes(rng)
    t0 = datetime(2020, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        kind = rng.choice(sorted(KINDS))
        labels, themes, what, who = KINDS[kind]
        label = rng.choice(labels)
        commune = rng.choices(communes, weights=weights)[0]
        name, qual = rng.choice(NAMES), rng.choice(QUALIFIERS)
        pattern = rng.random()
        if pattern < 0.35:
            title = f"{label} {qual}"
        elif pattern < 0.6:
            title = f"{label} « {name} »"
        elif pattern < 0.75:
            title = f"{name} : {label.lower()} à {commune.name}"
        elif pattern < 0.85:
            title = name
        else:
            title = f"{label} de {commune.name}"
        holder_pattern = rng.choice(HOLDERS)
        holder = holder_pattern.format(name=name, qual=qual, commune=commune.name)
        holder_type = next(v for k, v in HOLDER_TYPES.items() if holder.startswith(k))
        sentences = rng.sample(SENTENCES, k=rng.randint(3, 5))
        if title == name or rng.random() < 0.5:  # the kind is always said somewhere
            sentences.insert(0, f"{label} {rng.choice(['à', 'au cœur de', 'dans le quartier de'])} {commune.name}.")
        values = dict(name=name, what=what, holder=holder, who=who, commune=commune.name,
                      year=rng.randint(2012, 2025))
        description = " ".join(s.format(**values) for s in sentences).replace(" de les ", " des ").replace(
            " à les ", " aux ")
        summary = description.split(". ")[0][:200]
        r = rng.random()
        first = next(s for s, w in _cumulative(SOURCES) if r <= w)
        sources = [first] + ([rng.choice([s for s, _ in SOURCES if s != first])] if rng.random() < 0.1 else [])
        out.append({
            "id": f"p{i:04d}", "kind": kind, "label": label, "name": name, "qualifier": qual, "title": title,
            "summary": summary, "description": description, "holder_name": holder, "holder_type": holder_type,
            "themes": themes, "stage": rng.choice(["idee", "experimentation", "developpement", "essaimage", "termine"]),
            "sources": sources, "commune_code": commune.code, "commune_name": commune.name,
            "postcode": commune.postcodes[0] if commune.postcodes else None, "departement_code": commune.departement,
            "departement_name": commune.departement_name, "region_code": commune.region,
            "region_name": commune.region_name, "lat": commune.lat, "lon": commune.lon,
            "first_seen": (t0 + timedelta(hours=rng.randrange(0, 24 * 365 * 6))).isoformat(),
        })
    return out


def _cumulative(weights):
    total = 0.0
    for s, w in weights:
        total += w
        yield s, total if s != weights[-1][0] else 1.0


def load() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def to_project(r: dict):
    """A corpus row as the canonical project the indexer writes."""
    from libs.contracts.events import CanonicalProject, Location, SourceRef

    seen = datetime.fromisoformat(r["first_seen"])
    return CanonicalProject(
        id=r["id"], title=r["title"], summary=r["summary"], description=r["description"], themes=r["themes"],
        stage=r["stage"], holder_name=r["holder_name"], holder_type=r["holder_type"],
        location=Location(commune_code=r["commune_code"], commune_name=r["commune_name"], postcode=r["postcode"],
                          departement_code=r["departement_code"], departement_name=r["departement_name"],
                          region_code=r["region_code"], region_name=r["region_name"], lat=r["lat"], lon=r["lon"],
                          precision="commune", method="gazetteer"),
        sources=[SourceRef(partner=p, record_id=f"{p}-{r['id']}", url=f"https://{p}.example.org/projets/{r['id']}",
                           last_seen=seen) for p in r["sources"]],
        first_seen=seen, updated_at=seen,
    )


def write() -> None:
    rows = generate()
    CORPUS.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} projects to {CORPUS}")


if __name__ == "__main__":
    write()
