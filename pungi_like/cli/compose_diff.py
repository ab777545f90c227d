"""pungi-like-compose-diff: what changed between two composes (packages, changelogs, images).

Exit status: 0 (also when the composes differ; with ``--exit-code``, 1 when they differ), 2 for a
bad command line or a path that is no finished compose.
"""

from __future__ import annotations

import argparse
import json
import sys

from pungi_like.composediff import ComposeDiffError, diff_composes, format_text, has_changes


def build_parser():
    p = argparse.ArgumentParser(
        prog="pungi-like-compose-diff",
        description="Compare two composes: packages added, removed, upgraded and downgraded per "
                    "variant and arch, the RPM changelog entries of upgraded source packages, "
                    "and images added, removed or changed. Reads compose/metadata/rpms.json and "
                    "images.json and the composes' own RPM headers.")
    p.add_argument("old", metavar="OLD", help="the older compose (its top directory)")
    p.add_argument("new", metavar="NEW", help="the newer compose (its top directory)")
    p.add_argument("--json", action="store_true", help="print the diff as JSON")
    p.add_argument("--no-changelog", action="store_true",
                   help="do not read RPM headers for changelog entries")
    p.add_argument("--exit-code", action="store_true",
                   help="exit 1 when the composes differ (as 'git diff --exit-code')")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        diff = diff_composes(args.old, args.new, changelogs=not args.no_changelog)
    except ComposeDiffError as exc:
        print(f"pungi-like-compose-diff: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(diff, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_text(diff))
    return 1 if args.exit_code and has_changes(diff) else 0


if __name__ == "__main__":
    sys.exit(main())
