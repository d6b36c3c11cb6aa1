"""The Convention aggregate on its own: signing, amending, ending, and what it refuses."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import uuid4

import pytest

from domain.convention import Convention
from domain.errors import (
    BusinessRuleError,
    InvalidValueError,
    UnknownDirectorateError,
    UnknownTerritoryError,
    UnknownThemeError,
)

SIGNED_ON = date(2017, 3, 7)
BASSIN_MINIER = ["epci:200041960", "epci:246200364", "departement:59", "departement:62"]
THEMES = ["housing_renovation", "energy_transition", "mobility", "economic_development"]


def signed_convention(**overrides: object) -> Convention:
    """The Bassin minier convention, signed and with its creation event collected."""
    terms: dict[str, object] = {
        "convention_id": uuid4(),
        "title": "Engagement pour le renouveau du Bassin minier",
        "directorate": "hauts_de_france",
        "signatories": list(BASSIN_MINIER),
        "themes": list(THEMES),
        "signed_on": SIGNED_ON,
        "ends_on": date(2027, 12, 31),
        "envelope": "500000000.00",
    }
    terms.update(overrides)
    convention = Convention.sign(**terms)  # type: ignore[arg-type]
    convention.collect_events()
    return convention


def test_signing_a_convention_records_its_terms() -> None:
    convention_id = uuid4()

    convention = Convention.sign(
        convention_id=convention_id,
        title=" Engagement pour le renouveau du Bassin minier ",
        directorate="hauts_de_france",
        signatories=list(BASSIN_MINIER),
        themes=list(THEMES),
        signed_on=SIGNED_ON,
        envelope="500000000",
    )

    assert convention.id == convention_id
    assert convention.title == "Engagement pour le renouveau du Bassin minier"
    assert convention.signatories == BASSIN_MINIER
    assert convention.themes == THEMES
    assert convention.envelope == Decimal("500000000.00")
    assert convention.in_force
    assert [type(e) for e in convention.collect_events()] == [Convention.ConventionSigned]


def test_amending_a_convention_changes_only_the_amended_terms() -> None:
    convention = signed_convention()

    convention.amend(envelope="600000000.00", ends_on=date(2030, 12, 31), reason="avenant n°1")

    assert convention.envelope == Decimal("600000000.00")
    assert convention.ends_on == date(2030, 12, 31)
    assert convention.themes == THEMES
    assert [type(e) for e in convention.collect_events()] == [Convention.ConventionAmended]


def test_an_amendment_that_amends_nothing_is_refused() -> None:
    convention = signed_convention()

    with pytest.raises(InvalidValueError):
        convention.amend(reason="avenant vide")

    assert convention.collect_events() == []


def test_ending_a_convention_takes_it_out_of_force() -> None:
    convention = signed_convention()

    convention.end(on=date(2025, 6, 30), reason="objectives met")

    assert not convention.in_force
    assert convention.ended_on == date(2025, 6, 30)


def test_linking_to_an_ended_convention_is_refused() -> None:
    convention = signed_convention()
    convention.end(on=date(2025, 6, 30))

    with pytest.raises(BusinessRuleError):
        convention.require_in_force()


def test_a_convention_in_force_accepts_links() -> None:
    convention = signed_convention()

    convention.require_in_force()

    assert convention.in_force


def test_amending_an_ended_convention_is_refused() -> None:
    convention = signed_convention()
    convention.end(on=date(2025, 6, 30))
    convention.collect_events()

    with pytest.raises(BusinessRuleError):
        convention.amend(title="Nouveau titre", reason="too late")

    assert convention.collect_events() == []


def test_ending_a_convention_twice_is_refused() -> None:
    convention = signed_convention()
    convention.end(on=date(2025, 6, 30))
    convention.collect_events()

    with pytest.raises(BusinessRuleError):
        convention.end(on=date(2025, 7, 1))

    assert convention.ended_on == date(2025, 6, 30)


def test_ending_a_convention_before_its_signature_is_refused() -> None:
    convention = signed_convention()

    with pytest.raises(BusinessRuleError):
        convention.end(on=date(2017, 3, 6))

    assert convention.in_force


def test_a_convention_with_an_unknown_signatory_territory_is_refused() -> None:
    with pytest.raises(UnknownTerritoryError):
        signed_convention(signatories=["departement:59", "epci:000000000"])


def test_a_convention_listing_a_signatory_twice_is_refused() -> None:
    with pytest.raises(InvalidValueError) as refused:
        signed_convention(signatories=["departement:59", "departement:59"])

    assert refused.value.field == "signatories"


def test_a_convention_without_signatories_is_refused() -> None:
    with pytest.raises(InvalidValueError) as refused:
        signed_convention(signatories=[])

    assert refused.value.field == "signatories"


def test_a_convention_listing_a_theme_twice_is_refused() -> None:
    with pytest.raises(InvalidValueError) as refused:
        signed_convention(themes=["mobility", "health", "mobility"])

    assert refused.value.field == "themes"


def test_a_convention_with_an_unknown_theme_is_refused() -> None:
    with pytest.raises(UnknownThemeError):
        signed_convention(themes=["mobility", "space_travel"])


def test_a_convention_for_an_unknown_directorate_is_refused() -> None:
    with pytest.raises(UnknownDirectorateError):
        signed_convention(directorate="nord_pas_de_calais")


@pytest.mark.parametrize("ends_on", [date(2017, 3, 6), SIGNED_ON])
def test_a_convention_ending_on_or_before_its_signature_is_refused(ends_on: date) -> None:
    with pytest.raises(InvalidValueError) as refused:
        signed_convention(ends_on=ends_on)

    assert refused.value.field == "ends_on"


def test_amending_the_end_date_to_before_the_signature_is_refused() -> None:
    convention = signed_convention()

    with pytest.raises(InvalidValueError) as refused:
        convention.amend(ends_on=date(2016, 1, 1), reason="typo")

    assert refused.value.field == "ends_on"
    assert convention.ends_on == date(2027, 12, 31)
