"""Reference vocabularies: themes, programmes, instruments and the sixteen regional directorates."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.errors import (
    UnknownDirectorateError,
    UnknownInstrumentError,
    UnknownProgrammeError,
    UnknownThemeError,
)


class Instrument(StrEnum):
    """How the bank commits money to a project."""

    LOAN = "loan"
    EQUITY = "equity"
    STUDY = "study"


INSTRUMENT_LABELS: dict[Instrument, str] = {
    Instrument.LOAN: "Prêt",
    Instrument.EQUITY: "Investissement en fonds propres",
    Instrument.STUDY: "Étude d'ingénierie",
}

THEMES: dict[str, str] = {
    "economic_development": "Développement économique",
    "town_centres": "Revitalisation des centres-villes",
    "smart_city": "Ville intelligente",
    "mobility": "Mobilité",
    "tourism": "Tourisme",
    "energy_transition": "Transition énergétique",
    "brownfields": "Friches et reconversion",
    "housing_renovation": "Rénovation de l'habitat",
    "social_housing": "Logement social",
    "health": "Santé",
    "education": "Éducation",
    "culture_sport": "Culture et sport",
    "digital": "Numérique",
}

PROGRAMMES: dict[str, str] = {
    "action_coeur_de_ville": "Action Cœur de Ville",
    "petites_villes_de_demain": "Petites Villes de Demain",
    "territoires_d_industrie": "Territoires d'industrie",
}


@dataclass(frozen=True, slots=True)
class Directorate:
    """A regional directorate and the regions (prefixed codes) it covers."""

    code: str
    label: str
    regions: frozenset[str]


def _directorate(code: str, label: str, *regions: str) -> Directorate:
    return Directorate(code, label, frozenset(f"region:{r}" for r in regions))


DIRECTORATES: dict[str, Directorate] = {
    d.code: d
    for d in (
        _directorate("auvergne_rhone_alpes", "Direction régionale Auvergne-Rhône-Alpes", "84"),
        _directorate(
            "bourgogne_franche_comte", "Direction régionale Bourgogne-Franche-Comté", "27"
        ),
        _directorate("bretagne", "Direction régionale Bretagne", "53"),
        _directorate("centre_val_de_loire", "Direction régionale Centre-Val de Loire", "24"),
        _directorate("corse", "Direction régionale Corse", "94"),
        _directorate("grand_est", "Direction régionale Grand Est", "44"),
        _directorate("hauts_de_france", "Direction régionale Hauts-de-France", "32"),
        _directorate("ile_de_france", "Direction régionale Île-de-France", "11"),
        _directorate("normandie", "Direction régionale Normandie", "28"),
        _directorate("nouvelle_aquitaine", "Direction régionale Nouvelle-Aquitaine", "75"),
        _directorate("occitanie", "Direction régionale Occitanie", "76"),
        _directorate("pays_de_la_loire", "Direction régionale Pays de la Loire", "52"),
        _directorate(
            "provence_alpes_cote_d_azur",
            "Direction régionale Provence-Alpes-Côte d'Azur",
            "93",
        ),
        # The Atlantic overseas territories, Saint-Pierre-et-Miquelon included.
        _directorate(
            "antilles_guyane",
            "Direction régionale Antilles-Guyane",
            "01",
            "02",
            "03",
            "975",
            "977",
            "978",
        ),
        _directorate("ocean_indien", "Direction régionale Océan Indien", "04", "06", "984"),
        _directorate("pacifique", "Direction régionale Pacifique", "986", "987", "988", "989"),
    )
}


def theme(code: str) -> str:
    """Return the theme code, or raise UnknownThemeError."""
    if code not in THEMES:
        raise UnknownThemeError(code)
    return code


def programme(code: str) -> str:
    """Return the programme code, or raise UnknownProgrammeError."""
    if code not in PROGRAMMES:
        raise UnknownProgrammeError(code)
    return code


def instrument(code: str) -> Instrument:
    """Return the instrument, or raise UnknownInstrumentError."""
    try:
        return Instrument(code)
    except ValueError:
        raise UnknownInstrumentError(code) from None


def directorate(code: str) -> Directorate:
    """Return the directorate, or raise UnknownDirectorateError."""
    try:
        return DIRECTORATES[code]
    except KeyError:
        raise UnknownDirectorateError(code) from None


def directorate_of_region(region_code: str) -> Directorate | None:
    """Return the directorate covering a region (prefixed code), if any."""
    for d in DIRECTORATES.values():
        if region_code in d.regions:
            return d
    return None
