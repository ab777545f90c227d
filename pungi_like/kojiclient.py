"""The one place the compose talks to a build service: :class:`KojiWrapper`.

There is one code path, koji's own ``ClientSession``, for every hub: a remote Koji (or our hub)
named by ``koji_profile`` (a koji client profile, read with ``koji.read_config`` as Pungi does),
or the embedded service started for the compose (``buildservice`` in the config, or an
``EmbeddedService`` / a koji config file handed in). The profile decides the rest:

* login: SSL with the profile's ``cert``/``serverca`` when it has them (``authtype = ssl`` or a
  cert file that exists), anonymous otherwise (the package set only reads);
* files: when the profile's ``topdir`` is on this machine (it holds ``packages/``), paths point
  into it and files are hard-linked (copied across file systems); otherwise paths are URLs under
  ``topurl`` (the hub's ``/kojifiles``) and files are downloaded.

Sessions are per thread (a logged-in ``ClientSession`` numbers its calls and must not be shared
by concurrent units). Every task the compose starts is recorded as an empty file
``logs/global/koji-tasks/<id>``; :meth:`KojiWrapper.cancel_all` cancels those still running
(the driver calls it on SIGTERM).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time

from .errors import HubError
from .fileutil import link_file

log = logging.getLogger("pungi_like.kojiclient")


class _LazyKoji:
    """The ``koji`` module, imported at its first use: with ``rpm`` and ``requests`` it takes
    0.25 s, which a compose without a build service (and every no-op re-run) never needs."""

    def __getattr__(self, name):
        import koji as module

        return getattr(module, name)


koji = _LazyKoji()

#: Task states after which a task never changes again (koji.TASK_STATES CLOSED, CANCELED,
#: FAILED; tests/unit/test_kojiclient_lazy.py checks them against koji's own)
FINISHED_STATES = frozenset({2, 3, 5})


def connection_errors():
    """What a lost connection to the hub raises (for ``except``: evaluated only then)."""
    try:  # requests is koji's own transport, so it is always there with koji
        from requests.exceptions import ConnectionError as _ReqConnError
        from requests.exceptions import Timeout as _ReqTimeout
        return (_ReqConnError, _ReqTimeout, ConnectionError, koji.ServerOffline)
    except ImportError:  # pragma: no cover
        return (ConnectionError, koji.ServerOffline)


def read_profile(profile, config_path=None):
    """The options of koji client profile ``profile`` (``koji.read_config``), as a dict.

    ``config_path`` is a koji config file read instead of ``~/.koji/config.d`` and
    ``~/.koji/config`` (the system's ``/etc/koji.conf[.d]`` are read in both cases).
    """
    try:
        return dict(koji.read_config(profile, user_config=config_path))
    except koji.ConfigurationError as exc:
        where = config_path or "/etc/koji.conf, /etc/koji.conf.d/, ~/.koji/config(.d)"
        raise HubError(f"koji profile {profile!r}: {exc} (looked in {where})") from None


def _service_profile(service):
    """(config path, profile name) of an EmbeddedService-like object."""
    path = getattr(service, "koji_config_path", None)
    name = None
    for attr in ("profile", "koji_profile", "profile_name"):
        name = getattr(service, attr, None)
        if isinstance(name, str):
            break
    if not path or not name:
        raise HubError(f"{service!r} has no koji_config_path/profile to connect with")
    return path, name


class KojiWrapper:
    """A connection to the build service of one compose.

    Built from, in this order: ``service`` (an EmbeddedService), ``config_path`` + ``profile``
    (a koji client config file), or ``conf.koji_profile``. ``compose`` (optional) gives the
    place where started tasks are recorded.
    """

    def __init__(self, conf=None, compose=None, *, profile=None, config_path=None,
                 service=None, download=None):
        self.conf = conf
        self.compose = compose
        self.service = service
        if service is not None:
            config_path, profile = _service_profile(service)
        if profile is None and conf is not None:
            profile = getattr(conf, "koji_profile", None)
        if not profile:
            raise HubError("no build service: set koji_profile or buildservice")
        self.profile = profile
        self.config_path = config_path
        self.opts = read_profile(profile, config_path)
        self.server = self.opts["server"]
        self.topdir = self.opts.get("topdir")
        self.topurl = self.opts.get("topurl")
        local = bool(self.topdir) and os.path.isdir(os.path.join(self.topdir, "packages"))
        self.local = local if download is None else not download
        if not self.local and not self.topurl:
            raise HubError(f"koji profile {profile!r}: topdir {self.topdir} is not on this "
                           "machine and the profile has no topurl to download files from")
        self.pathinfo = koji.PathInfo(self.topdir if self.local else self.topurl)
        self._tls = threading.local()
        self._lock = threading.Lock()
        self._tasks = []
        self._http = None
        self._exit = contextlib.ExitStack()
        self._stopping = threading.Event()      # set by cancel_all: waits end at once

    # ---- construction from a compose --------------------------------------------------------
    @classmethod
    def for_compose(cls, compose):
        """The compose's connection: ``koji_profile``, else the ``buildservice`` section
        (starts the embedded service, stopped by :meth:`close`); None when neither is set."""
        conf = compose.conf
        if getattr(conf, "koji_profile", None):
            return cls(conf, compose)
        section = getattr(conf, "buildservice", None)
        if not section or not section.get("embedded", True):
            return None
        from .buildsvc.embedded import EmbeddedService

        topdir = conf.resolve_path(section["topdir"])
        stack = contextlib.ExitStack()
        service = stack.enter_context(EmbeddedService(
            topdir, db_url=section.get("db"), builders=section.get("builders", 1)))
        try:
            wrapper = cls(conf, compose, service=service)
        except BaseException:
            stack.close()
            raise
        wrapper._exit = stack
        compose.log.info("Build service: embedded hub %s (top directory %s)",
                         getattr(service, "url", "?"), topdir)
        if section.get("seed_universe"):
            try:
                wrapper.seed_universe(conf.resolve_path(section["seed_universe"]))
            except BaseException:
                wrapper.close()
                raise
        return wrapper

    def seed_universe(self, path):
        """Import the demo universe at ``path`` (built when missing) into the release's tags."""
        from .buildsvc.seed import TagChain, import_universe
        from .universe import ensure_universe

        conf = self.conf
        universe = ensure_universe(path, quiet=True)
        admin = getattr(self.service, "admin_session", None)
        session = admin() if callable(admin) else self.session
        tags = TagChain.for_release(conf.release_short, conf.release_version)
        log_path = self.compose.paths.log_file("global", "buildservice-seed") \
            if self.compose is not None else None
        result = import_universe(session, universe, tags=tags, log_path=log_path)
        if self.compose is not None:
            self.compose.log.info("Build service seeded from %s: %d RPMs imported, %d builds "
                                  "tagged (event %s)", path, result.imported, result.tagged,
                                  result.event["id"])
        return result

    # ---- sessions ---------------------------------------------------------------------------
    @property
    def wants_login(self):
        authtype = self.opts.get("authtype")
        cert = self.opts.get("cert")
        if authtype == "noauth":
            return False
        return bool(cert and os.path.exists(os.path.expanduser(cert))
                    and authtype in (None, "ssl"))

    def new_session(self, login=None, **overrides):
        """A new ClientSession with the profile's options (``overrides`` win)."""
        opts = dict(self.opts, **overrides)
        session = koji.ClientSession(self.server, opts)
        if self.wants_login if login is None else login:
            try:
                session.ssl_login(os.path.expanduser(opts["cert"]), None,
                                  os.path.expanduser(opts["serverca"]))
            except Exception as exc:
                raise HubError(f"cannot log in to {self.server} with {opts['cert']} "
                               f"(profile {self.profile}): {exc}") from None
        return session

    @property
    def session(self):
        """This thread's ClientSession (logged in when the profile can)."""
        session = getattr(self._tls, "session", None)
        if session is None:
            session = self.new_session()
            self._tls.session = session
            with self._lock:
                self._sessions = getattr(self, "_sessions", []) + [session]
        return session

    def call(self, method, *args, attempts=3, **kwargs):
        """``session.<method>(...)`` retried on connection errors (not on faults)."""
        delay = float(self.opts.get("retry_interval") or 2)
        for attempt in range(1, attempts + 1):
            try:
                return getattr(self.session, method)(*args, **kwargs)
            except connection_errors() as exc:
                if attempt == attempts:
                    raise HubError(f"{self.server}: {method} failed after {attempts} attempts: "
                                   f"{exc}") from None
                log.warning("%s: %s failed (%s); retrying in %.0f s", self.server, method, exc,
                            delay)
                time.sleep(delay)

    def multicall(self, method, arglist, strict=True, batch=500):
        """Results of ``method`` for each entry of ``arglist`` (a list of argument lists, or of
        ``(args, kwargs)`` pairs) in one multicall; faults raise when ``strict``."""
        calls = []
        with self.session.multicall(strict=strict, batch=batch) as m:
            for entry in arglist:
                if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], dict):
                    args, kwargs = entry
                else:
                    args, kwargs = entry, {}
                calls.append(getattr(m, method)(*args, **kwargs))
        results = []
        for c in calls:
            try:
                results.append(c.result)
            except koji.GenericError as exc:
                results.append(exc)
        return results

    # ---- events -----------------------------------------------------------------------------
    def get_event(self, spec=None):
        """``{id, ts}`` of the event ``spec`` names: an id, a compose directory (its
        ``work/global/koji-event``), or None for the newest event."""
        if spec is None or spec == "":
            return self.call("getLastEvent")
        if isinstance(spec, int) or str(spec).isdigit():
            event = self.call("getEvent", int(spec), strict=False)
            if event is None:
                raise HubError(f"{self.server} has no event {spec}")
            return event
        path = os.path.join(str(spec), "work", "global", "koji-event")
        if not os.path.isfile(path):
            raise HubError(f"--koji-event {spec}: neither an event id nor a compose directory "
                           f"(no {path})")
        with open(path, encoding="utf-8") as fh:
            saved = json.load(fh)
        return self.get_event(int(saved["id"]))

    # ---- tasks ------------------------------------------------------------------------------
    def record_task(self, task_id):
        """Remember a task the compose started (``logs/global/koji-tasks/<id>``)."""
        with self._lock:
            self._tasks.append(int(task_id))
        if self.compose is not None:
            directory = self.compose.paths.koji_tasks_dir()
            open(os.path.join(directory, str(int(task_id))), "w").close()

    @property
    def tasks(self):
        with self._lock:
            return list(self._tasks)

    def cancel_all(self, timeout=10):
        """Cancel every recorded task that has not finished; returns the canceled ids.

        Runs from the signal handler's thread with a session of its own, short timeouts and
        no retries, so a dead hub cannot keep a terminated compose alive.
        """
        self._stopping.set()
        ids = self.tasks
        if not ids:
            return []
        canceled = []
        try:
            session = self.new_session(timeout=timeout, max_retries=0, anon_retry=False)
            with session.multicall(strict=False) as m:
                infos = [m.getTaskInfo(i) for i in ids]
            for task_id, info in zip(ids, infos):
                try:
                    state = info.result["state"]
                except (koji.GenericError, TypeError, KeyError):
                    state = None
                if state in FINISHED_STATES:
                    continue
                try:
                    session.cancelTask(task_id)
                    canceled.append(task_id)
                except Exception as exc:  # noqa: B902 - keep canceling the others
                    log.warning("cannot cancel task %s: %s", task_id, exc)
            with contextlib.suppress(Exception):
                session.logout()
        except Exception as exc:  # noqa: B902 - called while terminating: log, never raise
            log.error("cannot cancel the compose's tasks %s on %s: %s", ids, self.server, exc)
        if canceled:
            log.info("canceled tasks %s", canceled)
        return canceled

    def wait_for_task(self, task_id, log_path=None, poll=None, timeout=None):
        """Wait until the task finishes; returns its getTaskInfo. State changes are logged."""
        poll = float(poll or self.opts.get("poll_interval") or 5)
        deadline = time.monotonic() + timeout if timeout else None
        last = None
        while True:
            info = self.call("getTaskInfo", task_id, attempts=10)
            if info is None:
                raise HubError(f"task {task_id} does not exist on {self.server}")
            state = koji.TASK_STATES[info["state"]]
            if state != last:
                line = f"{time.strftime('%H:%M:%S')} task {task_id} {info['method']}: {state}"
                log.debug(line)
                if log_path:
                    with open(log_path, "a", encoding="utf-8") as fh:
                        fh.write(line + "\n")
                last = state
            if info["state"] in FINISHED_STATES:
                return info
            if deadline and time.monotonic() > deadline:
                raise HubError(f"task {task_id} still {state} after {timeout} s")
            if self._stopping.wait(poll):
                raise HubError(f"stopped waiting for task {task_id}: the compose is ending")

    def task_failure(self, task_id):
        """The fault a failed task ended with, as ``Class: message`` (or its state)."""
        try:
            self.call("getTaskResult", task_id)
        except koji.GenericError as exc:
            return f"{type(exc).__name__}: {exc}"
        info = self.call("getTaskInfo", task_id)
        return koji.TASK_STATES[info["state"]] if info else "unknown task"

    def upload_file(self, path, prefix="cli-upload"):
        """Upload ``path`` to ``<prefix>/<unique>/`` under the hub's work/; returns the server
        path as task arguments name files (``koji spin-livecd`` does the same)."""
        import uuid   # only here: 2-4 ms (with platform) of every compose's start

        serverdir = "%s/%r.%s" % (prefix, time.time(), uuid.uuid4().hex[:8])
        self.session.uploadWrapper(path, serverdir, name=os.path.basename(path))
        return f"{serverdir}/{os.path.basename(path)}"

    def publish_compose(self, status):
        """Upload ``compose.json`` (id, status, times, the tasks it started) to the service's
        ``work/pungi-like-composes/<id>-<hash of its directory>/``, where the service's web
        pages list the composes that used it (a real Koji just keeps the file in work/). A
        failure is logged, never fatal: the record is for people, the compose is the product."""
        import hashlib
        import json
        import tempfile

        compose = self.compose
        if compose is None or not self.wants_login:
            return None  # uploads need a login; an anonymous profile only reads
        key = "%s-%s" % (compose.compose_id,
                         hashlib.sha256(compose.topdir.encode()).hexdigest()[:8])
        record = {"compose_id": compose.compose_id, "status": status,
                  "label": compose.compose_label, "topdir": compose.topdir,
                  "started": getattr(compose, "started_ts", None), "updated": time.time(),
                  "tasks": sorted(self.tasks)}
        serverdir = "pungi-like-composes/" + key
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "compose.json")
                with open(path, "w", encoding="utf-8") as fh:
                    json.dump(record, fh, indent=2, sort_keys=True)
                self.session.uploadWrapper(path, serverdir, name="compose.json", overwrite=True)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            log.warning("could not record the compose on the build service: %s", exc)
            return None
        return serverdir + "/compose.json"

    # ---- files ------------------------------------------------------------------------------
    def rpm_path(self, build, rpm, sigkey=None):
        """Where an RPM is: its signed copy for ``sigkey``, or the unsigned file (None/'')."""
        base = self.pathinfo.build(build)
        if sigkey:
            return f"{base}/{self.pathinfo.signed(rpm, sigkey.lower())}"
        return f"{base}/{self.pathinfo.rpm(rpm)}"

    def task_output_path(self, task_id, filename):
        return f"{self.pathinfo.task(task_id)}/{filename}"

    def image_build_path(self, build, filename):
        return f"{self.pathinfo.imagebuild(build)}/{filename}"

    def _http_session(self):
        if self._http is None:
            import requests

            ca = self.opts.get("serverca")
            # given per request: a session-level verify loses to REQUESTS_CA_BUNDLE
            self._verify = os.path.expanduser(ca) if ca and os.path.exists(
                os.path.expanduser(ca)) else True
            self._http = requests.Session()
        return self._http

    def exists(self, location):
        """Does the file exist (a local path, or a URL under topurl)?"""
        if not _is_url(location):
            return os.path.isfile(location)
        for attempt in range(3):
            try:
                resp = self._http_session().head(location, timeout=60, verify=self._verify)
                return resp.status_code == 200
            except connection_errors() as exc:
                if attempt == 2:
                    raise HubError(f"cannot reach {location}: {exc}") from None
                time.sleep(1)

    def fetch(self, source, target):
        """Put ``source`` (path or URL) at ``target``: hard link (copy across file systems) or
        download (written to a temp file, renamed when complete). Returns ``target``."""
        if not _is_url(source):
            if not os.path.isfile(source):
                raise HubError(f"{source} does not exist")
            if not (os.path.exists(target) and os.path.samefile(source, target)):
                link_file(source, target, "hardlink-or-copy")
            return target
        os.makedirs(os.path.dirname(target), exist_ok=True)
        for attempt in range(1, 4):
            fd, tmp = tempfile.mkstemp(prefix=".download-", dir=os.path.dirname(target))
            try:
                with os.fdopen(fd, "wb") as fh, \
                        self._http_session().get(source, stream=True, timeout=300,
                                                 verify=self._verify) as resp:
                    if resp.status_code != 200:
                        raise HubError(f"GET {source}: HTTP {resp.status_code}")
                    for chunk in resp.iter_content(1 << 20):
                        fh.write(chunk)
                os.chmod(tmp, 0o644)
                os.replace(tmp, target)
                return target
            except connection_errors() as exc:
                if attempt == 3:
                    raise HubError(f"cannot download {source}: {exc}") from None
                time.sleep(attempt)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)

    # ---- end --------------------------------------------------------------------------------
    def close(self):
        """Log out every session and stop the embedded service this wrapper started."""
        for session in getattr(self, "_sessions", []):
            with contextlib.suppress(Exception):
                if session.logged_in:
                    session.logout()
        self._sessions = []
        if self._http is not None:
            self._http.close()
        self._exit.close()


def _is_url(location):
    return "://" in str(location)
