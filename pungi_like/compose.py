"""The Compose: identity, directory, STATUS, logging, deliverables and thread-safe recorders.

Units of work never mutate shared state except through the recorders kept here (``rpms``,
``images``, ``results``) and the deliverable methods, all of which take a lock.
"""

import errno
import json
import logging
import os
import threading
import time

from . import metadata, reuse
from .errors import PhaseError, PungiLikeError
from .fileutil import Syncer, write_atomic, write_json_atomic
from .paths import Paths

STATUSES = ("STARTED", "FINISHED", "FINISHED_INCOMPLETE", "DOOMED", "TERMINATED")
LOG_FORMAT = "%(asctime)s [%(levelname)-8s] %(message)s"


def compose_date(now=None):
    """YYYYMMDD of the compose. Local time, as Pungi (and the cron jobs written for it) expect;
    with SOURCE_DATE_EPOCH set, that instant in UTC, so rebuilds get the same ID."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and now is None:
        return time.strftime("%Y%m%d", time.gmtime(int(epoch)))
    return time.strftime("%Y%m%d", time.localtime(now))


def allocate_compose_dir(target_dir, make_id):
    """Reserve ``<target_dir>/<id>`` by atomic mkdir, raising the respin on collision.

    ``make_id(respin)`` gives the compose ID for a respin. Returns (topdir, compose_id, respin).
    Two composes started at once never share a directory.
    """
    os.makedirs(target_dir, exist_ok=True)
    respin = 0
    while True:
        cid = make_id(respin)
        topdir = os.path.join(target_dir, cid)
        try:
            os.mkdir(topdir)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
            respin += 1
            continue
        return topdir, cid, respin


class Results:
    """Data one unit hands to another, keyed by tuples such as ("pkgset", "x86_64")."""

    def __init__(self):
        self._data = {}
        self._lock = threading.Lock()

    def put(self, key, value):
        with self._lock:
            self._data[key] = value
        reuse.note_journal("put", key, value)  # what a reused unit must hand over again

    def put_lazy(self, key, make):
        """A value handed over by a reused unit, built by ``make()`` when first asked for (most
        are never read: their readers are reused too)."""
        with self._lock:
            self._data[key] = reuse.Lazy(make)

    def get(self, key, default=None):
        with self._lock:
            value = self._data.get(key, default)
            if isinstance(value, reuse.Lazy):
                value = self._data[key] = value.make()
            return value

    def items(self):
        with self._lock:
            for key, value in list(self._data.items()):
                if isinstance(value, reuse.Lazy):
                    self._data[key] = value.make()
            return list(self._data.items())


class Compose:
    """One compose run. Build it with ``Compose.create`` (new directory) or ``Compose.open``."""

    def __init__(self, conf, topdir, compose_id, compose_type, date, respin, label=None,
                 supported=False, notifier=None):
        self.conf = conf
        self.topdir = os.path.abspath(topdir)
        self.paths = Paths(self.topdir)
        self.compose_id = compose_id
        self.compose_type = compose_type
        self.compose_type_suffix = metadata.compose_type_suffix(compose_type)
        self.compose_date = date
        self.compose_respin = respin
        self.compose_label = label
        self.supported = supported
        self.notifier = notifier
        self.variants = {}
        self.all_variants = []
        self.rpms = metadata.RpmsRecorder()
        self.images = metadata.ImagesRecorder()
        self.results = Results()
        self.log = logging.getLogger("pungi_like.compose")
        self._lock = threading.Lock()
        self._deliverables = {"required": {}, "attempted": {}, "failed": {}}
        self.failed_deliverables = []
        self.status = None
        self._log_handler = None
        self.images_expected = False
        self.koji_event = None
        self.scheduler = None
        self.skipped_phases = set()
        self.koji = None  # pungi_like.kojiclient.KojiWrapper when a build service is configured
        # files durable by the time STATUS changes (the manifests: see ``write_status``)
        self.syncer = Syncer()

    # ---- time stamps ----------------------------------------------------------------------
    def adopt_source_date_epoch(self, epoch, origin):
        """Make the time of the inputs (``origin`` says which) the time stamp of every file
        the compose writes from now on, unless SOURCE_DATE_EPOCH is set already: then two
        composes of the same inputs give the same bytes, whenever they run. The compose's own
        identity (its id and date) was fixed before and keeps the real time. Sets the
        environment variable, which the tools and the driver's children read; the driver puts
        back what was there when it ends."""
        if os.environ.get("SOURCE_DATE_EPOCH", "").strip():
            self.log.info("Time stamps: SOURCE_DATE_EPOCH=%s (from the environment)",
                          os.environ["SOURCE_DATE_EPOCH"])
            return int(os.environ["SOURCE_DATE_EPOCH"].strip())
        if not epoch:
            return None
        epoch = int(epoch)
        os.environ["SOURCE_DATE_EPOCH"] = str(epoch)
        reuse.note_journal("epoch", epoch, origin)
        self.log.info("Time stamps: SOURCE_DATE_EPOCH=%d (%s, %s UTC)", epoch, origin,
                      time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)))
        return epoch

    # ---- creation -------------------------------------------------------------------------
    @classmethod
    def create(cls, conf, target_dir=None, compose_dir=None, compose_type="production",
               label=None, supported=False, notifier=None, date=None):
        date = date or compose_date()

        def make_id(respin):
            return metadata.compose_id(
                conf.release_short, conf.release_version, conf.release_type, compose_type, date,
                respin, conf.base_product_short, conf.base_product_version,
                conf.base_product_type)

        if compose_dir:
            topdir = os.path.abspath(compose_dir)
            os.makedirs(topdir, exist_ok=True)
            base = os.path.join(topdir, "work", "global", "composeinfo-base.json")
            if os.path.exists(base):
                with open(base, encoding="utf-8") as fh:
                    info = json.load(fh)
                cid, respin, date = info["id"], info["respin"], info["date"]
            else:
                respin = 0
                cid = make_id(respin)
        else:
            topdir, cid, respin = allocate_compose_dir(target_dir, make_id)
        compose = cls(conf, topdir, cid, compose_type, date, respin, label, supported, notifier)
        # durable before STATUS leaves STARTED (write_status): a STARTED compose is trusted by
        # nobody but --resume, which cannot resume one whose identity a crash took
        write_atomic(compose.paths.compose_id_file(), cid, fsync=compose.syncer)
        write_json_atomic(compose.paths.composeinfo_base(), {
            "id": cid, "date": date, "type": compose_type, "respin": respin,
            "label": label, "final": bool(supported),
        }, fsync=compose.syncer)
        return compose

    # ---- logging --------------------------------------------------------------------------
    def setup_logging(self, debug=False):
        handler = logging.FileHandler(self.paths.global_log(), encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%d %H:%M:%S"))
        handler.setLevel(logging.DEBUG if debug else logging.INFO)
        root = logging.getLogger("pungi_like")
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        self._log_handler = handler

    def close_logging(self):
        if self._log_handler:
            logging.getLogger("pungi_like").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def write_traceback(self, detail, text):
        path = self.paths.traceback_file(detail)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
        return path

    # ---- identity for manifests and notifications -----------------------------------------
    def compose_info(self):
        return metadata.ComposeInfo(
            id=self.compose_id, type=self.compose_type, date=self.compose_date,
            respin=self.compose_respin, label=self.compose_label, final=bool(self.supported))

    def notification_body(self):
        conf = self.conf
        body = {
            "compose_id": self.compose_id,
            "compose_date": self.compose_date,
            "compose_type": self.compose_type,
            "compose_respin": self.compose_respin,
            "compose_label": self.compose_label,
            "compose_path": self.topdir,
            "location": self.paths.compose_dir(),
            "release_short": conf.release_short,
            "release_name": conf.release_name,
            "release_version": conf.release_version,
            "release_type": conf.release_type,
            "release_is_layered": bool(conf.base_product_short),
        }
        if conf.base_product_short:
            body.update(base_product_name=conf.base_product_name,
                        base_product_short=conf.base_product_short,
                        base_product_version=conf.base_product_version,
                        base_product_type=conf.base_product_type)
        return body

    def notify(self, message, **extra):
        if self.notifier:
            body = self.notification_body()
            body.update(extra)
            self.notifier.send(message, body)

    # ---- STATUS ---------------------------------------------------------------------------
    def write_status(self, status):
        if status not in STATUSES:
            raise ValueError(f"unknown compose status {status!r}")
        with self._lock:
            if self.status == status:
                return
            if self.status in ("FINISHED", "FINISHED_INCOMPLETE") and status != self.status:
                raise PungiLikeError(f"Could not modify a {self.status} compose")
            # the files written with the syncer (the compose's identity at its start, its
            # manifests since metadata.write: fsynced in the background) are durable before
            # STATUS says anything but STARTED; STARTED itself vouches for nothing (the fsyncs
            # of a compose's first files took 10-20 ms on the path of every compose's start)
            started = status == "STARTED"
            if not started:
                self.syncer.wait()
            self.status = status
            write_atomic(self.paths.status_file(), status + "\n",
                         fsync=self.syncer if started else True)
            self._write_deliverables(fsync=self.syncer if started else True)
        self.log.info("Compose status: %s", status)
        self.notify("status-change", status=status)

    # ---- deliverables ---------------------------------------------------------------------
    def _add_deliverable(self, bucket, kind, variant, arch, subvariant):
        entry = [variant, arch, subvariant]
        items = self._deliverables[bucket].setdefault(kind, [])
        if entry not in items:
            items.append(entry)

    def _write_deliverables(self, fsync=False):
        # Pungi's three keys, plus what failed and why (task ids of build service tasks are in
        # the error), so a failure can be followed up from this file alone. Rewritten as units
        # start and end (under the lock units take to start); synced with the STATUS it goes
        # with: an fsync forces a journal commit, which stalled the hard links a re-run makes
        # meanwhile (six of them in a no-op re-run)
        data = dict(self._deliverables, failed_details=self.failed_deliverables)
        write_json_atomic(self.paths.deliverables_file(), data, fsync=fsync)

    def require_deliverable(self, kind, variant, arch, subvariant=None):
        with self._lock:
            self._add_deliverable("required", kind, variant, arch, subvariant)
            self._write_deliverables()

    def attempt_deliverable(self, kind, variant, arch, subvariant=None):
        with self._lock:
            self._add_deliverable("attempted", kind, variant, arch, subvariant)
            self._write_deliverables()

    def is_failable(self, kind, variant, arch, subvariant=None):
        """``failable_deliverables`` as Pungi reads it: a variant/arch mapping of deliverable
        names (``*`` never matches src). Phases whose blocks carry their own ``failable`` flag
        register it with ``mark_failable``."""
        with self._lock:
            if (kind, variant, arch, subvariant) in getattr(self, "_failable_extra", set()):
                return True
        if variant is None or arch is None:
            return False
        return kind in self.conf.variant_arch_values("failable_deliverables", variant, arch)

    def mark_failable(self, kind, variant, arch, subvariant=None):
        with self._lock:
            if not hasattr(self, "_failable_extra"):
                self._failable_extra = set()
            self._failable_extra.add((kind, variant, arch, subvariant))

    def fail_deliverable(self, kind, variant, arch, subvariant=None, error=None, tb=None):
        sub = f", subvariant {subvariant}" if subvariant else ""
        self.log.warning("[FAIL] %s (variant %s, arch %s%s) failed, but going on anyway.",
                         kind, variant, arch, sub)
        if error is not None:
            self.log.warning("%s", error)
        if tb:
            self.log.debug("%s", tb)
        with self._lock:
            self._add_deliverable("failed", kind, variant, arch, subvariant)
            self.failed_deliverables.append({"kind": kind, "variant": variant, "arch": arch,
                                             "subvariant": subvariant, "error": str(error)})
            self._write_deliverables()

    # ---- variants -------------------------------------------------------------------------
    def set_variants(self, top_variants, all_variants):
        self.variants = dict(top_variants)
        self.all_variants = list(all_variants)

    def get_arches(self):
        return sorted({a for v in self.all_variants for a in v.arches})

    def variants_for_arch(self, arch, types=None):
        return [v for v in self.all_variants
                if arch in v.arches and (types is None or v.type in types)]

    def get_variant(self, uid):
        for v in self.all_variants:
            if v.uid == uid:
                return v
        raise PhaseError(f"unknown variant {uid}")
