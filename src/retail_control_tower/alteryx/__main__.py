"""``python -m retail_control_tower.alteryx [--check] [--out DIR]``: write alteryx/*.yxmd from
alteryx/workflows.yml and powerbi/spec.yml, or (``--check``) only compare and check them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from retail_control_tower.alteryx import ALTERYX_DIR, build, check_text, contract_columns
from retail_control_tower.powerbi import warehouse_columns


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ALTERYX_DIR)
    parser.add_argument("--check", action="store_true", help="compare with the files in --out; write nothing")
    args = parser.parse_args(argv)
    contract, status = contract_columns(warehouse_columns()), 0
    for name, text in build().items():
        problems = check_text(text, contract, name)
        for problem in problems:
            print(problem, file=sys.stderr)
        status |= bool(problems)
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                print(f"{path} differs from what alteryx/workflows.yml and powerbi/spec.yml give: regenerate it", file=sys.stderr)
                status = 1
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
