"""pungi-like-hub: create, serve and equip a Koji-compatible hub (see doc/build-service.md).

  pungi-like-hub init  --topdir DIR --admin NAME [--db URL] [--config hub.conf]
  pungi-like-hub serve --topdir DIR [--listen HOST:PORT] [--tls-cert C --tls-key K --client-ca CA]
                       [--files-listen HOST:PORT]   (/kojifiles also over plain HTTP)
                       [--config hub.conf]   (Koji's hub.conf format; flags override the file)
  pungi-like-hub migrate --topdir DIR [--config hub.conf]   (upgrade the database's schema)
  pungi-like-hub check --topdir DIR [--config hub.conf] [--quiet] [--json]   (exit 1: attention)
  pungi-like-hub install-units [--dest /etc/systemd/system] [--confdir /etc/pungi-like] ...
  pungi-like-hub certs --dir DIR --user NAME [--user NAME2 ...] [--hostname H ...]
                       [--koji-config FILE --profile NAME --url URL [--topdir DIR]
                        [--files-url http://HOST:PORT/kojifiles]]
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading

from pungi_like.errors import PungiLikeError


def _listen(value):
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % value)
    return host, int(port)


def build_parser():
    p = argparse.ArgumentParser(prog="pungi-like-hub", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    i = sub.add_parser("init", help="create a top directory, a database and an admin user")
    i.add_argument("--config", help="hub.conf (Koji's INI format: [hub], [policy], "
                                    "[pungi-like]); KojiDir and the DB options are used")
    i.add_argument("--topdir", help="top directory (default: KojiDir of --config)")
    i.add_argument("--admin", required=True, help="name of the first admin (the CN of their cert)")
    i.add_argument("--db", help="database URL (default: SQLite in the top directory); "
                                "e.g. postgresql://user@host/dbname")

    s = sub.add_parser("serve", help="serve /kojihub and /kojifiles")
    s.add_argument("--config", help="hub.conf (Koji's INI format: [hub], [policy], "
                                    "[pungi-like]); command-line flags override it")
    s.add_argument("--topdir", help="top directory (default: KojiDir of --config)")
    s.add_argument("--listen", type=_listen, default=("127.0.0.1", 8080), metavar="HOST:PORT")
    s.add_argument("--tls-cert", help="server certificate (PEM); enables HTTPS")
    s.add_argument("--tls-key", help="server key (PEM)")
    s.add_argument("--client-ca", help="CA that signs client certificates (enables sslLogin)")
    s.add_argument("--threads", type=int, default=16)
    s.add_argument("--timeout", type=float, default=10.0,
                   help="seconds a socket read or write may wait, and an idle connection stays "
                        "open (default 10)")
    s.add_argument("--handshake-timeout", type=float, default=5.0,
                   help="seconds a client has for the whole TLS handshake (default 5)")
    s.add_argument("--header-timeout", type=float, default=30.0,
                   help="seconds a client has to send a request's line and headers (default 30)")
    s.add_argument("--max-connections", type=int, default=512,
                   help="open connections at most; more are closed at once (default 512)")
    s.add_argument("--files-listen", type=_listen, metavar="HOST:PORT",
                   help="also serve /kojifiles (read-only, GET/HEAD) over plain HTTP here: the "
                        "koji CLI's downloads (download-build, download-task) do not use the "
                        "profile's serverca, so a topurl over HTTPS with a private CA fails")
    s.add_argument("--log-level", default="WARNING")

    m = sub.add_parser("migrate", help="upgrade the hub's database to this release's schema "
                                       "(Alembic revisions; data kept)")
    m.add_argument("--config", help="hub.conf (Koji's INI format), as for serve")
    m.add_argument("--topdir", help="top directory (default: KojiDir of --config)")
    m.add_argument("--db", help="database URL (default: the hub's)")

    k = sub.add_parser("check", help="report what needs an admin's attention (database, "
                                     "top directory, builders, stuck tasks, stale repos); "
                                     "exit 1 when something does")
    k.add_argument("--config", help="hub.conf (Koji's INI format), as for serve")
    k.add_argument("--topdir", help="top directory (default: KojiDir of --config)")
    k.add_argument("--builder-age", type=float, default=15.0, metavar="MIN",
                   help="warn about enabled builders not seen for MIN minutes (default 15)")
    k.add_argument("--task-age", type=float, default=30.0, metavar="MIN",
                   help="warn about tasks FREE for more than MIN minutes (default 30)")
    k.add_argument("--min-free", type=float, default=5.0, metavar="GIB",
                   help="warn when the top directory has less free space (default 5 GiB)")
    k.add_argument("--json", action="store_true", help="print the findings as JSON")
    k.add_argument("--quiet", action="store_true", help="print only what is not OK (cron)")

    u = sub.add_parser("install-units", help="write the systemd units of the hub and the "
                                             "builder, and a logrotate snippet")
    u.add_argument("--dest", default="/etc/systemd/system", help="where the units go")
    u.add_argument("--logrotate-dest", default="/etc/logrotate.d",
                   help="where the logrotate snippet goes ('' for none)")
    u.add_argument("--bindir", help="where pungi-like-hub and pungi-like-builder are installed "
                                    "(default: this installation's)")
    u.add_argument("--confdir", default="/etc/pungi-like",
                   help="where hub.conf and builder.conf are")
    u.add_argument("--topdir", default="/srv/pungi-like",
                   help="the hub's top directory (the only place the hub unit may write)")
    u.add_argument("--logdir", default="/var/log/pungi-like", help="where the logs go")
    u.add_argument("--user", default="pungi-like", help="the hub's system user")
    u.add_argument("--group", help="the hub's group (default: the user's name)")

    c = sub.add_parser("certs", help="make a CA, a server certificate, user certificates and "
                                     "a koji client profile")
    c.add_argument("--dir", required=True, help="where the CA and certificates go")
    c.add_argument("--user", action="append", default=[], help="user to make a cert for")
    c.add_argument("--hostname", action="append", default=[],
                   help="server name(s) for the server certificate (default localhost, 127.0.0.1)")
    c.add_argument("--koji-config", help="koji client config file to write a profile into")
    c.add_argument("--profile", default="pungi-like")
    c.add_argument("--url", help="hub URL for the profile, e.g. https://127.0.0.1:8443/kojihub")
    c.add_argument("--profile-user", help="whose cert the profile uses (default: first --user)")
    c.add_argument("--topdir", help="top directory for the profile's topdir/topurl")
    c.add_argument("--files-url", metavar="URL",
                   help="the profile's topurl, e.g. http://HOST:PORT/kojifiles of serve "
                        "--files-listen (default with --topdir: /kojifiles beside --url, which "
                        "downloads reach only if the CA is trusted system-wide)")
    return p


def cmd_init(args):
    from pungi_like.buildsvc.instance import init_hub

    conf = args.hub_conf
    config = init_hub(args.topdir, args.admin, args.db or (conf.db_url if conf else None))
    print("hub top directory %s ready (database %s, admin %s)"
          % (config.topdir, config.db_url.split("@")[-1], args.admin))
    return 0


def one_malloc_arena():
    """Have the C library's malloc serve every thread from one arena (glibc's ``mallopt``
    M_ARENA_MAX = 1), before the server's threads start; False where it cannot be set (a C
    library without ``mallopt``).

    A big read's answer (listTaggedRPMS of a 20,000-build tag: 14.5 MB of XML, its row texts
    and its pieces) takes and frees ~45 MB in the request's thread. In a thread's own arena
    glibc gives such freed memory back to the kernel (a heap of the arena unmapped), and the
    next call takes it again page by page: ~8,600 minor page faults a call, 10-15 ms of the
    hub's CPU. The main arena keeps it. The threads allocate under the interpreter lock for
    the most part, so one arena's lock is not a queue."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    M_ARENA_MAX = -8  # (glibc's malloc.h)
    return mallopt(M_ARENA_MAX, 1) == 1


