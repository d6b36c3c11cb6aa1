"""Who publishes the exports: the organisation named in IATI and SCDL files."""

from __future__ import annotations

from dataclasses import dataclass

from api.settings import Settings


@dataclass(frozen=True, slots=True)
class Publisher:
    """The publishing organisation, as the standards identify it.

    `iati_ref` is an IATI organisation identifier ({agency}-{number}); `iati_type` an IATI
    OrganisationType code; `siret` the 14-digit French establishment number SCDL requires.
    """

    name: str
    siret: str
    iati_ref: str
    iati_type: str

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Publisher:
        """The publisher the settings name (FUNDING_PUBLISHER_*, FUNDING_IATI_ORG_*)."""
        chosen = settings if settings is not None else Settings()
        return cls(
            name=chosen.publisher_name,
            siret=chosen.publisher_siret,
            iati_ref=chosen.iati_org_ref,
            iati_type=chosen.iati_org_type,
        )
