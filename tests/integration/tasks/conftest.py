"""Fixtures for task-queue tests: a hub (SQLite or PostgreSQL) served over HTTPS with short
queue timeouts, host certificates, and builder daemons started as separate processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
KOJI = os.path.join(os.path.dirname(sys.executable), "koji")
HUB = [sys.executable, "-m", "pungi_like.cli.hub"]
BUILDER = [sys.executable, "-m", "pungi_like.cli.builder"]
PG_ADMIN_URL = os.environ.get("PUNGI_LIKE_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMIN = "kojiadmin"

#: Short timeouts so a dead builder's task is freed within seconds.
QUEUE_SETTINGS = {"host_timeout": 4.0, "run_interval": 0.3, "repo_delete_grace": 1.0}


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def task_pki(tmp_path_factory):
    from pungi_like.buildsvc import certs

    d = str(tmp_path_factory.mktemp("taskpki"))
    certs.make_ca(d)
    certs.make_server_cert(d, ["127.0.0.1", "localhost"])
    for user in (ADMIN, "alice", "b1", "b2"):
        certs.make_user_cert(d, user)
    return d


class QueueHub:
    def __init__(self, topdir, url, conf, pki, proc, tmp):
        self.topdir, self.url, self.conf, self.pki, self.proc, self.tmp = \
            topdir, url, conf, pki, proc, tmp
        self.builders = {}

    def koji(self, *args, user=ADMIN, check=True, timeout=180):
        cmd = [KOJI, "-c", self.conf, "-p", user] + [str(a) for a in args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError("koji %s failed (%d):\n%s\n%s" % (
                " ".join(map(str, args)), proc.returncode, proc.stdout, proc.stderr))
        return proc

    def session(self, user=ADMIN):
        import koji

        s = koji.ClientSession(self.url, {"serverca": os.path.join(self.pki, "ca.crt")})
        s.ssl_login(cert=os.path.join(self.pki, user + ".pem"),
                    serverca=os.path.join(self.pki, "ca.crt"))
        return s

    def start_builder(self, name, capacity=4.0, extra=()):
        log = os.path.join(self.tmp, "%s.log" % name)
        cmd = BUILDER + ["--hub", self.url, "--cert", os.path.join(self.pki, name + ".pem"),
                         "--serverca", os.path.join(self.pki, "ca.crt"),
                         "--topdir", self.topdir, "--workdir", os.path.join(self.tmp, name + ".w"),
                         "--capacity", str(capacity), "--poll-interval", "0.2"] + list(extra)
        with open(log, "ab") as f:
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        proc.log = log
        self.builders[name] = proc
        return proc

    def add_builder_hosts(self, names=("b1", "b2"), channels=("createrepo",)):
        """Create hosts with the real CLI (add-host, add-host-to-channel); returns the outputs."""
        outs = []
        for n in names:
            outs.append(self.koji("add-host", n, "x86_64").stdout)
            for c in channels:
                self.koji("add-host-to-channel", n, c)
        return outs

    def builder_log(self, name):
        with open(os.path.join(self.tmp, "%s.log" % name)) as f:
            return f.read()

    def stop_builders(self):
        for proc in self.builders.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.builders.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def wait_task(self, session, task_id, timeout=120):
        import koji

        end = time.monotonic() + timeout
        while True:
            info = session.getTaskInfo(task_id)
            if info["state"] in (2, 3, 5):
                return info
            if time.monotonic() > end:
                raise AssertionError("task %s still %s" % (task_id,
                                                           koji.TASK_STATES[info["state"]]))
            time.sleep(0.2)


def _pg_create():
    import psycopg

    name = "pl_tasks_%s" % uuid.uuid4().hex[:10]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute("CREATE DATABASE %s" % name)
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _pg_drop(name):
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


def start_queue_hub(tmp_path, pki, backend="sqlite", serve_args=(), **settings):
    """A hub served over HTTPS with the queue ``settings``; ``serve_args``: more options of
    ``pungi-like-hub serve`` (e.g. ``--timeout``)."""
    from pungi_like.buildsvc.certs import write_koji_profile
    from pungi_like.buildsvc.hub.scheduler import write_settings

    topdir = str(tmp_path / "top")
    pg = None
    db_args = []
    if backend == "postgres":
        pg, url = _pg_create()
        db_args = ["--db", url]
    write_settings(topdir, **dict(QUEUE_SETTINGS, **settings))
    subprocess.run(HUB + ["init", "--topdir", topdir, "--admin", ADMIN] + db_args, check=True,
                   capture_output=True, cwd=REPO_ROOT)
    port = _free_port()
    url = "https://127.0.0.1:%d/kojihub" % port
    log = open(tmp_path / "hub.log", "w")
    proc = subprocess.Popen(
        HUB + ["serve", "--topdir", topdir, "--listen", "127.0.0.1:%d" % port,
               "--tls-cert", os.path.join(pki, "server.crt"),
               "--tls-key", os.path.join(pki, "server.key"),
               "--client-ca", os.path.join(pki, "ca.crt"), "--threads", "12",
               "--log-level", "WARNING", *serve_args],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    conf = str(tmp_path / "koji.conf")
    for user in (ADMIN, "alice"):
        write_koji_profile(conf, user, url, os.path.join(pki, user + ".pem"),
                           os.path.join(pki, "ca.crt"), topurl=url.replace("kojihub", "kojifiles"),
                           topdir=topdir)
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                raise AssertionError("hub did not start:\n%s" % (tmp_path / "hub.log").read_text())
            time.sleep(0.1)
    hub = QueueHub(topdir, url, conf, pki, proc, str(tmp_path))
    hub.pg = pg
    hub.backend = backend
    return hub


def stop_queue_hub(hub):
    hub.stop_builders()
    hub.proc.terminate()
    try:
        hub.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        hub.proc.kill()
        hub.proc.wait()
    if hub.pg:
        _pg_drop(hub.pg)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def qhub(request, tmp_path, task_pki):
    hub = start_queue_hub(tmp_path, task_pki, request.param)
    yield hub
    stop_queue_hub(hub)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def patient_qhub(request, tmp_path, task_pki):
    """A ``qhub`` whose hosts are declared dead only after 10 minutes without check-in: for
    tests where no builder dies, so a loaded machine's slow check-ins never free a running task
    (which then, rightly, runs again)."""
    hub = start_queue_hub(tmp_path, task_pki, request.param, host_timeout=600.0)
    yield hub
    stop_queue_hub(hub)


@pytest.fixture
def sqlite_qhub(tmp_path, task_pki):
    hub = start_queue_hub(tmp_path, task_pki, "sqlite")
    yield hub
    stop_queue_hub(hub)



@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def assign_qhub(request, tmp_path, task_pki):
    """A ``patient_qhub`` whose scheduler takes back an assignment not opened within 2 s, and
    assigns no more than a host's capacity (CapacityOvercommit 0; Koji's default is 5)."""
    hub = start_queue_hub(tmp_path, task_pki, request.param, host_timeout=600.0,
                          assign_timeout=2.0, capacity_overcommit=0.0)
    yield hub
    stop_queue_hub(hub)


@pytest.fixture
def pg_patient_qhub(tmp_path, task_pki):
    """A ``patient_qhub`` on PostgreSQL only."""
    hub = start_queue_hub(tmp_path, task_pki, "postgres", host_timeout=600.0)
    yield hub
    stop_queue_hub(hub)