def cmd_serve(args):
    from pungi_like.buildsvc.hub.server import HubApp, HubConfig, make_server

    one_malloc_arena()

    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise PungiLikeError("--tls-cert and --tls-key go together")
    if args.client_ca and not args.tls_cert:
        raise PungiLikeError("--client-ca needs --tls-cert and --tls-key (HTTPS)")
    config = HubConfig.load(args.topdir)
    if args.hub_conf is not None:
        args.hub_conf.apply(config)
    app = HubApp(config)
    host, port = args.listen
    server = make_server(app, host, port, args.tls_cert, args.tls_key, args.client_ca,
                         threads=args.threads, timeout=args.timeout,
                         handshake_timeout=args.handshake_timeout,
                         header_timeout=args.header_timeout,
                         max_connections=args.max_connections)

    files_server = None
    if args.files_listen:
        fhost, fport = args.files_listen
        files_server = make_server(FilesOnly(app), fhost, fport, threads=max(2, args.threads // 2),
                                   timeout=args.timeout, header_timeout=args.header_timeout,
                                   max_connections=args.max_connections)

    def stop(_signum, _frame):
        # stop() joins the worker threads; it must not run inside the serving thread. A
        # builder's host.waitWork holds a worker thread for up to work_bell.MAX_WAIT seconds:
        # released first, so the hub stops at once instead of after that wait.
        def stop_all():
            from pungi_like.buildsvc.hub.work_bell import release

            release(app)
            for srv in (files_server, server):
                if srv is not None:
                    threading.Thread(target=srv.stop, daemon=True).start()

        threading.Thread(target=stop_all, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.prepare()
    scheme = "https" if args.tls_cert else "http"
    print("serving %s://%s:%d/kojihub and /kojifiles (top directory %s)"
          % (scheme, host, server.bind_addr[1], config.topdir), flush=True)
    if files_server is not None:
        files_server.prepare()
        threading.Thread(target=files_server.serve, name="kojifiles-http", daemon=True).start()
        print("serving http://%s:%d/kojifiles (read-only)"
              % (args.files_listen[0], files_server.bind_addr[1]), flush=True)
    # Everything made so far (the imported modules, the methods, the policies: ~100,000
    # objects) lives as long as the hub: kept out of the cyclic GC's full collections, which
    # otherwise walk it all again while a big read (listTaggedRPMS of a whole distribution:
    # tens of thousands of rows and dicts) makes them run about once a call.
    gc.freeze()
    try:
        server.serve()
    finally:
        app.db.dispose()
    return 0


class FilesOnly:
    """The plain-HTTP listener's application: ``/kojifiles`` only, read-only (Koji serves its
    top directory over plain HTTP as well; clients' downloads go there)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD") and \
                (path == "/kojifiles" or path.startswith("/kojifiles/")):
            return self.app(environ, start_response)
        body = b"only /kojifiles is served here\n"
        start_response("404 Not Found", [("Content-Type", "text/plain"),
                                         ("Content-Length", str(len(body)))])
        return [body]


def cmd_migrate(args):
    from pungi_like.buildsvc.db import LATEST_VERSION, current_version, migrate
    from pungi_like.buildsvc.db import open_db
    from pungi_like.buildsvc.hub.server import HubConfig

    config = HubConfig.load(args.topdir)
    if args.hub_conf is not None:
        args.hub_conf.apply(config)
    db = open_db(args.db or config.db_url)
    try:
        with db.engine.connect() as conn:
            before = current_version(conn)
        after = migrate(db.engine)
    finally:
        db.dispose()
    where = (args.db or config.db_url).split("@")[-1]
    if before == after:
        print("database %s is at schema version %d (current)" % (where, after))
    else:
        print("database %s migrated from schema version %d to %d" % (where, before, after))
    return 0 if after == LATEST_VERSION else 1


def cmd_check(args):
    import json

    from pungi_like.buildsvc import check
    from pungi_like.buildsvc.hub.server import HubConfig

    config = HubConfig.load(args.topdir)
    if args.hub_conf is not None:
        args.hub_conf.apply(config)
    findings = check.run_checks(config, builder_age_min=args.builder_age,
                                task_age_min=args.task_age, min_free_gib=args.min_free)
    if args.json:
        print(json.dumps(check.as_dicts(findings), indent=2))
    else:
        sys.stdout.write(check.format_text(findings, quiet=args.quiet))
    return check.exit_status(findings)


def cmd_install_units(args):
    from pungi_like.buildsvc import units

    written = units.install_units(
        args.dest, args.logrotate_dest, bindir=args.bindir or units.default_bindir(),
        confdir=args.confdir, topdir=args.topdir, logdir=args.logdir, user=args.user,
        group=args.group or args.user)
    for path in written:
        print("wrote %s" % path)
    print("next: create the user (useradd --system %s), %s and %s, write %s/hub.conf and "
          "%s/builder.conf, then: systemctl daemon-reload && systemctl enable --now "
          "pungi-like-hub pungi-like-builder"
          % (args.user, args.topdir, args.logdir, args.confdir, args.confdir))
    return 0


def cmd_certs(args):
    from pungi_like.buildsvc import certs

    d = os.path.abspath(args.dir)
    ca = certs.make_ca(d)
    hostnames = args.hostname or ["localhost", "127.0.0.1"]
    crt, key = certs.make_server_cert(d, hostnames)
    print("CA:          %s" % ca)
    print("server cert: %s (key %s) for %s" % (crt, key, ", ".join(hostnames)))
    pems = {}
    for user in args.user:
        pems[user] = certs.make_user_cert(d, user)
        print("user cert:   %s" % pems[user])
    if args.koji_config:
        if not args.url:
            raise PungiLikeError("--koji-config needs --url (the hub's https URL)")
        who = args.profile_user or (args.user[0] if args.user else None)
        if who not in pems:
            raise PungiLikeError("--profile-user must be one of the --user names")
        topurl = topdir = None
        if args.topdir:
            topdir = os.path.abspath(args.topdir)
            topurl = args.url.rsplit("/kojihub", 1)[0] + "/kojifiles"
        if args.files_url:
            topurl = args.files_url.rstrip("/")
        elif topurl and topurl.startswith("https:"):
            print("note: the koji CLI downloads from topurl without the profile's serverca; "
                  "use --files-url with serve --files-listen, or trust %s system-wide" % ca,
                  file=sys.stderr)
        certs.write_koji_profile(args.koji_config, args.profile, args.url, pems[who], ca,
                                 topurl=topurl, topdir=topdir)
        print("koji profile [%s] in %s (use: koji -c %s -p %s hello)"
              % (args.profile, args.koji_config, args.koji_config, args.profile))
    return 0


def _with_hub_conf(parser, argv):
    """Parse ``argv``; with ``--config``, the file's [pungi-like] options become the defaults of
    the command's flags (so flags override the file) and ``args.hub_conf`` holds the rest."""
    from pungi_like.buildsvc.hub.hubconf import hub_field_names, read_hub_conf

    args = parser.parse_args(argv)
    args.hub_conf = None
    if args.command not in ("init", "serve", "check", "migrate"):
        return args
    if getattr(args, "config", None):
        # One file serves both commands: it may hold the flags of either; each takes its own.
        subs = parser._subparsers._group_actions[0].choices
        flags, own = {}, set()
        for name in ("init", "serve", "check", "migrate"):
            for action in subs[name]._actions:
                for opt in action.option_strings:
                    if opt.startswith("--") and opt not in ("--help", "--config"):
                        flags[opt[2:]] = action.dest
                        if name == args.command:
                            own.add(action.dest)
        sub = subs[args.command]
        conf = read_hub_conf(args.config, hub_field_names(), flags)
        defaults = {dest: value for dest, value in conf.cli.items() if dest in own}
        if conf.topdir:
            defaults.setdefault("topdir", conf.topdir)
        sub.set_defaults(**defaults)
        args = parser.parse_args(argv)
        args.hub_conf = conf
    if not args.topdir:
        parser.error("%s needs --topdir (or KojiDir in the [hub] section of --config)"
                     % args.command)
    return args


def main(argv=None):
    parser = build_parser()
    try:
        args = _with_hub_conf(parser, argv)
        return {"init": cmd_init, "serve": cmd_serve, "check": cmd_check, "migrate": cmd_migrate,
                "install-units": cmd_install_units, "certs": cmd_certs}[args.command](args)
    except PungiLikeError as exc:
        print("pungi-like-hub: error: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
