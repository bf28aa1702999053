"""Make the bundled synthetic cell plan ``examples/data/kortrijk_cellplan.csv``.

Run from the repository root::

    python examples/make_sample_cellplan.py [--shared ../shared/data]

Sites are drawn with a probability proportional to population in the GHSL 100 m grid of
West Flanders (JRC, CC-BY-4.0) inside the municipality of Kortrijk, so that the plan is
densest in the centre, like a real network. No real operator data is used.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import geopandas as gpd

from geozones.synth import synthetic_cellplan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default="../shared/data", type=Path)
    ap.add_argument("--out", default="examples/data/kortrijk_cellplan.csv", type=Path)
    ap.add_argument("--sites", default=50, type=int)
    ap.add_argument("--seed", default=2026, type=int)
    args = ap.parse_args()
    area = gpd.read_file(args.shared / "kortrijk" / "kortrijk_municipality.geojson")
    plan = synthetic_cellplan(args.shared / "population" / "westflanders_pop_100m.tif", area, args.sites, seed=args.seed, prefix="kor")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plan.to_csv(args.out, index=False)
    print(f"wrote {len(plan)} cells on {plan['site_id'].nunique()} sites to {args.out}")


if __name__ == "__main__":
    main()
