"""Suggestions for an unknown code: what the user most likely meant, and the valid codes
where their list is short.

- a bare INSEE or SIREN code (`62498`, `200093201`, `59`) → the territories with that code
  (`commune:62498 (Lens)`), a prefixed code at the wrong level → the right level;
- a label, in French or without accents (`Mobilité`, `mobilite`) → its code;
- a close spelling (difflib) of a code or a label → that code;
- for themes, programmes, instruments, directorates and bands: the list of valid codes.
"""

from __future__ import annotations

import difflib
import unicodedata
from typing import Any

from domain.errors import UnknownCodeError
from domain.reference.territories import TerritoryLevel, load_territories
from projections.totals.labels import vocabulary

MAX_SUGGESTIONS = 5
CUTOFF = 0.75
LEVELS = frozenset(level.value for level in TerritoryLevel)
TERRITORY_KINDS = LEVELS | {"territory"}
VOCABULARY_KINDS = ("theme", "programme", "instrument", "directorate", "band")


def fold(text: str) -> str:
    """Lower case, no accents, punctuation and spaces as `_`: how a code is spelled."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = decomposed.replace("œ", "oe").replace("æ", "ae")
    kept = "".join(ch if ch.isalnum() else " " for ch in letters if not unicodedata.combining(ch))
    return "_".join(kept.split())


def _named(code: str) -> str:
    return f"{code} ({load_territories().get(code).name})"


def territory_suggestions(value: str, level: str | None = None) -> list[str]:
    """Return the territories an unknown territory code most likely means, named."""
    territories = load_territories()
    text = value.strip()
    local = text.partition(":")[2] if ":" in text else text
    chosen = TerritoryLevel(level) if level in LEVELS else None
    levels = [chosen.value] if chosen is not None else []
    levels += [lv.value for lv in TerritoryLevel if lv.value not in levels]
    found = [f"{lv}:{local.upper()}" for lv in levels if f"{lv}:{local.upper()}" in territories]
    if not found and local and not local.isdigit():
        # A name: the territories whose name matches it best.
        found = [t.code for t in territories.search(local, chosen, MAX_SUGGESTIONS)]
    return [_named(code) for code in found[:MAX_SUGGESTIONS]]


def vocabulary_suggestions(kind: str, value: str) -> list[str]:
    """Return the codes of a vocabulary an unknown code most likely means."""
    labels = vocabulary(kind)
    folded = fold(value)
    # The code itself typed otherwise, or its label in French, with or without accents.
    exact = [code for code, label in labels.items() if folded in (fold(code), fold(label))]
    if exact:
        return exact
    by_spelling: dict[str, str] = {}
    for code, label in labels.items():
        by_spelling.setdefault(fold(code), code)
        by_spelling.setdefault(fold(label), code)
    close = difflib.get_close_matches(folded, list(by_spelling), MAX_SUGGESTIONS, CUTOFF)
    if not close:
        # A word of a label (`mobilite` in a longer label, `coeur de ville`).
        close = [spelling for spelling in by_spelling if folded and folded in spelling]
    return list(dict.fromkeys(by_spelling[spelling] for spelling in close))[:MAX_SUGGESTIONS]


def suggestions(error: UnknownCodeError) -> dict[str, Any]:
    """Return the members a problem about an unknown code adds: `suggestions`, `valid_codes`."""
    kind = error.field if error.field in TERRITORY_KINDS | set(VOCABULARY_KINDS) else error.kind
    if kind in TERRITORY_KINDS:
        return {"suggestions": territory_suggestions(error.code, kind)}
    if kind in VOCABULARY_KINDS:
        return {
            "suggestions": vocabulary_suggestions(kind, error.code),
            "valid_codes": list(vocabulary(kind)),
        }
    return {}


def explained(error: UnknownCodeError) -> tuple[str, dict[str, Any]]:
    """Return the problem's detail, with "did you mean …?", and its extra members."""
    extra = suggestions(error)
    detail = error.detail
    if extra.get("suggestions"):
        detail += f": did you mean {' or '.join(extra['suggestions'])}?"
    elif "valid_codes" in extra:
        detail += f": expected one of {', '.join(extra['valid_codes'])}"
    elif error.kind == "territory" or error.field in TERRITORY_KINDS:
        detail += ": expected a prefixed code like region:32, departement:62 or commune:62498"
    return detail, extra
