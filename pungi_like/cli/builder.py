"""pungi-like-builder: a builder daemon for the build service hub (see doc/build-service.md)."""

from __future__ import annotations

import argparse
import sys


def build_parser():
    p = argparse.ArgumentParser(
        prog="pungi-like-builder",
        description="Run a builder: log in to the hub as a host, take tasks, run them.")
    p.add_argument("--hub", required=True, help="hub URL, e.g. https://hub:8443/kojihub")
    p.add_argument("--cert", required=True, help="the host's certificate+key (PEM, CN = host)")
    p.add_argument("--serverca", required=True, help="CA certificate of the hub")
    p.add_argument("--topdir", help="the hub's top directory, when this machine has it")
    p.add_argument("--topurl", help="URL of the top directory (default: <hub>/../kojifiles)")
    p.add_argument("--workdir", default="/var/tmp/pungi-like-builder",
                   help="where tasks get their work directories")
    p.add_argument("--capacity", type=float, help="capacity to report (default: the hub's)")
    p.add_argument("--arches", nargs="+", help="arches to report (default: the hub's)")
    p.add_argument("--maxjobs", type=int, default=10, help="most tasks at once")
    p.add_argument("--poll-interval", type=float, default=1.0, help="seconds between polls")
    p.add_argument("--keep-workdirs", action="store_true",
                   help="keep work directories of successful tasks")
    p.add_argument("--parent-pid", type=int,
                   help="stop when the process with this pid (the embedding one) is gone")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from ..buildsvc.builder.daemon import BuilderOptions, main_loop, setup_logging

    setup_logging(args.log_level)
    arches = None
    if args.arches:
        arches = [a for item in args.arches for a in item.replace(",", " ").split()]
    opts = BuilderOptions(hub=args.hub, cert=args.cert, serverca=args.serverca,
                          topdir=args.topdir, topurl=args.topurl, workdir=args.workdir,
                          capacity=args.capacity, arches=arches, maxjobs=args.maxjobs,
                          poll_interval=args.poll_interval, keep_workdirs=args.keep_workdirs,
                          parent_pid=args.parent_pid)
    return main_loop(opts)


if __name__ == "__main__":
    sys.exit(main())
