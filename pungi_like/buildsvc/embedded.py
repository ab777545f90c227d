"""The build service on loopback for one process (a compose, a test): hub + builders.

::

    with EmbeddedService(topdir) as svc:
        session = svc.admin_session()           # logged-in koji.ClientSession
        subprocess.run(["koji", "-c", svc.koji_config_path, "-p", svc.profile, "list-hosts"])

The hub runs in this process (a cheroot HTTPS server thread on 127.0.0.1, ephemeral port,
certificates made by :mod:`.certs` under ``<topdir>/.hub/pki``); each builder is a
``pungi-like-builder`` child process logged in with its own host certificate (hosts
``embedded-builder-<n>``, in every channel). Leaving the context stops the builders (their
running tasks are freed, not lost) and the hub.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time

from .. import childproc
from . import certs
from .hub.server import CONFIG_NAME, HubApp, HubConfig, make_server
from .instance import init_hub

log = logging.getLogger("pungi_like.buildsvc.embedded")

ADMIN = "kojiadmin"
CHANNELS = ("default", "createrepo", "maven", "livecd", "appliance", "vm", "image",
            "livemedia", "runroot")


#: beside the service's files: held (``flock``, exclusive) by the process running the service
LOCK_NAME = "embedded.lock"


class ServiceBusy(RuntimeError):
    """The embedded service's directory is in use by another process."""


