"""Runs kojid's engine, ``koji.daemon.TaskManager`` from the installed koji library, with only
``koji.tasks``' standard handlers, in kojid's main loop (updateBuildroots, updateTasks,
getNextTask, sleep; ``ServerRestart`` re-executes the process, as kojid does for restartHosts).
``--plugin DIR:NAME`` loads a kojid plugin as kojid does (``koji.plugin.PluginTracker`` on its
``pluginpath``, then ``TaskManager.scanPlugin``). Started as a separate process by
test_kojid_engine.py."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
import types

import koji
import koji.daemon
import koji.plugin
import koji.tasks


def _exit(*_args):
    raise SystemExit(0)


def main(argv=None):
    p = argparse.ArgumentParser()
    for opt in ("--hub", "--cert", "--serverca", "--workdir", "--topdir", "--topurl"):
        p.add_argument(opt, required=True)
    p.add_argument("--sleeptime", type=float, default=0.5)
    p.add_argument("--plugin", action="append", default=[], help="PLUGINPATH:NAME")
    # WaitrepoTask polls every PAUSE (60) seconds; a test waits less
    p.add_argument("--waitrepo-pause", type=float)
    args = p.parse_args(argv)
    if args.waitrepo_pause:
        koji.tasks.WaitrepoTask.PAUSE = args.waitrepo_pause
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    # the one host-level gate of kojid we take out: readyForTask refuses work while the load
    # average exceeds 4 x CPUs, which a shared test machine may reach; it says nothing about
    # the hub, which is what this engine is run against
    os.getloadavg = lambda: (0.0, 0.0, 0.0)
    session = koji.ClientSession(args.hub, {"serverca": args.serverca})
    session.ssl_login(cert=args.cert, serverca=args.serverca)
    session.exclusiveSession(force=True)
    mockdir = os.path.join(args.workdir, "mock")
    os.makedirs(mockdir, exist_ok=True)
    # kojid's option names and defaults (kojid's get_options) for what the engine reads
    options = types.SimpleNamespace(
        maxjobs=10, sleeptime=args.sleeptime, workdir=args.workdir, topdir=args.topdir,
        topurl=args.topurl, serverca=args.serverca, mockdir=mockdir, minspace=1,
        failed_buildroot_lifetime=3600 * 4,
        buildroot_basic_cleanup_delay=120, buildroot_final_cleanup_delay=86400)
    tm = koji.daemon.TaskManager(options, session)
    tm.findHandlers(vars(koji.tasks))
    for spec in args.plugin:
        path, name = spec.rsplit(":", 1)
        tracker = koji.plugin.PluginTracker(path=[path])
        tracker.load(name)
        tm.scanPlugin(tracker.get(name))
    signal.signal(signal.SIGTERM, _exit)
    try:
        while True:
            tm.updateBuildroots(nolocal=True)
            tm.updateTasks()
            if not tm.getNextTask():
                time.sleep(options.sleeptime)
    except koji.tasks.ServerRestart:
        logging.warning("restarting")
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable] + sys.argv)
    except (SystemExit, KeyboardInterrupt):
        logging.info("shutting down")
    tm.shutdown()
    session.logout()
    return 0


if __name__ == "__main__":
    sys.exit(main())
