"""pungi-like-builder: a builder daemon for the build service hub (see doc/build-service.md)."""

from __future__ import annotations

import argparse
import logging
import sys


def build_parser():
    p = argparse.ArgumentParser(
        prog="pungi-like-builder",
        description="Run a builder: log in to the hub as a host, take tasks, run them.")
    p.add_argument("--config", help="builder.conf in kojid.conf's format ([kojid] section: "
                                    "server, cert, serverca, topdir, topurl, workdir, maxjobs, "
                                    "sleeptime, allowed_scms, ...); flags override it")
    p.add_argument("--hub", help="hub URL, e.g. https://hub:8443/kojihub (kojid: server)")
    p.add_argument("--cert", help="the host's certificate+key (PEM, CN = host)")
    p.add_argument("--serverca", help="CA certificate of the hub")
    p.add_argument("--topdir", help="the hub's top directory, when this machine has it")
    p.add_argument("--topurl", help="URL of the top directory (default: <hub>/../kojifiles)")
    p.add_argument("--workdir", default="/var/tmp/pungi-like-builder",
                   help="where tasks get their work directories")
    p.add_argument("--capacity", type=float, help="capacity to report (default: the hub's)")
    p.add_argument("--arches", nargs="+", help="arches to report (default: the hub's)")
    p.add_argument("--maxjobs", type=int, default=10, help="most tasks at once")
    p.add_argument("--poll-interval", type=float, default=1.0, help="seconds between polls")
    p.add_argument("--wait-work", dest="wait_work", action=argparse.BooleanOptionalAction,
                   default=True,
                   help="also hold host.waitWork open, which wakes the builder at once when a "
                        "task is created or a tag changes (default; --no-wait-work: only poll)")
    p.add_argument("--spare", dest="spare", action=argparse.BooleanOptionalAction,
                   default=True,
                   help="keep two task processes forked ahead, their hub connections open, for "
                        "the next tasks (default; --no-spare: fork each task's process when it "
                        "is taken, as kojid)")
    p.add_argument("--keep-workdirs", action="store_true",
                   help="keep work directories of successful tasks")
    p.add_argument("--parent-pid", type=int,
                   help="stop when the process with this pid (the embedding one) is gone")
    p.add_argument("--allowed-scms", dest="allowed_scms",
                   help="SCM URLs this builder checks out: whitespace-separated host:repository "
                        "globs, '!' denies (kojid's allowed_scms); default: whatever the hub "
                        "allowed")
    p.add_argument("--plugin-path", dest="pluginpath", default="/usr/lib/koji-builder-plugins",
                   help="where kojid plugins are looked for, ':'-separated (kojid: pluginpath)")
    p.add_argument("--plugins", nargs="+", default=[],
                   help="kojid plugins to load: their task handlers are registered after this "
                        "builder's own, as kojid does (kojid: plugins)")
    p.add_argument("--log-level", default="INFO")
    return p


def parse_args(argv=None):
    """Flags over ``--config`` over defaults; a missing hub/cert/serverca is a usage error."""
    from ..buildsvc.builder.conf import read_builder_conf

    parser = build_parser()
    args = parser.parse_args(argv)
    args.ignored_options = []
    if args.config:
        values, ignored = read_builder_conf(args.config)
        parser.set_defaults(**values)
        args = parser.parse_args(argv)
        args.ignored_options = ignored
    missing = [flag for flag, dest in (("--hub (server)", "hub"), ("--cert", "cert"),
                                       ("--serverca", "serverca")) if not getattr(args, dest)]
    if missing:
        parser.error("missing %s: give them as flags or in the [kojid] section of --config"
                     % ", ".join(missing))
    return args


def main(argv=None):
    from ..errors import PungiLikeError

    try:
        args = parse_args(argv)
    except PungiLikeError as exc:
        print("pungi-like-builder: error: %s" % exc, file=sys.stderr)
        return 2
    from ..buildsvc.builder.conf import parse_allowed_scms
    from ..buildsvc.builder.daemon import BuilderOptions, main_loop, setup_logging

    setup_logging(args.log_level)
    if args.ignored_options:
        logging.getLogger("pungi_like.buildsvc.builder").info(
            "%s: kojid options not used by this builder: %s", args.config,
            ", ".join(args.ignored_options))
    from ..buildsvc.builder.daemon import load_plugins

    try:
        plugins = load_plugins(args.pluginpath, [n for item in args.plugins
                                                 for n in item.replace(",", " ").split()])
    except Exception as exc:
        print("pungi-like-builder: error: %s" % exc, file=sys.stderr)
        return 2
    arches = None
    if args.arches:
        arches = [a for item in args.arches for a in item.replace(",", " ").split()]
    opts = BuilderOptions(hub=args.hub, cert=args.cert, serverca=args.serverca,
                          topdir=args.topdir, topurl=args.topurl, workdir=args.workdir,
                          capacity=args.capacity, arches=arches, maxjobs=args.maxjobs,
                          poll_interval=args.poll_interval, keep_workdirs=args.keep_workdirs,
                          parent_pid=args.parent_pid, plugins=plugins,
                          wait_work=args.wait_work, spare=args.spare,
                          allowed_scms=(parse_allowed_scms(args.allowed_scms)
                                        if args.allowed_scms is not None else None))
    return main_loop(opts)


if __name__ == "__main__":
    sys.exit(main())
