"""A build service with realistic data for the web tests.

The embedded service of ``tests/integration/images/imgsvc.py`` (seeded with the part of the demo
universe the demo kickstarts need), plus: a successful build from an SRPM with its RPMs signed, a
build whose BuildRequires cannot be met (a FAILED task with its root.log), a livecd image build
(its ISO an archive with component RPMs), a CANCELED task, and
rows whose names carry HTML (a package and a tag extra value with ``<script>``). A plain-HTTP
server on the same hub application serves the browser (Chromium and the hub's test CA do not
meet; the TLS side is tested with client certificates through ``requests``).
"""

from __future__ import annotations

import os
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "images"))
sys.path.insert(0, os.path.join(HERE, "..", "builder"))
import imgsvc  # noqa: E402
from builder_testdata import add_buildrequires  # noqa: E402

EVIL = "<script>alert('x')</script>"
EVIL_PACKAGE = "evil" + EVIL


def _srpm(tmp, name, buildrequires=()):
    from pungi_like.universe.rpmbuild import Package, build_packages

    built = build_packages([Package(name, "1.0", arch="noarch",
                                    files={f"/usr/share/{name}/hello": "hello\n"})],
                           os.path.join(tmp, "rpms-" + name),
                           workdir=os.path.join(tmp, "rpmbuild-" + name))
    srpm = built.srpms[0]
    if buildrequires:
        srpm = add_buildrequires(srpm, list(buildrequires), os.path.join(tmp, "br-" + name))
    return str(srpm)


def _task_id(proc):
    return int(proc.stdout.split("Created task:")[1].split()[0])


class WebData:
    """Ids of what :func:`seed` made."""


def seed(service, tmp):
    """Builds, a failed and a canceled task, signatures and hostile names; returns WebData."""
    from sqlalchemy import insert

    from pungi_like.buildsvc.db import schema as s
    from pungi_like.buildsvc.seed import GpgKey, sign_rpms

    data = WebData()
    session = service.session
    ok = service.koji("build", "demo-1.0", _srpm(tmp, "demo-hello", ["demo-base"]),
                      "--noprogress", "--wait")
    data.build_task = _task_id(ok)
    data.build_output = ok.stdout
    data.build = session.getBuild("demo-hello-1.0-1", strict=True)
    key = GpgKey.create(os.path.join(tmp, "gnupg"))
    paths = [os.path.join(service.topdir, "packages", "demo-hello", "1.0", "1", r["arch"],
                          "%(name)s-%(version)s-%(release)s.%(arch)s.rpm" % r)
             for r in session.listBuildRPMs(data.build["id"])]
    sign_rpms(session, key, paths, workdir=tmp)
    key.stop_agent()
    data.sigkey = key.sigkey
    bad = service.koji("build", "demo-1.0", _srpm(tmp, "demo-needs-missing",
                                                  ["demo-missing >= 2"]),
                       "--noprogress", "--wait", check=False)
    data.failed_task = _task_id(bad)
    data.failed_child = service.task_children(data.failed_task, "buildArch")[0]["id"]
    # an image build: a livecd task whose ISO becomes an archive of build demo-live-1-1
    ks = os.path.join(tmp, "live.ks")
    with open(ks, "w", encoding="utf-8") as f:
        f.write(imgsvc.SELF_CONTAINED_KS)
    live = service.koji("spin-livecd", "demo-live", "1", "demo-1.0", "x86_64", ks,
                        "--noprogress", "--wait")
    data.image_task = _task_id(live)
    data.image_build = session.getBuild("demo-live-1-1", strict=True)
    # an arch no builder has: the task waits in the queue until it is canceled
    data.canceled_task = session.makeTask("createrepo", [1, "ppc64le", None], arch="ppc64le")
    session.cancelTask(data.canceled_task)
    session.editTag2("demo-1.0-updates", extra={"note": EVIL})
    # a package name the API's name checks would refuse: rows that older data may hold
    app = service.svc.app
    with app.db.write_lock, app.db.engine.begin() as conn:
        data.evil_package = conn.execute(insert(s.package).values(name=EVIL_PACKAGE)
                                         .returning(s.package.c.id)).scalar_one()
    session.packageListAdd("demo-1.0-updates", data.evil_package, owner="kojiadmin", force=True)
    data.tag = session.getTag("demo-1.0-build", strict=True)
    return data


def serve_plain(app):
    """A plain-HTTP cheroot server for ``app`` on an ephemeral port; returns (server, base URL)."""
    from pungi_like.buildsvc.hub.server import make_server

    server = make_server(app, "127.0.0.1", 0, threads=4)
    server.prepare()
    thread = threading.Thread(target=server.serve, name="web-plain", daemon=True)
    thread.start()
    server.thread = thread
    return server, "http://127.0.0.1:%d" % server.bind_addr[1]


def stop_plain(server):
    server.stop()
    server.thread.join(timeout=10)
