"""``python -m pungi_like.universe --out DIR``: build (or reuse) the demo universe in DIR."""

import argparse
import sys

from ..errors import PungiLikeError
from .build import ensure_universe


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pungi_like.universe",
                                     description="Build the demo package universe "
                                     "(RPMs + repodata + comps.xml + universe.json).")
    parser.add_argument("--out", required=True, help="output directory (reused when up to date)")
    parser.add_argument("--cache-dir", help="where the Debian kernel is cached "
                        "(default: kernel/ next to --out)")
    parser.add_argument("--quiet", action="store_true", help="print errors only")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    try:
        uni = ensure_universe(args.out, cache_dir=args.cache_dir,
                              quiet=True if args.quiet else None, force=args.force)
    except PungiLikeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet and sys.stdout.isatty():
        print(f"{uni.repo_dir}: {uni.info['rpm_count']} RPMs, {uni.info['srpm_count']} SRPMs, "
              f"kernel {uni.kernel_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
