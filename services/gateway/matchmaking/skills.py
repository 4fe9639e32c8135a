"""The skills vocabulary: a small controlled list (slug → French label, with synonyms).

A skill typed freely that matches no entry is kept, normalised by folding (``Soudure TIG`` →
``soudure-tig``), so people can still name what the list lacks; search and suggestions compare the
normalised slugs either way."""

from __future__ import annotations

SKILLS: dict[str, tuple[str, tuple[str, ...]]] = {
    # slug: (label, synonyms — folded forms are compared)
    "accompagnement-social": ("Accompagnement social", ("travail social", "travailleur social", "assistante sociale")),
    "agriculture": ("Agriculture", ("agricole", "agriculteur", "elevage")),
    "animation": ("Animation", ("animateur", "animatrice", "animation de groupe")),
    "bricolage": ("Bricolage et petites réparations", ("reparation", "repair cafe", "petites reparations")),
    "batiment": ("Bâtiment", ("btp", "construction", "maconnerie")),
    "comptabilite": ("Comptabilité", ("compta", "comptable", "tenue des comptes")),
    "communication": ("Communication", ("com", "relations presse", "reseaux sociaux")),
    "couture": ("Couture", ("textile", "retouche")),
    "cuisine": ("Cuisine", ("cuisinier", "restauration", "traiteur")),
    "developpement-web": ("Développement web", ("developpeur", "site web", "site internet", "programmation")),
    "droit": ("Droit et juridique", ("juridique", "juriste", "statuts", "droit associatif")),
    "eco-construction": ("Éco-construction", ("ecoconstruction", "construction bois", "paille")),
    "economie-circulaire": ("Économie circulaire", ("reemploi", "recyclerie", "ressourcerie", "recyclage")),
    "education-populaire": ("Éducation populaire", ("education", "pedagogie")),
    "electricite": ("Électricité", ("electricien",)),
    "energie": ("Énergie", ("renovation energetique", "photovoltaique", "energies renouvelables")),
    "evaluation-impact": ("Évaluation d'impact", ("mesure d impact", "evaluation", "impact social")),
    "formation": ("Formation", ("formateur", "formatrice", "enseignement")),
    "gestion-de-projet": ("Gestion de projet", ("chef de projet", "coordination", "pilotage")),
    "gouvernance": ("Gouvernance et vie associative", ("vie associative", "benevolat", "gouvernance partagee")),
    "graphisme": ("Graphisme", ("graphiste", "design graphique", "mise en page")),
    "informatique": ("Informatique", ("reseau informatique", "maintenance informatique", "it")),
    "inclusion-numerique": ("Inclusion numérique", ("mediation numerique", "numerique", "conseiller numerique")),
    "insertion": ("Insertion professionnelle", ("insertion", "emploi", "accompagnement vers l emploi")),
    "jardinage": ("Jardinage", ("jardinier", "jardin", "espaces verts")),
    "logistique": ("Logistique", ("transport", "livraison", "stock", "entrepot")),
    "maraichage": ("Maraîchage", ("maraicher", "legumes")),
    "mecanique": ("Mécanique", ("garage", "mecanicien", "reparation auto")),
    "mediation": ("Médiation", ("mediateur", "mediatrice", "gestion de conflits")),
    "menuiserie": ("Menuiserie", ("menuisier", "bois", "ebenisterie")),
    "mobilite": ("Mobilité", ("velo", "covoiturage", "reparation velo")),
    "permaculture": ("Permaculture", ("agroecologie",)),
    "petite-enfance": ("Petite enfance", ("creche", "auxiliaire de puericulture")),
    "photo-video": ("Photo et vidéo", ("photographie", "video", "montage video")),
    "plomberie": ("Plomberie", ("plombier",)),
    "recherche-financements": ("Recherche de financements", ("financement", "subventions", "mecenat", "levee de fonds")),
    "ressources-humaines": ("Ressources humaines", ("rh", "recrutement", "paie")),
    "sante": ("Santé", ("soin", "infirmier", "infirmiere", "prevention sante")),
    "traduction": ("Traduction", ("interprete", "langues", "fle")),
    "vente": ("Vente et commerce", ("commerce", "vendeur", "epicerie", "caisse")),
}


def labels() -> dict[str, str]:
    return {slug: label for slug, (label, _) in SKILLS.items()}
