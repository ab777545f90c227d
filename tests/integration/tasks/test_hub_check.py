"""``pungi-like-hub check`` against a served hub with a real builder (SQLite and PostgreSQL).

It starts with no builder (attention), then with a builder and a current repo (all OK), then with
the builder stopped, a task nobody takes, a tag changed after its repo, an older schema version
and a free-space floor above what the disk has: each is reported, and the exit status says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
HUB = [sys.executable, "-m", "pungi_like.cli.hub"]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rpms(tmp_path_factory):
    from pungi_like.universe.rpmbuild import Package, build_packages

    out = tmp_path_factory.mktemp("rpms")
    result = build_packages([
        Package(name="alpha", version="1.0", release="1", arch="noarch",
                files={"/usr/share/alpha/data": "alpha\n"}),
        Package(name="beta", version="2.0", release="1", arch="noarch",
                files={"/usr/share/beta/data": "beta\n"}),
    ], out, workdir=tmp_path_factory.mktemp("rpmbuild"))
    return sorted(result.srpms) + sorted(result.rpms)


def check(hub, *args):
    proc = subprocess.run(HUB + ["check", "--topdir", hub.topdir] + list(args),
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def findings(hub, *args):
    code, out, err = check(hub, "--json", *args)
    return code, {f["check"]: f for f in json.loads(out)}


def test_check_reports_what_needs_attention(qhub, rpms):
    hub = qhub
    # a fresh hub: database and top directory fine, but no builder
    code, out, err = check(hub)
    assert code == 1, out + err
    assert "OK    database: " in out and "(current)" in out
    assert "OK    topdir: " in out and "writable" in out
    assert "WARN  builders: no enabled builder host is registered" in out
    assert "OK    tasks: no task FREE for more than 30 min" in out
    assert "OK    repos: every tag's newest repo is current" in out
    # --quiet (cron): only what is not OK
    code, out, _ = check(hub, "--quiet")
    assert code == 1 and out.splitlines() == [
        "WARN  builders: no enabled builder host is registered (koji add-host NAME ARCH)"]

    # a builder that checks in, and a current repo: nothing to report
    hub.add_builder_hosts(names=("b1",))
    hub.start_builder("b1")
    hub.koji("add-tag", "plain", "--arches", "x86_64")
    hub.koji("add-pkg", "--owner", "kojiadmin", "plain", "alpha", "beta")
    hub.koji("import", *rpms)
    for nvr in ("alpha-1.0-1", "beta-2.0-1"):
        hub.koji("call", "tagBuildBypass", "plain", nvr)
    hub.koji("regen-repo", "--wait", "plain")
    code, found = findings(hub)
    assert code == 0, found
    assert found["builders"]["detail"].startswith("1 enabled host(s)")
    assert all(f["status"] == "OK" for f in found.values()), found

    # the builder stops, a task waits, the tag changes after its repo
    hub.stop_builders()
    session = hub.session()
    task_id = session.makeTask("sleep", [0])
    hub.koji("call", "untagBuildBypass", "plain", "beta-2.0-1")
    repo = session.getRepo("plain")
    code, found = findings(hub, "--builder-age", "0", "--task-age", "0",
                           "--min-free", "1000000000")
    assert code == 1, found
    assert found["builders"]["status"] == "WARN"
    assert found["builders"]["detail"].startswith("b1 last seen ")
    assert found["tasks"]["status"] == "WARN"
    assert "%d (sleep, " % task_id in found["tasks"]["detail"]
    assert found["repos"]["status"] == "WARN"
    assert "plain (repo of event %d, tag changed at event " % repo["create_event"] \
        in found["repos"]["detail"]
    assert found["topdir"]["status"] == "WARN" and "GiB free" in found["topdir"]["detail"]
    assert found["database"]["status"] == "OK"


def test_check_flags_an_older_schema_and_an_unreachable_database(qhub):
    from sqlalchemy import create_engine, text

    from pungi_like.buildsvc.db import LATEST_VERSION
    from pungi_like.buildsvc.hub.server import HubConfig

    hub = qhub
    config = HubConfig.load(hub.topdir)
    url = config.db_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    with engine.begin() as conn:  # as if the database were made by the previous release
        conn.execute(text("DELETE FROM schema_version WHERE version = :v"),
                     {"v": LATEST_VERSION})
    engine.dispose()
    code, found = findings(hub)
    assert code == 1
    assert found["database"]["status"] == "WARN"
    assert "schema version %d, this release needs %d" % (LATEST_VERSION - 1, LATEST_VERSION) \
        in found["database"]["detail"]
    assert "password" not in found["database"]["detail"]

    # a database that is not there at all: FAIL, exit 2, and no other check is attempted
    config.db_url = ("sqlite:////nonexistent-dir/x.sqlite3" if hub.backend == "sqlite" else
                     "postgresql://nobody:secret@127.0.0.1:1/none")
    config.save()
    code, found = findings(hub)
    assert code == 2
    assert found["database"]["status"] == "FAIL" and "not reachable" in found["database"]["detail"]
    assert "secret" not in json.dumps(found)
    assert set(found) == {"topdir", "database"}


def test_check_needs_a_top_directory():
    proc = subprocess.run(HUB + ["check"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert proc.returncode == 2
    assert "check needs --topdir (or KojiDir in the [hub] section of --config)" in proc.stderr
