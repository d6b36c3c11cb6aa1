"""The demo's vocabulary: its territories, French project names, products, rates and mixes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from random import Random

from domain.reference import Instrument
from domain.reference.territories import Territory, TerritoryLevel

# Every effective date lies in this window: the seven years the demo covers.
FIRST_DAY = date(2019, 1, 1)
LAST_DAY = date(2025, 12, 31)

BASSIN_MINIER_EPCI = (
    "epci:200072460",  # CA de Béthune-Bruay, Artois-Lys Romane
    "epci:200044618",  # CA Douaisis Agglo
    "epci:246200299",  # CA d'Hénin-Carvin
    "epci:246200364",  # CA de Lens - Liévin
    "epci:200042190",  # CA de la Porte du Hainaut
    "epci:245901160",  # CA Valenciennes Métropole
    "epci:245901152",  # CA Coeur d'Ostrevent
    "epci:200044048",  # CC Osartis Marquion
)
BASSIN_MINIER_THEMES = (
    "housing_renovation",
    "energy_transition",
    "mobility",
    "economic_development",
    "brownfields",
    "town_centres",
    "tourism",
    "education",
)
BASSIN_MINIER_PROJECTS = 59
LENS_LIEVIN = "epci:246200364"
BETHUNE_BRUAY = "epci:200072460"
WALLERS = "commune:59632"

# Projects of the national spread per directorate, roughly in proportion to its activity.
NATIONAL_PROJECTS: dict[str, int] = {
    "auvergne_rhone_alpes": 42,
    "bourgogne_franche_comte": 21,
    "bretagne": 24,
    "centre_val_de_loire": 18,
    "corse": 9,
    "grand_est": 33,
    "hauts_de_france": 27,
    "ile_de_france": 45,
    "normandie": 24,
    "nouvelle_aquitaine": 39,
    "occitanie": 39,
    "pays_de_la_loire": 24,
    "provence_alpes_cote_d_azur": 30,
    "antilles_guyane": 15,
    "ocean_indien": 13,
    "pacifique": 9,
}
REFERENCE_PREFIX: dict[str, str] = {
    "auvergne_rhone_alpes": "ARA",
    "bourgogne_franche_comte": "BFC",
    "bretagne": "BRE",
    "centre_val_de_loire": "CVL",
    "corse": "COR",
    "grand_est": "GES",
    "hauts_de_france": "HDF",
    "ile_de_france": "IDF",
    "normandie": "NOR",
    "nouvelle_aquitaine": "NAQ",
    "occitanie": "OCC",
    "pays_de_la_loire": "PDL",
    "provence_alpes_cote_d_azur": "PACA",
    "antilles_guyane": "AGY",
    "ocean_indien": "OIN",
    "pacifique": "PAC",
}

# What a project is called, per theme: (for a commune, for a wider territory).
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "economic_development": (
        ("Hôtel d'entreprises", "Extension de la zone d'activités", "Halle commerciale"),
        ("Parc d'activités intercommunal", "Foncière d'immobilier productif", "Village d'artisans"),
    ),
    "town_centres": (
        ("Revitalisation du centre-bourg", "Requalification de la place du marché"),
        ("Foncière de redynamisation commerciale", "Opération de revitalisation du territoire"),
    ),
    "smart_city": (
        ("Éclairage public intelligent", "Hyperviseur urbain"),
        ("Plateforme de données territoriales", "Gestion connectée des réseaux d'eau"),
    ),
    "mobility": (
        ("Pôle d'échanges multimodal", "Pistes cyclables structurantes", "Parking relais"),
        (
            "Ligne de bus à haut niveau de service",
            "Véloroute intercommunale",
            "Navettes électriques",
        ),
    ),
    "tourism": (
        ("Rénovation de l'office de tourisme", "Résidence de tourisme", "Camping municipal"),
        ("Véloroute touristique", "Hébergements touristiques de pleine nature"),
    ),
    "energy_transition": (
        ("Réseau de chaleur biomasse", "Rénovation énergétique des écoles", "Ombrières solaires"),
        ("Centrale photovoltaïque au sol", "Unité de méthanisation", "Parc éolien citoyen"),
    ),
    "brownfields": (
        ("Reconversion de la friche industrielle", "Requalification de la friche ferroviaire"),
        ("Dépollution et aménagement d'une ancienne usine", "Reconversion d'un site militaire"),
    ),
    "housing_renovation": (
        ("Résorption de l'habitat indigne", "Réhabilitation de l'îlot ancien"),
        ("Opération programmée d'amélioration de l'habitat", "Rénovation énergétique de l'habitat"),
    ),
    "social_housing": (
        ("Construction de logements sociaux", "Résidence seniors", "Résidence jeunes actifs"),
        ("Programme de logements locatifs sociaux", "Réhabilitation du parc social"),
    ),
    "health": (
        ("Maison de santé pluriprofessionnelle", "Centre de santé municipal"),
        ("Extension de l'EHPAD intercommunal", "Réseau de centres de santé"),
    ),
    "education": (
        ("Groupe scolaire", "Restaurant scolaire", "Rénovation de l'école élémentaire"),
        ("Rénovation des collèges", "Construction d'un lycée", "Campus des métiers"),
    ),
    "culture_sport": (
        ("Médiathèque", "Centre aquatique", "Salle de spectacles", "Complexe sportif"),
        ("Centre aquatique intercommunal", "Réseau de lecture publique"),
    ),
    "digital": (
        ("Tiers-lieu numérique", "Espace France Services"),
        ("Déploiement de la fibre optique", "Centre de données territorial"),
    ),
}
# The mining basin's own vocabulary, for the convention's projects.
BASSIN_MINIER_NAMES: dict[str, tuple[str, ...]] = {
    "brownfields": ("Reconversion du carreau de fosse", "Requalification de l'ancienne cokerie"),
    "tourism": ("Valorisation du terril", "Parcours de découverte du patrimoine minier"),
    "housing_renovation": ("Réhabilitation de la cité minière", "Rénovation des corons"),
    "energy_transition": ("Réseau de chaleur sur eaux de mine", "Centrale solaire sur terril"),
}
STUDY_SUBJECTS = (
    "Étude de faisabilité",
    "Étude de programmation",
    "Étude de préfiguration",
    "Étude de marché et de positionnement",
    "Assistance à maîtrise d'ouvrage",
    "Diagnostic patrimonial et énergétique",
    "Schéma directeur immobilier",
    "Étude de stratégie foncière",
    "Montage juridique et financier",
)
STUDY_PROVIDERS = (
    "Cerema",
    "Atelier Ville & Territoires",
    "Territoires Conseil",
    "Bureau d'études Énergies Locales",
    "Cabinet Urbain Durable",
    "Ingénierie Publique Associée",
    "Agence d'urbanisme",
)
EQUITY_VEHICLES = ("SEM", "SAS de projet", "SCIC", "Société de projet", "Foncière")
# Themes where the bank takes equity stakes (companies with revenue); elsewhere it lends.
EQUITY_THEMES = frozenset(
    {
        "economic_development",
        "tourism",
        "energy_transition",
        "smart_city",
        "digital",
        "brownfields",
        "health",
    }
)
LOAN_PRODUCTS: dict[str, tuple[str, Decimal]] = {
    "mobility": ("Mobi Prêt", Decimal("0.60")),
    "education": ("Edu Prêt", Decimal("0.40")),
    "energy_transition": ("Prêt Transition écologique", Decimal("0.40")),
    "social_housing": ("Prêt locatif social", Decimal("0.60")),
    "housing_renovation": ("Éco-prêt", Decimal("0.25")),
    "town_centres": ("Prêt Renouvellement urbain", Decimal("0.60")),
}
DEFAULT_LOAN_PRODUCT = ("Prêt au secteur public local", Decimal("0.60"))
# The Livret A rate (%) from each date: the base of the bank's public-sector loans.
LIVRET_A = (
    (date(2019, 1, 1), Decimal("0.75")),
    (date(2020, 2, 1), Decimal("0.50")),
    (date(2022, 2, 1), Decimal("1.00")),
    (date(2022, 8, 1), Decimal("2.00")),
    (date(2023, 2, 1), Decimal("3.00")),
    (date(2025, 2, 1), Decimal("2.40")),
    (date(2025, 8, 1), Decimal("1.70")),
)
PROGRAMME_THEMES: dict[str, tuple[str, ...]] = {
    "action_coeur_de_ville": (
        "town_centres",
        "housing_renovation",
        "mobility",
        "economic_development",
        "culture_sport",
    ),
    "petites_villes_de_demain": (
        "town_centres",
        "health",
        "housing_renovation",
        "tourism",
        "digital",
    ),
    "territoires_d_industrie": ("economic_development", "brownfields", "energy_transition"),
}
LEVEL_THEMES: dict[TerritoryLevel, tuple[str, ...]] = {
    TerritoryLevel.REGION: (
        "education",
        "mobility",
        "energy_transition",
        "economic_development",
        "digital",
    ),
    TerritoryLevel.DEPARTEMENT: (
        "education",
        "digital",
        "health",
        "social_housing",
        "mobility",
        "culture_sport",
    ),
    TerritoryLevel.EPCI: (
        "economic_development",
        "mobility",
        "energy_transition",
        "brownfields",
        "tourism",
        "culture_sport",
        "digital",
        "smart_city",
        "social_housing",
        "health",
    ),
    TerritoryLevel.COMMUNE: (
        "town_centres",
        "education",
        "culture_sport",
        "social_housing",
        "health",
        "energy_transition",
        "housing_renovation",
        "smart_city",
        "tourism",
        "economic_development",
        "mobility",
        "brownfields",
    ),
}
# Who decides to give a project up, at each level.
COUNCILS: dict[TerritoryLevel, str] = {
    TerritoryLevel.REGION: "conseil régional",
    TerritoryLevel.DEPARTEMENT: "conseil départemental",
    TerritoryLevel.EPCI: "conseil communautaire",
    TerritoryLevel.COMMUNE: "conseil municipal",
}
# (instruments, weight): what a project receives, in the order the money comes.
PATTERNS: tuple[tuple[tuple[Instrument, ...], int], ...] = (
    ((Instrument.STUDY,), 26),
    ((Instrument.LOAN,), 28),
    ((Instrument.STUDY, Instrument.LOAN), 18),
    ((Instrument.EQUITY,), 12),
    ((Instrument.STUDY, Instrument.EQUITY), 6),
    ((Instrument.LOAN, Instrument.LOAN), 7),
    ((Instrument.LOAN, Instrument.EQUITY), 3),
)


def project_name(rng: Random, theme: str, territory: Territory) -> str:
    """A name for a project of this theme, after its territory."""
    local, wide = NAMES[theme]
    return named_after(rng.choice(local if _is_commune(territory) else wide), territory)


def named_after(base: str, territory: Territory) -> str:
    """Return "Médiathèque d'Arras" for a commune, "Véloroute — CA du Douaisis" otherwise."""
    if _is_commune(territory):
        return f"{base} {_de(territory.name)}"
    return f"{base} — {territory.name}"


def livret_a(on: date) -> Decimal:
    """The Livret A rate (%) on a date."""
    rate = LIVRET_A[0][1]
    for since, value in LIVRET_A:
        if since <= on:
            rate = value
    return rate


def _is_commune(territory: Territory) -> bool:
    return territory.level is TerritoryLevel.COMMUNE


def _de(name: str) -> str:
    """Return "de <name>" with French elision and contraction: d'Arras, du Havre, des Abymes."""
    if name.startswith("Le "):
        return f"du {name[3:]}"
    if name.startswith("Les "):
        return f"des {name[4:]}"
    if name[:1] in "AEIOUYÉÈÊÎÔÂ":
        return f"d'{name}"
    return f"de {name}"
