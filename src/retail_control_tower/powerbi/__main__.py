"""``retail-control-tower-powerbi`` (or ``python -m retail_control_tower.powerbi``): writes the
Power BI Project from the spec, or with ``--check`` says whether the committed one is current."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from retail_control_tower.powerbi.project import differences, write
from retail_control_tower.powerbi.spec import DEFAULT_SPEC, load_spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="retail-control-tower-powerbi", description=__doc__)
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="the spec (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None, help="the project folder (default: the spec's folder)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the folder differs from the spec")
    args = parser.parse_args(argv)
    spec = load_spec(args.spec)
    out = args.out or args.spec.parent
    if args.check:
        problems = differences(spec, out)
        for problem in problems:
            print(problem)
        print(f"{out}: {'out of date with ' + str(args.spec) if problems else 'up to date'}")
        return 1 if problems else 0
    written = write(spec, out)
    print(f"wrote {len(written)} files of {spec.name} into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
