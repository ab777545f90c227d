"""Fixtures for hub tests: a local PKI, and a hub served over HTTPS that the real koji CLI drives.

``hub`` is parametrized over SQLite and PostgreSQL. The PostgreSQL variant creates a database with
a unique name on 127.0.0.1:5432 (user postgres, trust auth) and drops it afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
VENV_BIN = os.path.dirname(sys.executable)
KOJI = os.path.join(VENV_BIN, "koji")
HUB = [sys.executable, "-m", "pungi_like.cli.hub"]
PG_ADMIN_URL = os.environ.get("PUNGI_LIKE_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

ADMIN = "kojiadmin"
USERS = (ADMIN, "alice", "bob")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """CA, server certificate and user certificates (kojiadmin, alice, bob)."""
    d = tmp_path_factory.mktemp("pki")
    args = ["certs", "--dir", str(d)]
    for u in USERS:
        args += ["--user", u]
    subprocess.run(HUB + args, check=True, capture_output=True, cwd=REPO_ROOT)
    return d


class Hub:
    """A running hub plus a koji client config with one profile per user."""

    def __init__(self, topdir, url, conf, proc, db_url):
        self.topdir, self.url, self.conf, self.proc, self.db_url = topdir, url, conf, proc, db_url

    def koji(self, *args, user=ADMIN, noauth=False, check=True):
        """Run the real koji CLI; returns (returncode, stdout, stderr)."""
        cmd = [KOJI, "-c", self.conf, "-p", user]
        if noauth:
            cmd.append("--noauth")
        cmd += [str(a) for a in args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError("koji %s failed (%d):\n%s\n%s" % (
                " ".join(map(str, args)), proc.returncode, proc.stdout, proc.stderr))
        return proc.returncode, proc.stdout, proc.stderr

    def out(self, *args, **kw):
        return self.koji(*args, **kw)[1]


def _pg_database():
    import psycopg

    name = "pl_hub_test_%s" % uuid.uuid4().hex[:12]
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute("CREATE DATABASE %s" % name)
    except psycopg.OperationalError as exc:
        pytest.fail("PostgreSQL is not reachable at %s (.ci/run starts it): %s"
                    % (PG_ADMIN_URL, exc))
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _pg_drop(name):
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


def start_hub(tmp_path, pki, backend, extra_args=(), prepare=None):
    """A served hub; ``prepare(topdir, db_url)`` may make the top directory and database first
    (``db_url`` is None for SQLite: the default file in the top directory)."""
    topdir = tmp_path / "top"
    pg_name = None
    db_args = []
    if backend == "postgres":
        pg_name, db_url = _pg_database()
        db_args = ["--db", db_url]
    else:
        db_url = None
    if prepare is not None:
        prepare(str(topdir), db_url)
    # these hubs run no builder: tagBuild tasks are run by the hub itself
    from pungi_like.buildsvc.hub.scheduler import write_settings

    write_settings(str(topdir), tag_tasks_in_hub=True)
    subprocess.run(HUB + ["init", "--topdir", str(topdir), "--admin", ADMIN] + db_args,
                   check=True, capture_output=True, cwd=REPO_ROOT)
    port = _free_port()
    url = "https://127.0.0.1:%d/kojihub" % port
    log = open(tmp_path / "hub.log", "w")
    proc = subprocess.Popen(
        HUB + ["serve", "--topdir", str(topdir), "--listen", "127.0.0.1:%d" % port,
               "--tls-cert", str(pki / "server.crt"), "--tls-key", str(pki / "server.key"),
               "--client-ca", str(pki / "ca.crt"), "--threads", "8", "--log-level", "INFO",
               *extra_args],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    conf = tmp_path / "koji.conf"
    from pungi_like.buildsvc.certs import write_koji_profile

    for u in USERS:
        write_koji_profile(str(conf), u, url, str(pki / (u + ".pem")), str(pki / "ca.crt"),
                           topurl=url.replace("/kojihub", "/kojifiles"), topdir=str(topdir))
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                raise AssertionError("hub did not start:\n%s" % (tmp_path / "hub.log").read_text())
            time.sleep(0.1)
    hub = Hub(str(topdir), url, str(conf), proc, db_url)
    hub.pg_name = pg_name
    hub.ca = str(pki / "ca.crt")
    hub.log_path = tmp_path / "hub.log"
    return hub


def stop_hub(hub):
    hub.proc.terminate()
    try:
        hub.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        hub.proc.kill()
        hub.proc.wait()
    if hub.pg_name:
        _pg_drop(hub.pg_name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hub(request, tmp_path, pki):
    h = start_hub(tmp_path, pki, request.param)
    h.backend = request.param
    yield h
    stop_hub(h)


@pytest.fixture(scope="session")
def koji_available():
    if not os.path.exists(KOJI) or shutil.which("rpmbuild") is None:
        pytest.fail("the koji CLI (venv) and rpmbuild are needed; run .ci/setup")