def lock_topdir(topdir, wait=True):
    """Hold ``<topdir>/.hub/embedded.lock`` exclusively for this process and return its
    descriptor (:func:`unlock_topdir` releases it). Two services on one directory - two
    composes on one machine with the embedded default - would share one database, one set of
    builders' work directories and one set of certificates, and remove each other's
    buildroots. ``wait``: wait for the other user to end (logged once, naming its pid), else
    raise :class:`ServiceBusy`. The lock ends with its holder, however it ends."""
    import fcntl

    hubdir = os.path.join(topdir, ".hub")
    os.makedirs(hubdir, exist_ok=True)
    path = os.path.join(hubdir, LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            except OSError:
                holder = "unknown"
            if not wait:
                raise ServiceBusy("the embedded build service at %s is in use by process %s"
                                  % (topdir, holder)) from None
            log.warning("waiting for the embedded build service at %s: in use by process %s",
                        topdir, holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"%d\n" % os.getpid(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def unlock_topdir(fd):
    """Release :func:`lock_topdir`'s lock."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class EmbeddedService:
    def __init__(self, topdir, db_url=None, builders=1, capacity=4.0, port=0,
                 arches=("x86_64",), profile="pungi-like-embedded", poll_interval=0.2,
                 queue_settings=None, builder_log_level="INFO", maxjobs=10):
        self.topdir = os.path.abspath(topdir)
        self.db_url = db_url
        self.n_builders = builders
        self.capacity = capacity
        self.port = port
        self.arches = list(arches)
        self.profile = profile
        self.poll_interval = poll_interval
        self.queue_settings = dict(queue_settings or {})
        self.builder_log_level = builder_log_level
        self.maxjobs = maxjobs
        self.pki = os.path.join(self.topdir, ".hub", "pki")
        self.koji_config_path = os.path.join(self.topdir, ".hub", "koji.conf")
        self.builders = []   # Popen objects
        self.hosts = []
        self._server = None
        self._thread = None
        self.app = None
        self.url = None
        self._lock_fd = None

    # --- start / stop -------------------------------------------------------------------

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        if self._lock_fd is None:
            self._lock_fd = lock_topdir(self.topdir)
        if not os.path.exists(os.path.join(self.topdir, CONFIG_NAME)):
            init_hub(self.topdir, ADMIN, db_url=self.db_url)
        else:
            # a service left by an older release: bring its database to this release's schema
            from .db import open_db

            open_db(HubConfig.load(self.topdir).db_url, create=True).dispose()
        if self.queue_settings:
            from .hub.scheduler import write_settings

            write_settings(self.topdir, **self.queue_settings)
        certs.make_ca(self.pki)
        if not os.path.exists(os.path.join(self.pki, certs.SERVER_CERT)):
            certs.make_server_cert(self.pki, ["127.0.0.1", "localhost"])
        admin_pem = os.path.join(self.pki, ADMIN + ".pem")
        if not os.path.exists(admin_pem):
            certs.make_user_cert(self.pki, ADMIN)
        self.app = HubApp(HubConfig.load(self.topdir))
        self._server = make_server(self.app, "127.0.0.1", self.port,
                                   tls_cert=os.path.join(self.pki, certs.SERVER_CERT),
                                   tls_key=os.path.join(self.pki, certs.SERVER_KEY),
                                   client_ca=os.path.join(self.pki, certs.CA_CERT), threads=16)
        self._server.prepare()
        self.port = self._server.bind_addr[1]
        self.url = "https://127.0.0.1:%d/kojihub" % self.port
        self._thread = threading.Thread(target=self._server.serve, name="embedded-hub",
                                         daemon=True)
        self._thread.start()
        certs.write_koji_profile(self.koji_config_path, self.profile, self.url, admin_pem,
                                 self.ca, topurl=self.topurl, topdir=self.topdir)
        admin = self.admin_session()
        try:
            for i in range(1, self.n_builders + 1):
                self.hosts.append(self._ensure_host(admin, "embedded-builder-%d" % i))
        finally:
            admin.logout()
        for name in self.hosts:
            self.builders.append(self._start_builder(name))

    @property
    def ca(self):
        return os.path.join(self.pki, certs.CA_CERT)

    @property
    def topurl(self):
        return self.url.replace("/kojihub", "/kojifiles") if self.url else None

    def _ensure_host(self, admin, name):
        if not admin.getHost(name):
            admin.addHost(name, self.arches)
        have = {c["name"] for c in admin.listChannels(hostID=name)}
        for chan in CHANNELS:
            if chan not in have:
                admin.addHostToChannel(name, chan, create=True)
        admin.editHost(name, capacity=float(self.capacity), arches=" ".join(self.arches))
        if not os.path.exists(os.path.join(self.pki, name + ".pem")):
            certs.make_user_cert(self.pki, name)
        return name

    def _start_builder(self, name):
        logdir = os.path.join(self.topdir, ".hub", "builders")
        os.makedirs(logdir, exist_ok=True)
        cmd = childproc.module_command(
            "pungi_like.cli.builder", "--hub", self.url,
            "--cert", os.path.join(self.pki, name + ".pem"), "--serverca", self.ca,
            "--topdir", self.topdir, "--workdir", os.path.join(logdir, name + ".work"),
            "--capacity", str(self.capacity), "--maxjobs", str(self.maxjobs),
            "--poll-interval", str(self.poll_interval), "--parent-pid", str(os.getpid()),
            "--wait-work", "--log-level", self.builder_log_level)
        logf = open(os.path.join(logdir, name + ".log"), "ab")
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True, env=childproc.module_env())
        logf.close()
        proc.host_name = name
        return proc

    def stop(self):
        for proc in self.builders:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.builders:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.builders = []
        if self.app is not None:
            from .hub.work_bell import release

            release(self.app)   # no builder's host.waitWork keeps a server thread
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self.app is not None:
            self.app.db.dispose()
            self.app = None
        if self._lock_fd is not None:
            unlock_topdir(self._lock_fd)
            self._lock_fd = None

    # --- clients ------------------------------------------------------------------------

    def session(self, user=ADMIN):
        """A koji.ClientSession logged in with ``user``'s certificate (made if needed)."""
        import koji

        pem = os.path.join(self.pki, user + ".pem")
        if not os.path.exists(pem):
            certs.make_user_cert(self.pki, user)
        s = koji.ClientSession(self.url, {"serverca": self.ca, "max_retries": 2,
                                          "retry_interval": 1})
        s.ssl_login(cert=pem, serverca=self.ca)
        return s

    def admin_session(self):
        return self.session(ADMIN)

    def anon_session(self):
        import koji

        return koji.ClientSession(self.url, {"serverca": self.ca})

    def wait_task(self, task_id, timeout=120, session=None):
        """Wait until a task is finished; returns its info."""
        import koji

        s = session or self.anon_session()
        end = time.monotonic() + timeout
        while True:
            info = s.getTaskInfo(task_id)
            if info["state"] in (koji.TASK_STATES["CLOSED"], koji.TASK_STATES["FAILED"],
                                 koji.TASK_STATES["CANCELED"]):
                return info
            if time.monotonic() > end:
                raise TimeoutError("task %s not finished after %ss (state %s)"
                                   % (task_id, timeout, koji.TASK_STATES[info["state"]]))
            time.sleep(0.1)
