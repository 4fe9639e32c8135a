"""Two disjoint vocabularies for the corpus generator: ``DEV`` (the one matching is tuned against)
and ``TEST`` (held out for the frozen test split: other partners, project names, holders,
subtitles, decoration templates, description templates, streets). Nothing in ``TEST`` is read
while tuning; see docs/dedup.md."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Vocab:
    partners: tuple[str, ...]
    heads: tuple[str, ...]  # "La Ruche", "Le Fil"
    complements: tuple[str, ...]  # "des Savoirs"
    kinds: tuple[str, ...]  # a kind of project, also used as a category decoration
    adjectives: tuple[str, ...]  # "Partagée": "Bricothèque Partagée"
    nouns: tuple[str, ...]  # "Vélo": "Vélo Pour Tous"
    audiences: tuple[str, ...]  # "Pour Tous"
    subtitles: tuple[str, ...]
    holders: tuple[str, ...]  # templates: {head}, {town}
    streets: tuple[str, ...]
    activities: tuple[str, ...]
    publics: tuple[str, ...]
    titles: tuple[str, ...]  # decoration templates: {t} title, {sub}, {holder}, {town}, {kind}
    descriptions: tuple[str, ...]  # templates of the facts: {name} {kind} {town} {year} {activity} {public} {holder}


DEV = Vocab(
    partners=("avise-lab", "fonda-pro", "ccas-reseau", "cerdd-obs", "fej-carto", "planet-ess", "esspace-map",
              "apriles-net", "rtes-fiches", "territoires-inno"),
    heads=("La Ruche", "Le Fil", "La Passerelle", "Le Moulin", "La Fabrique", "Les Petits Pas", "Le Chaudron",
           "Les Coquelicots", "L'Escale", "Le Relais", "La Boussole", "Le Phare", "Les Abeilles", "Le Grenier",
           "La Source", "Le Trait d'Union", "La Main Tendue", "Le Cerisier", "La Roue Libre", "Les Glaneurs",
           "Le Bocal", "La Guinguette", "Le Comptoir", "La Caravane", "L'Envol", "La Ribambelle", "Le Colibri",
           "La Marmite", "Le Carillon", "Les Semeurs", "Le Radeau", "La Pépinière", "Le Tremplin", "La Cordée",
           "Le Nid", "L'Arbre à Palabres", "La Boîte à Idées", "Le Pont", "La Clairière", "Les Hirondelles"),
    complements=("des Savoirs", "du Partage", "des Voisins", "de l'Entraide", "des Possibles", "du Quartier",
                 "des Familles", "des Lilas", "d'Émile", "des Anciens", "du Lien", "des Communs"),
    kinds=("ressourcerie", "grainothèque", "repair café", "épicerie solidaire", "tiers-lieu", "atelier vélo",
           "jardin partagé", "bricothèque", "garage solidaire", "cuisine partagée", "friperie", "fablab",
           "café associatif", "halte-répit"),
    adjectives=("Partagée", "Solidaire", "Mobile", "Numérique", "Itinérante", "Participative", "Citoyenne"),
    nouns=("Vélo", "Cuisine", "Jardin", "Musique", "Lecture", "Numérique", "Bricolage", "Sport"),
    audiences=("Pour Tous", "Pour Toutes", "en Partage", "au Quartier", "Ensemble"),
    subtitles=("apprendre entre voisins", "réparer plutôt que jeter", "cultiver la ville", "manger mieux pour moins cher",
               "un lieu pour tous", "l'entraide au quotidien", "du lien entre générations", "bouger ensemble"),
    holders=("Centre social {head_plain}", "Association {head}", "MJC de {town}", "CCAS de {town}",
             "Collectif {head}", "Régie de quartier {town}"),
    streets=("rue de la République", "avenue Jean Jaurès", "rue Victor Hugo", "place de la Mairie",
             "rue Pasteur", "boulevard Gambetta", "rue des Écoles", "chemin du Moulin"),
    activities=("des ateliers de réparation et de réemploi", "des paniers de produits frais à petit prix",
                "des permanences d'accompagnement numérique", "des chantiers participatifs",
                "des jardins cultivés collectivement", "des repas partagés et des animations",
                "des prêts d'outils et de vélos", "des formations et du mentorat"),
    publics=("les habitants du quartier", "les familles", "les personnes âgées isolées", "les jeunes de 16 à 25 ans",
             "les demandeurs d'emploi", "les étudiants"),
    titles=("{t} : {sub}", "{t}, porté par {holder}", "{t} – {town}", "{t} ({town})", "Projet « {t} »",
            "{t}, {kind}", "{upper}", "{noaccent}", "{apostrophe}", "{typo}", "{nokind}", "{nokind}"),
    descriptions=(
        "{name} est né à {town} en {year} à l'initiative d'habitants. Il propose {activity} pour {public}.",
        "À {town}, {holder} fait vivre {name}, un projet de {kind} : {activity}. Ouvert depuis {year} à {public}.",
        "Projet de {kind} porté par {holder} ({town}). Objectifs : {activity}, lutte contre l'isolement, "
        "lien social. Public : {public}. Création : {year}.",
        "Depuis {year}, {name} anime à {town} {activity}. Le lieu s'appuie sur des partenaires locaux et "
        "accueille {public}.",
    ),
)

TEST = Vocab(
    partners=("solidarum-hub", "ess-regions", "innov-sociale-fr", "carto-communs", "villes-actives",
              "reseau-entraide"),
    heads=("La Ruche Bleue", "L'Étincelle", "Le Sillon", "La Forge", "Les Lucioles", "Le Kiosque", "La Navette",
           "Les Mains Vertes", "Le Phare Ouest", "La Grange", "Les Bourdons", "Le Jardin d'Hiver", "La Tisane",
           "L'Atelier d'Angèle", "Le Coin des Curieux", "La Loupe", "Les Cigales", "Le Vaisseau", "La Courte Échelle",
           "Les Graines d'Ici", "Le Troc'Café", "La Bobine", "L'Escargot", "Le Bazar Solidaire", "La Roulotte",
           "Les Alouettes", "Le Lavoir", "La Fourmilière", "Le Belvédère", "La Petite Ourse"),
    complements=("des Mots", "du Faubourg", "de la Gare", "des Bâtisseurs", "d'Ailleurs", "des Rêveurs",
                 "de Demain", "du Vieux Port"),
    kinds=("recyclerie", "accorderie", "conciergerie solidaire", "boutique solidaire", "ferme urbaine",
           "laverie sociale", "auto-école sociale", "maison des aidants", "colocation solidaire",
           "cantine participative", "vélo-école"),
    adjectives=("Nomade", "Ouverte", "Collective", "Populaire", "Voyageuse"),
    nouns=("Théâtre", "Couture", "Cinéma", "Informatique", "Cuisine", "Mobilité"),
    audiences=("Pour Chacun", "de Proximité", "à Partager", "Sans Frontières"),
    subtitles=("la seconde vie des objets", "ensemble contre l'isolement", "une cantine ouverte à tous",
               "coudre, réparer, transmettre", "le numérique pour chacun", "se déplacer sans voiture"),
    holders=("Maison de quartier {head_plain}", "Fédération {head}", "Centre communal d'action sociale de {town}",
             "Les Amis {head_plain}", "SCIC {head}"),
    streets=("rue du Général de Gaulle", "avenue de la Libération", "rue Jules Ferry", "quai des Bateliers",
             "impasse des Tilleuls", "rue Nationale"),
    activities=("une boutique de vêtements à prix doux", "des cours de code pour adultes", "une laverie à petit prix",
                "des trajets solidaires vers l'emploi", "une cantine ouverte le midi", "des ateliers de couture"),
    publics=("les allocataires du RSA", "les retraités", "les parents isolés", "les personnes en situation de handicap",
             "tout public"),
    titles=("{t} – {sub}", "{t} - {sub}", "{t} (porté par {holder})", "{t} – portée par {holder}",
            "{t} à {town}", "{town} : {t}", "{t} de {town}", "« {t} »", "Projet \"{t}\"", "{t} ({kind})",
            "{kind} {t}", "{upper}", "{noaccent}", "{apostrophe}"),
    descriptions=(
        "Initiative lancée en {year} par {holder}, {name} offre à {public} {activity}, à {town}.",
        "{name} ({town}) : {activity}. Ce projet de {kind}, géré par {holder}, existe depuis {year} et "
        "s'adresse à {public}.",
        "Implanté à {town}, ce projet de {kind} propose {activity}. Il est né en {year} et touche surtout {public}.",
    ),
)
