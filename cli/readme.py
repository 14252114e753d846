"""Rewrite the README's settings table from ``core/settings.py``.

    .venv/bin/python -m variance.cli.readme [--readme README.md] [--check]

Run it after adding or changing a setting; ``tests/test_readme.py`` fails until the README
matches the definition. The benchmark tables are rewritten by ``bench/report.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from variance.core.readme import SETTINGS_BLOCK, MissingBlock, settings_table, with_generated_block


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--check", action="store_true", help="only say whether the README is up to date")
    args = parser.parse_args(argv)
    try:
        text = args.readme.read_text(encoding="utf-8")
        updated = with_generated_block(text, SETTINGS_BLOCK, settings_table())
    except (OSError, MissingBlock) as exc:
        sys.stderr.write(f"error: {args.readme}: {exc}\n")
        return 1
    if updated == text:
        sys.stderr.write(f"{args.readme}: the settings table is up to date\n")
        return 0
    if args.check:
        sys.stderr.write(f"{args.readme}: the settings table differs from core/settings.py\n")
        return 1
    args.readme.write_text(updated, encoding="utf-8")
    sys.stderr.write(f"{args.readme}: settings table rewritten from core/settings.py\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
