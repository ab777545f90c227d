"""pungi-like-config-validate: check a compose config and print every problem.

Exit status: 0 when the config is valid (warnings allowed), 1 when there is any error,
2 for a bad command line.
"""

import argparse
import json
import logging
import os
import sys

from pungi_like.errors import ConfigError, PungiLikeError


def build_parser():
    p = argparse.ArgumentParser(
        prog="pungi-like-config-validate",
        description="Validate a pungi_like (Pungi-format or JSON) compose config: every error "
                    "is printed as FILE:LINE: option NAME: ...")
    p.add_argument("config", nargs="?", metavar="CONFIG", help="the config file")
    p.add_argument("--dump", action="store_true",
                   help="print the effective config (defaults filled) as sorted JSON")
    p.add_argument("--schema", action="store_true",
                   help="print the JSON Schema of the config and exit")
    p.add_argument("--offline", action="store_true",
                   help="do not contact any server (accepted for Pungi compatibility: "
                        "validation never goes online)")
    p.add_argument("--label", metavar="LABEL",
                   help="also check a compose label such as RC-1.0")
    p.add_argument("--no-variants", action="store_true",
                   help="do not read the variants file")
    return p


def _variant_problems(conf):
    """Errors from the variants file and from mapping regexes that match no variant.

    Returns ``(errors, notes)``."""
    from pungi_like.config.validate import check_variant_mappings

    try:
        from pungi_like.variants import load_variants
    except ImportError:
        return [], ["note: variants check skipped: pungi_like.variants is not available"]
    try:
        path = conf.resolve_path(conf.variants_file)
    except ConfigError as exc:
        return [], [f"note: variants check skipped: {exc}"]
    if "://" in path:
        return [], [f"note: variants check skipped: {path} is not a local file"]
    if not os.path.isfile(path):
        file, line = conf.location("variants_file")
        return [f"{file}:{line}: option variants_file: file {path} does not exist"], []
    try:
        # every variant of the file, not only those tree_variants/tree_arches keep: a pattern
        # naming a variant left out of this compose is not a mistake
        top = load_variants(path)
    except ConfigError as exc:
        return list(exc.errors), []
    warnings = []
    errors = check_variant_mappings(conf, top, warnings=warnings)
    conf.warnings.extend(warnings)
    return errors, []


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if args.schema:
        from pungi_like.config.schema import render

        sys.stdout.write(render())
        return 0
    if not args.config:
        build_parser().error("CONFIG is required (unless --schema is given)")

    from pungi_like.config import load_config
    from pungi_like.config.validate import check_label

    errors = []
    warnings = []
    notes = []
    conf = None
    try:
        conf = load_config(args.config)
        warnings = conf.warnings
    except ConfigError as exc:
        errors = list(exc.errors)
        warnings = list(getattr(exc, "warnings", []))
    except PungiLikeError as exc:
        errors = [str(exc)]
    if args.label:
        problem = check_label(args.label)
        if problem:
            errors.append(f"--label: {problem}")
    if conf is not None and not args.no_variants:
        more, notes = _variant_problems(conf)
        errors += more
        warnings = conf.warnings

    for message in warnings:
        print(f"WARNING: {message}", file=sys.stderr)
    for message in notes:
        print(message, file=sys.stderr)
    for message in errors:
        print(message, file=sys.stderr)
    if errors:
        print(f"{args.config}: {len(errors)} error(s), {len(warnings)} warning(s): config is "
              "not valid", file=sys.stderr)
        return 1
    if args.dump:
        print(json.dumps(conf.as_dict(), indent=4, sort_keys=True))
    print(f"{args.config}: config is valid ({len(warnings)} warning(s))", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
