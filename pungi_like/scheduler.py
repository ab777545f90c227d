"""Runs phase units as a dependency graph on a bounded thread pool.

A unit ``needs`` units whose results it uses (it is skipped when one of them failed) and may run
``after`` units it only has to follow (it runs whatever their result: the manifests are written
after every image unit, including the failed ones).

Pungi runs phases behind fixed barriers (every ISO waits for every variant's gather). Here a unit
starts as soon as the units it needs are done, so the work of one variant overlaps another's.
When more units are ready than there are free workers, the one heading the longest remaining
chain goes first (``Scheduler.rank``: estimated unit costs summed along the path to the last
unit), so that a source tree's short units do not hold both cores while the binary tree's
createrepo and ISO, on the compose's critical path, wait; and units estimated to be short
(``LIGHT_WEIGHT``) run beside the ``max_workers`` others instead of queueing behind them.

A unit's failure is handled by the compose's failure model:
- a unit whose deliverable is failable: recorded in deliverables.json, its dependents are skipped,
  the compose ends FINISHED_INCOMPLETE;
- any other failure: no new unit starts, running units finish, and ``SchedulerError`` is raised
  naming the unit, its log and the cause (the compose ends DOOMED).

Each unit's start, end, result and log path go to ``logs/global/timeline.json`` (rewritten
atomically after every unit, so it is there even after a kill), and each finished unit records a
hash of its inputs with its outputs in ``work/global/units/<name>.json``. These files are written
by one writer thread, in the order the units ended, while the next units already run (a package
set's record data runs to megabytes of JSON, which held the next unit back by a tenth of a
second); ``run`` returns once they are all on disk. A kill can lose the records of the units that
ended last: ``--resume`` runs those again.

A record itself (its files' digests, the JSON of what the unit handed over, its output hash) is
built by one record thread after the unit ended, in the order the units ended. A unit that needs
it starts at once when it needs no key to start: when no old compose holds a unit of its name (a
cold compose), its key is made with its record, after it ran, waiting for the output hashes of the
units it needs then; a unit that may be taken from an old compose waits for them as it starts
(at 60,000 RPMs the records of the package set and of a gather took a fifth of the compose's
critical path).

Reuse (``pungi_like.reuse``): a unit's key hashes its declared inputs and the output hashes of
the units it needs or follows, with the compose's directory and id replaced by placeholders.
When ``reuse_pool`` holds a finished unit of the same name and key (an old compose's, or this
compose's own on resume) whose files verify, the unit takes its results instead of running; the
timeline marks it ``reused`` with ``reused_from`` (the compose id).
"""

import collections.abc
import concurrent.futures
import fnmatch
import gc
import hashlib
import json
import logging
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from . import reuse, reuse_delta, reuse_differs, reuse_keys, reuse_precheck
from .errors import PhaseError, PungiLikeError
from .fileutil import write_atomic, write_json_atomic

log = logging.getLogger("pungi_like.scheduler")


@dataclass
class Unit:
    """One piece of a phase's work (usually one variant.arch)."""

    name: str
    run: Callable[["Unit"], Optional[dict]]
    needs: tuple = ()
    after: tuple = ()  # ordering only: wait for these to end, whatever their result
    variant: Any = None
    arch: Optional[str] = None
    deliverable: Optional[tuple] = None  # (kind, variant_uid, arch, subvariant)
    inputs: Any = None
    log_path: Optional[str] = None
    phase: str = ""
    #: set by a unit whose work runs in another process (a gather in a worker process): the
    #: record thread need not wait for it (``RECORDS_WAIT_FOR``)
    in_child: bool = False

    def __post_init__(self):
        if not self.phase:
            self.phase = self.name.split(".", 1)[0]
        self.needs = tuple(self.needs)
        self.after = tuple(self.after)


# Estimated seconds of one unit of each phase, for ordering ready units only (never for
# correctness): the units of a 10,000-RPM compose on an idle 2-core machine (doc/performance.md),
# rounded; image builds and boot tests take minutes. A source tree's units (arch "src") handle one
# package per source RPM, a fraction of a binary tree's.
PHASE_WEIGHTS = {"init": 0.1, "pkgset": 1.0, "gather": 1.5, "createrepo": 1.0,
                 "extra_files": 0.1, "buildinstall": 30.0, "createiso": 1.5, "extra_isos": 1.5,
                 "liveimages": 30.0, "live_media": 30.0, "image_build": 30.0,
                 "imagechecksum": 0.2, "metadata": 0.2, "test": 0.1}
SOURCE_WEIGHT = 0.2
# Units estimated at no more than this (a source tree's createrepo and ISO, checksums, the
# manifests, repoclosure, init) do not wait for a worker of ``max_workers``: up to as many
# again run beside them (with ``max_workers`` above 1). Ordered by the longest remaining chain
# alone, the source trees' units ran last, after both DVDs, and held back the checksums that
# follow every ISO of a variant; these units mostly wait for a tool or take a fraction of a
# second, so they fit beside the long ones on 2 cores.
LIGHT_WEIGHT = 0.4   # above 0.3 = createiso's 1.5 * SOURCE_WEIGHT, which is 0.30000000000000004


def compact_json(value, chunk=500):
    """``json.dumps(value, default=str, separators=(",", ":"))``, the same text, with the dicts
    and lists directly under a top-level dict encoded ``chunk`` items per call: json's C encoder
    holds the interpreter lock for a whole call, and one call on a package set's record data
    (megabytes) held the units starting meanwhile back; one call per item cost 70 % more CPU."""
    return "".join(compact_json_pieces(value, chunk))


def compact_json_pieces(value, chunk=500):
    """The text of ``compact_json`` in pieces of up to ``chunk`` items, to be written one after
    another: a gather's record data is tens of megabytes, which joined (and then encoded) were
    as many megabytes more of the compose's peak memory."""
    def dumps(v):
        return json.dumps(v, default=str, separators=(",", ":"))

    def pieces(v):
        if isinstance(v, dict) and len(v) > chunk and all(isinstance(k, str) for k in v):
            items = list(v.items())
            for i in range(0, len(items), chunk):
                yield ("{" if i == 0 else ",") + dumps(dict(items[i:i + chunk]))[1:-1]
            yield "}"
        elif isinstance(v, (list, tuple)) and len(v) > chunk:
            for i in range(0, len(v), chunk):
                yield ("[" if i == 0 else ",") + dumps(list(v[i:i + chunk]))[1:-1]
            yield "]"
        else:
            yield dumps(v)

    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        for n, (k, v) in enumerate(value.items()):
            yield ("{" if n == 0 else ",") + dumps(k) + ":"
            yield from pieces(v)
        yield "}" if value else "{}"
    else:
        yield dumps(value)


#: characters that split the JSON text ``json_digest`` hashes into pieces
_PIECE_EDGES = '{}[],:"\\'
_BIG = 1 << 20


def json_digest(value, names):
    """``reuse.digest_text(names.norm(json.dumps(value, sort_keys=True, default=str)))`` of
    the dict ``value``, the same digest, from pieces of that text: a package set's or gather's
    hand-over holds its journal, tens of megabytes of JSON, which dumped, normalised and
    encoded in one piece each cost as many megabytes more of the compose's peak memory. The
    pieces are cut next to ``{}[],:`` only (a long string after its commas), so a compose's
    directory or id without those characters, quotes and backslashes cannot span two pieces;
    any other
    is hashed in one piece (as is one starting with a space)."""
    needles = (names.topdir, names.compose_id)
    if any(c in needle for needle in needles for c in _PIECE_EDGES) \
            or any(needle[:1].isspace() for needle in needles) or not isinstance(value, dict):
        return reuse.digest_text(names.norm(json.dumps(value, sort_keys=True, default=str)))
    digest = hashlib.sha256()

    def add(text):
        text = names.norm(text)
        for i in range(0, len(text), _BIG):
            digest.update(text[i:i + _BIG].encode("utf-8"))

    def dumps(v):
        return json.dumps(v, sort_keys=True, default=str)

    def big(v):
        return type(v) is str and len(v) > _BIG

    def add_string(text):
        add('"')
        start = 0
        while start < len(text):
            cut = text.find(",", start + _BIG)
            cut = len(text) if cut < 0 else cut + 1
            add(dumps(text[start:cut])[1:-1])
            start = cut
        add('"')

    def add_list(items):
        add("[")
        batch, first = [], True

        def flush():
            nonlocal first
            if batch:
                add(("" if first else ", ") + dumps(batch)[1:-1])
                first = False
                batch.clear()

        for item in items:
            if big(item) or (type(item) is list and any(big(x) for x in item)):
                flush()
                add("" if first else ", ")
                first = False
                if big(item):
                    add_string(item)
                else:
                    add_list(item)
            else:
                batch.append(item)
                if len(batch) >= 500:
                    flush()
        flush()
        add("]")

    add("{")
    for n, k in enumerate(sorted(value)):
        add(("" if n == 0 else ", ") + dumps(k) + ": ")
        v = value[k]
        if type(v) is list:
            add_list(v)
        elif big(v):
            add_string(v)
        else:
            add(dumps(v))
    add("}")
    return digest.hexdigest()


def _place_index(src, dst):
    """The index of the record data ``src`` (``write_index``) beside its link ``dst``, when
    it has one; an old one at ``dst`` removed otherwise (it is bound to the record data it was
    made for and read for no other, but not kept either)."""
    src_index, dst_index = reuse_precheck.index_path(src), reuse_precheck.index_path(dst)
    try:
        os.link(src_index, dst_index)
        return
    except FileNotFoundError:
        pass
    except OSError:
        try:
            reuse.place_file(src_index, dst_index)
            return
        except OSError:
            pass
    try:
        os.unlink(dst_index)
    except OSError:
        pass


def _write_data(path, files, journal):
    """A unit's record data: compact (a package set's holds thousands of files and headers),
    the journal's long texts on lines of their own (``reuse.journal_lines``); no fsync, as the
    record (``Scheduler._write_record``)."""
    journal, lines = reuse.journal_lines(journal)
    write_atomic(path, reuse.data_pieces(compact_json_pieces(
        {"files": files, "journal": journal}), lines), fsync=False)
    write_index(path, files)


def write_index(path, files):
    """The index of the record data just written at ``path`` from ``files``
    (``reuse_precheck.make_index``: what the precheck child of a later re-run reads instead of
    decoding the files' JSON); none, and an old one removed, when it cannot be made. Bound to
    the record data's inode, size and modification time: made after it, not fsync'ed."""
    index = reuse_precheck.index_path(path)
    try:
        st = os.stat(path)
        made = reuse_precheck.make_index(files, (st.st_ino, st.st_size, st.st_mtime_ns))
        if made is not None:
            # without ``default``: an entry holding a value the record data's JSON wrote as
            # its ``str`` has no index (it is read as the record data has it)
            write_atomic(index, reuse_precheck.index_text(made), fsync=False)
            return
    except (OSError, ValueError, TypeError) as exc:
        logging.getLogger(__name__).debug("no index for %s: %s", path, exc)
    try:
        os.unlink(index)
    except OSError:
        pass


class _ChildLog:
    """The compose's log in a record child: what ``_build`` logs there is handed back and
    logged by the parent (the child writes no file of the compose's logs)."""

    def __init__(self):
        self.lines = []

    def log(self, level, msg, *args):
        self.lines.append((level, msg % args if args else msg))

    def debug(self, msg, *args):
        self.log(logging.DEBUG, msg, *args)

    def info(self, msg, *args):
        self.log(logging.INFO, msg, *args)

    def warning(self, msg, *args):
        self.log(logging.WARNING, msg, *args)

    def error(self, msg, *args):
        self.log(logging.ERROR, msg, *args)


def record_child(scheduler, args):
    """Build the records of the units of ``args`` (``_build``'s arguments, in order) in a child
    process forked from this one; the list of their infos as ``_build`` returns them, less
    their files and journal (the child wrote their record datas: ``data_written``), or None
    when the child failed or did not answer within RECORD_CHILD_TIMEOUT s (then killed).

    The child holds a copy of this process's memory (the units' handed-over values, the
    digests known) and runs only this function's work, in one thread: the locks it takes are
    made anew first (another thread may have held one as it forked), it makes no key (the
    output hash of a recorded unit holds none; a unit whose record is not reusable is
    answered None), logs nothing itself, collects no garbage and leaves by ``os._exit``. It runs
    at a lower CPU priority (``digest_prefill.lower_priority``): no unit waits for these records
    in a compose without old units (only the compose's end does), so the child takes what the
    units and their tools leave of the cores instead of a share of them (the package set's
    records ran beside the gathers, the gathers' beside createrepo: both on the compose's
    path, both bound by 2 cores there)."""
    import ctypes   # noqa: F401 - for _die_with: imported here, before the fork
    import pickle
    import select
    import signal
    import tempfile

    from .digest_prefill import lower_priority

    answer = tempfile.TemporaryFile()
    ready, done = os.pipe()
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        os.close(ready)
        os.close(done)
        answer.close()
        return None
    if pid == 0:    # the child
        code = 1
        try:
            gc.disable()
            _die_with(parent)
            lower_priority()
            # no other descriptor of this process held open (the write end of a pipe another
            # thread had just made for a tool would hold that tool's reader back)
            keep = sorted({answer.fileno(), done, 0, 1, 2})
            for low, high in zip(keep, keep[1:] + [os.sysconf("SC_OPEN_MAX")]):
                os.closerange(low + 1, high)
            reuse_keys.after_fork_in_child()
            reuse.after_fork_in_child()
            scheduler._shared_texts._lock = threading.Lock()
            if scheduler.reuse_pool is not None:
                scheduler.reuse_pool.after_fork_in_child()
            log = _ChildLog()
            scheduler.compose.log = log
            infos = []
            for unit, _key, content, outputs, capture, before, after in args:
                log.lines = []
                info = scheduler._build(unit, False, content, outputs, capture, before, after)
                if not info["reusable"] and unit.name not in reuse.NEVER_REUSED:
                    infos.append((None, None))   # its output hash holds its key: built there
                    continue
                info["hand_over"] = scheduler._hand_over(unit, None, outputs, info)
                if info["reusable"]:
                    _write_data(reuse.data_path(scheduler.compose.topdir, unit.name),
                                info["files"], info["journal"])
                    info["data_written"] = True
                info = {k: v for k, v in info.items() if k not in ("files", "journal")}
                info["child_log"] = log.lines
                infos.append((info, getattr(unit, "delta", None)))
            pickle.dump(infos, answer, pickle.HIGHEST_PROTOCOL)
            answer.flush()
            code = 0
        except BaseException:  # noqa: B902 - the parent builds the records itself
            pass
        finally:
            os._exit(code)
    os.close(done)
    try:
        # the pipe's end: the child ended (its write end closed with it)
        waiting = select.poll()
        waiting.register(ready, select.POLLIN)
        if not waiting.poll(RECORD_CHILD_TIMEOUT * 1000):
            os.kill(pid, signal.SIGKILL)
        _pid, status = os.waitpid(pid, 0)
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            scheduler.compose.log.warning("records of %s: the record child failed (status %d); "
                                          "built here", ", ".join(a[0].name for a in args),
                                          status)
            return None
        answer.seek(0)
        infos = pickle.load(answer)
    finally:
        os.close(ready)
        answer.close()
    result = []
    for (unit, *_rest), (info, delta) in zip(args, infos):
        if info is not None:
            unit.before_record = None   # done by the child (a gather's result hash: its delta)
            unit.delta = delta
        result.append(info)
    return result


def _die_with(parent):
    """A record child is killed when the compose's process dies (Linux's PR_SET_PDEATHSIG): a
    compose killed meanwhile leaves no child writing record datas beside its --resume."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)     # it died before


class _Picked:
    """The info of one unit from the future of its phase's ``_phase_child``."""

    def __init__(self, future, name):
        self.future = future
        self.name = name

    def result(self):
        return self.future.result().get(self.name)


def unit_weight(unit):
    """The estimated cost of ``unit`` (``PHASE_WEIGHTS``; 1.0 for a phase not listed there,
    boot tests as image builds)."""
    weight = PHASE_WEIGHTS.get(unit.phase, 1.0)
    if unit.phase == "test" and unit.name.startswith("test.boot."):
        weight = 30.0
    if unit.arch == "src":
        weight *= SOURCE_WEIGHT
    return weight


#: collections of the middle generation before a full one while the units run (Python: 10). At
#: 60,000 RPMs the compose process made 30 full collections, 11.9 s of wall at load 7.5
#: (the late ones over its whole heap); with 100, 8 in 2.8 s
GC_FULL_AFTER = 100

#: while the GC is paused for the units (:func:`gc_while_units_run`), the scheduler's loop
#: still collects the young and middle generations once this many seconds have passed since
#: the last collection, and every ``GC_PAUSED_FULL_EVERY``-th time all of them: the embedded
#: build service answers its builders from threads of the compose's process for as long as the
#: image and live tasks run (the demo compose's units left some 92,000 unreachable objects in
#: 2 minutes), so a compose of hours would otherwise hold all its cycles to the end. A compose
#: whose units end sooner (a 10,000- or 60,000-RPM one) makes no collection.
GC_PAUSED_COLLECT_EVERY = 30.0
GC_PAUSED_FULL_EVERY = 10


def gc_while_units_run():
    """Whether Python's cyclic GC runs while the units do (``PUNGI_LIKE_GC_UNITS=1``; by
    default it does not). The units' data lives to the compose's end (the package set, its
    headers, the gather results), so the young collections only walked it: in a cold 10k
    compose 941 young and 85 middle collections, 0.10 s of the compose process's CPU, for some
    3,300 objects found in cycles; the cycles made meanwhile are frozen with the rest after the
    units (:meth:`Scheduler.run`) and kept to the end (a 60,000-RPM compose's peak RSS 836 and
    869 MiB without the GC against 851 and 869 MiB with it, at load 7-12)."""
    return os.environ.get("PUNGI_LIKE_GC_UNITS") == "1"

class _PausedCollector:
    """The bounded part of the units' GC pause: a collection from the scheduler's loop once
    ``GC_PAUSED_COLLECT_EVERY`` seconds have passed (young and middle generations; all of them
    every ``GC_PAUSED_FULL_EVERY``-th time)."""

    def __init__(self):
        self.last = time.monotonic()
        self.made = 0

    def maybe(self):
        now = time.monotonic()
        if now - self.last < GC_PAUSED_COLLECT_EVERY:
            return
        self.made += 1
        gc.collect(2 if self.made % max(1, GC_PAUSED_FULL_EVERY) == 0 else 1)
        self.last = time.monotonic()


#: threads beyond the workers for units being taken from an old compose (``_try_reuse``)
EARLY_THREADS = 4

#: phases whose units hold the interpreter lock for most of their run (the package set's
#: closure and headers, the gathers' solves in threads): the record thread builds no record
#: while one of them may still run (``Scheduler._records_may_run``), unless a unit waits for
#: an output hash or the unit declares it runs outside the lock (``Unit.in_child``)
RECORDS_WAIT_FOR = ("pkgset", "gather")

#: phases whose units' records are built by a child process forked once every unit of the phase
#: that ran has ended (``Scheduler._phase_child``), in a compose without old units: their
#: records hold the interpreter lock for most of their building (at 10,000 RPMs 0.3 s of CPU
#: for pkgset.global, 0.15-0.25 s for each gather; the compose's process ran about 3.4 s of
#: CPU in all), which the units running meanwhile wait for. A child builds them beside those
#: units, on another core, the package set's while the gathers run.
#: ``PUNGI_LIKE_RECORD_CHILD=0`` in the environment: built by the record thread, as before (to
#: compare the two on a machine).
RECORD_CHILD_PHASES = ("pkgset", "gather")
#: a record child that has not answered by then is killed and its records built here
RECORD_CHILD_TIMEOUT = 600


class _Blocked(Exception):
    """An early unit's need failed while it waited (``_run_unit``): the unit is skipped."""

    def __init__(self, need):
        super().__init__(f"skipped because {need} failed")


class SchedulerError(PungiLikeError):
    """A non-failable unit failed; the compose is DOOMED."""

    def __init__(self, unit, exc, log_path=None):
        self.unit = unit
        self.exc = exc
        where = f" (log: {log_path})" if log_path else ""
        super().__init__(f"{unit} failed{where}: {exc}")


def inputs_hash(inputs):
    """A stable hash of a unit's declared inputs (JSON with sorted keys)."""
    blob = json.dumps(inputs, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


class _Upstream(collections.abc.Mapping):
    """``{unit needed: its output hash}`` for a unit started without its key
    (``Scheduler.key_needed_first``): a hash is waited for when it is read."""

    def __init__(self, scheduler, names):
        self._scheduler = scheduler
        self._names = sorted(names)

    def __getitem__(self, name):
        if name not in self._names:
            raise KeyError(name)
        return self._scheduler.output_hash(name)

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)


class Progress:
    """A one-line live status on a TTY; silent otherwise."""

    def __init__(self, total, enabled, stream=None):
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = 0
        self.lock = threading.Lock()
        self._last = ""

    def update(self, running):
        if not self.enabled:
            return
        names = ", ".join(sorted(running)[:3]) + (" ..." if len(running) > 3 else "")
        line = f"[{self.done}/{self.total}] {names}"
        width = 100
        line = line[:width]
        with self.lock:
            self.stream.write("\r" + line.ljust(len(self._last)))
            self.stream.flush()
            self._last = line

    def finish(self):
        if self.enabled and self._last:
            self.stream.write("\r" + " " * len(self._last) + "\r")
            self.stream.flush()


class Scheduler:
    """Run ``units`` respecting ``needs``; see the module docstring for failure handling."""

    def __init__(self, units, compose, max_workers, skipped_phases=(), progress=False):
        self.compose = compose
        self.max_workers = max(1, int(max_workers))
        self.units = {}
        for unit in units:
            if unit.name in self.units:
                raise PhaseError(f"two units are named {unit.name}")
            self.units[unit.name] = unit
        self.skipped_phases = set(skipped_phases)
        self.deps = {name: self._resolve(unit, unit.needs) for name, unit in self.units.items()}
        self.order = {name: self._resolve(unit, unit.after, strict=False)
                      for name, unit in self.units.items()}
        self._check_cycles()
        self.rank = self._ranks()
        # ready units are taken in this order: the longest remaining chain first
        self.priority = sorted(self.units, key=lambda n: (-self.rank[n][0], -self.rank[n][1], n))
        self.state = {name: "pending" for name in self.units}
        self.timeline = []
        self.timeline_lock = threading.Lock()
        self.progress = Progress(len(self.units), progress)
        self.phase_units = {}
        for unit in self.units.values():
            self.phase_units.setdefault(unit.phase, set()).add(unit.name)
        self.phase_started = set()
        #: ``{phase: [callable]}`` called (in the scheduler's thread, once) when every unit of
        #: the phase has ended; a hook only starts work of its own (a thread)
        self.phase_end_hooks = {}
        self._due_hooks = []      # (phase, hook) of phases that ended, called after the scan
        self.stop = threading.Event()
        self.output_hashes = {}
        self.ran_outputs = {}     # unit that ran -> the outputs it returned
        self.reuse_pool = None  # a reuse.ReusePool when old composes (or resume) are in use
        self.names = reuse.Names(compose.topdir, compose.compose_id)
        # the package set's headers' JSON, made once for the records that hand them over
        self._shared_texts = reuse.SharedTexts(self.names)
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="record")
        self._writes = []
        self._timeline_asked = 0   # _write_timeline calls so far
        # reused units whose files verified and whose output hash is known while they still
        # link (``_try_reuse``): the units that need them may start, to be taken as well
        self.placing = set()
        self._ended = {name: threading.Event() for name in self.units}
        self._ended_ok = {}
        self._wake = concurrent.futures.Future()
        self._wake_lock = threading.Lock()
        # builds the records of the units that ran (``_build_info``), in the order they ended
        self._builder = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="build")
        # ... once no unit of RECORDS_WAIT_FOR may still run, or a unit asked for a hash
        self._records_wait_for = [] if os.environ.get("PUNGI_LIKE_RECORDS_WAIT") == "0" else [
            name for name, unit in self.units.items() if unit.phase in RECORDS_WAIT_FOR]
        self._records_open = threading.Event()
        # the units of RECORD_CHILD_PHASES that ran, in the order their records are to be
        # built: name -> the arguments of ``_build``; and the records a child built
        self._build_args = {}
        self._record_child = hasattr(os, "fork") and \
            os.environ.get("PUNGI_LIKE_RECORD_CHILD") != "0"
        # name -> its info from a record child (``_Picked``); ("phase", phase) -> the future
        # of the phase's ``_phase_child``
        self._child_infos = {}
        self._child_now = threading.Event()     # a record child's phase is not waited for
        self._run_over = threading.Event()
        # one thread a phase: the package set's child, at a lower priority beside the gathers,
        # may not have ended when the gathers' is to start (one thread: it waited for it, and
        # the compose's end for both, 0.4-1 s after its last unit)
        self._child_builder = concurrent.futures.ThreadPoolExecutor(
            len(RECORD_CHILD_PHASES), thread_name_prefix="record-child")
        # records of units taken without their files (``files_at``), written again once a unit
        # that runs made them place those files (``_materialise_needs``)
        self._deferred_records = {}

    # ---- graph ----------------------------------------------------------------------------
    def _resolve(self, unit, needs, strict=True):
        resolved = set()
        for need in needs:
            if "*" in need or "?" in need or "[" in need:
                matches = [n for n in self.units if fnmatch.fnmatchcase(n, need)]
            else:
                # a unit's name: looked up (fnmatch of each need against each unit compiled
                # a pattern a need and made ~900 calls at the start of a 21-unit compose)
                matches = [need] if need in self.units else []
            if matches:
                resolved.update(m for m in matches if m != unit.name)
                continue
            phase = need.split(".", 1)[0]
            has_phase = any(u.phase == phase for u in self.units.values())
            if strict and has_phase and phase not in self.skipped_phases and "*" not in need:
                raise PhaseError(f"unit {unit.name} needs {need}, which no phase provides")
        return resolved

    def _check_cycles(self):
        seen, stack = set(), set()

        def visit(name, path):
            if name in stack:
                raise PhaseError("dependency cycle: " + " -> ".join(path + [name]))
            if name in seen:
                return
            stack.add(name)
            for dep in sorted(self.deps[name] | self.order[name]):
                visit(dep, path + [name])
            stack.discard(name)
            seen.add(name)

        for name in sorted(self.units):
            visit(name, [])

    def _ranks(self):
        """``{name: (cost, count)}``: the estimated cost of the costliest chain from the unit to
        a last unit (its own included; a chain follows ``needs`` and ``after`` forward) and how
        many units come after it in any chain (the tie-breaker)."""
        followers = {name: set() for name in self.units}
        for name in self.units:
            for dep in self.deps[name] | self.order[name]:
                followers[dep].add(name)
        ranks, below = {}, {}

        def visit(name):
            if name in ranks:
                return
            for child in followers[name]:
                visit(child)
            kids = followers[name]
            below[name] = set(kids).union(*(below[k] for k in kids)) if kids else set()
            ranks[name] = (unit_weight(self.units[name])
                           + max((ranks[k][0] for k in kids), default=0.0), len(below[name]))

        for name in sorted(self.units):
            visit(name)
        return ranks

    def _is_light(self, name):
        return self.max_workers > 1 and unit_weight(self.units[name]) <= LIGHT_WEIGHT

    def _may_start(self, name, running):
        """A free worker: fewer than ``max_workers`` units run, not counting light ones; a light
        unit may also take one of ``max_workers`` extra slots (see ``LIGHT_WEIGHT``)."""
        running = [n for n in running if n not in self.placing]   # linking, nearly done
        light = sum(1 for n in running if self._is_light(n))
        if len(running) - light < self.max_workers:
            return True
        return self._is_light(name) and light < self.max_workers

    # ---- bookkeeping ----------------------------------------------------------------------
    def output_hash(self, name, asked=True):
        """The output hash of the unit ``name`` (None if it did not end well); while the record
        thread still builds its record (``_build_info``), waits for it. ``asked``: a unit
        waits for it, so the record thread builds records from now on (``_records_may_run``);
        the writer thread, which waits for records anyway, passes False."""
        value = self.output_hashes.get(name)
        if isinstance(value, concurrent.futures.Future):
            if asked and not value.done() and not self._records_open.is_set():
                self.compose.log.debug("records built from now on: %s's hash asked for", name)
                self._records_open.set()
            if asked and not value.done() and name in self._build_args:
                self._child_now.set()   # its phase's record child need not wait any longer
            value = value.result()
        return value

    def _records_may_run(self):
        """May the record thread build a record now? Not while a unit of RECORDS_WAIT_FOR
        (in threads of this process) may still run: those units hold the interpreter lock
        for most of their run, and so does a record (digests of thousands of files, the
        JSON of a package set's headers); a record built beside them made the units on the
        compose's path wait for the lock (one package changed at 10,000 RPMs: 0.6-0.8 s of
        records beside the package set, the gathers and createrepo). Records are built once
        they ended (a DVD's xorriso and the other tools run outside the lock), as soon as a
        unit waits for an output hash (``output_hash``), and when the run stops."""
        if self._records_open.is_set():
            return True
        if self.stop.is_set() or all(
                self._ended[name].is_set() or self.units[name].in_child
                for name in self._records_wait_for):
            self._records_open.set()
            return True
        return False

    def unit_key(self, unit, content=None, asked=True):
        """(key, upstream): the hash of the unit's inputs and of the output hashes of the units
        it needs or follows, with this compose's directory and id replaced by placeholders.
        ``content``: ``reuse.content_inputs`` of the unit when the caller has it; ``asked``:
        see ``output_hash``."""
        upstream = {dep: self.output_hash(dep, asked) for dep in sorted(self.deps[unit.name])}
        follows = {dep: self.output_hash(dep, asked) for dep in sorted(self.order[unit.name])}
        if content is None:
            content = reuse.content_inputs(self.compose, unit)
        blob = json.dumps({"inputs": unit.inputs, "needs": upstream, "after": follows,
                           "content": content}, sort_keys=True, default=str)
        return hashlib.sha256(self.names.norm(blob).encode("utf-8")).hexdigest(), upstream

    def key_needed_first(self, unit):
        """Does ``unit`` need its key before it runs? Only when an old unit of its name exists
        (``_try_reuse``; ``reuse_delta`` compares with the newest). Otherwise (a cold compose,
        a unit new since the old compose) the key is made with its record, after it ran: the
        unit starts without waiting for the records of the units it needs."""
        pool = self.reuse_pool
        if pool is None:
            return False
        olds = getattr(pool, "_units", None)   # ReusePool: the old units of a name, lazily
        if olds is None:
            return True
        if next(iter(olds(unit.name)), None) is None:
            return False
        # a unit needing or following one that always runs (metadata.write: the manifests it
        # writes hold the compose's respin and date, so its output hash is no old compose's)
        # can have no old unit's key: test.images and test.manifests waited for the manifests'
        # record (20-90 ms on a no-op re-run's last path) only to run. Wrong, it would cost a
        # reuse, never a wrong output (reuse_differs)
        if any(dep in reuse.NEVER_REUSED for dep in self.deps[unit.name] | self.order[unit.name]):
            return False
        # units it needs that ran and whose output hash the record thread still makes: when
        # their outputs show no old unit can have this key, it runs without waiting for it
        def pending(deps):
            return {dep: self.ran_outputs[dep] for dep in deps
                    if dep in self.ran_outputs
                    and isinstance(self.output_hashes.get(dep), concurrent.futures.Future)
                    and not self.output_hashes[dep].done()}
        # the same for the units it follows: imagechecksum waited for the record of a DVD
        # made again (its image's digests, its hand-over) only to run
        return not reuse_differs.cannot_match(pool, unit.name, pending(self.deps[unit.name]),
                                              self.names,
                                              follows=pending(self.order[unit.name]))

    def _record(self, unit, start, end, result, error=None, outputs=None, info=None):
        info = info or {}
        entry = {
            "unit": unit.name,
            "phase": unit.phase,
            "variant": getattr(unit.variant, "uid", unit.variant),
            "arch": unit.arch,
            "start": round(start, 3),
            "end": round(end, 3),
            "duration": round(end - start, 3),
            "result": result,
            "log": os.path.relpath(unit.log_path, self.compose.topdir) if unit.log_path else None,
        }
        if error:
            entry["error"] = error
        if info.get("reused_from"):
            entry["reused"] = True
            entry["reused_from"] = info["reused_from"]
        if info.get("result_from"):   # ran, and gave that compose's result (reuse_delta)
            entry["result_from"] = info["result_from"]
        with self.timeline_lock:
            self.timeline.append(entry)
        self._write_timeline()
        if result == "ok" and info.get("building") is not None:
            self.ran_outputs[unit.name] = outputs   # for key_needed_first (reuse_differs)
            # a unit that ran: its record is built by the record thread (``_build_info``) and
            # its output hash with it; units needing that hash wait for it (``output_hash``)
            self.output_hashes[unit.name] = info["hashed"]
            self._write_later(self._write_built, unit, entry, info["building"])
        elif result == "ok":
            # the key of a unit's result: its own declared inputs plus the results of the units
            # it needed, so a change anywhere upstream changes every hash downstream
            if info.get("output_hash"):   # a reused unit: the same result as recorded
                outputs = json.loads(json.dumps(outputs or {}, default=str))
                self.output_hashes[unit.name] = info["output_hash"]
            else:
                outputs, self.output_hashes[unit.name] = self._hand_over(
                    unit, info["key"][0], outputs, info)
            if info.get("key") is None:
                # it took an old unit's result without its key (reuse_delta.TakeOld): the key
                # is made by the writer, which waits for the records of the units it needs
                self._write_later(self._write_taken, unit, entry, info, outputs)
                return
            record = self._unit_record(unit, entry, info, outputs, self.output_hashes[unit.name])
            if info.get("files_at"):
                self._deferred_records[unit.name] = (record, info)
            self._write_later(self._write_record, unit.name, record, info,
                              info.get("files", {}))

    def _write_taken(self, unit, entry, info, outputs):
        """The record of a unit that took an old unit's result (writer thread): its key made
        here, with the output hashes of the units it needs once their records are built
        (not asked for: ``output_hash``)."""
        info["key"] = self.unit_key(unit, info.pop("content", None), asked=False)
        record = self._unit_record(unit, entry, info, outputs, self.output_hashes[unit.name])
        self._write_record(unit.name, record, info, info.get("files", {}))

    def _write_timeline(self):
        """The timeline as it stands, written by the writer thread. Rewritten after every unit;
        a run (--resume too) starts it anew, so a machine crash loses nothing that an fsync per
        unit would keep. A write that a later one follows in the writer's queue is left out:
        the later one writes the timeline as it stands then (each write encodes the whole
        timeline with json's indenting encoder, which is Python code: a re-run whose units are
        all reused ended 21 of them within 0.8 s)."""
        with self.timeline_lock:
            self._timeline_asked += 1
            asked = self._timeline_asked
        self._write_later(self._write_timeline_now, asked)

    def _write_timeline_now(self, asked):
        with self.timeline_lock:
            if asked != self._timeline_asked:
                return      # a later write is queued
            timeline = {
                "compose_id": self.compose.compose_id,
                "max_workers": self.max_workers,
                "units": sorted((dict(e) for e in self.timeline),
                                key=lambda e: (e["start"], e["unit"])),
            }
        write_json_atomic(self.compose.paths.timeline_file(), timeline, fsync=False)

    def _unit_record(self, unit, entry, info, outputs, output_hash):
        key, upstream = info["key"]
        record = {
            "unit": unit.name,
            "inputs_hash": key,
            "key": key,
            "inputs": unit.inputs,
            "needs": upstream,
            "outputs": outputs,
            "start": entry["start"],
            "end": entry["end"],
            "reusable": info.get("reusable", False),
            "output_hash": output_hash,
        }
        if info.get("why_not"):
            record["why_not"] = info["why_not"]
        if info.get("reused_from"):
            record["reused_from"] = info["reused_from"]
        if info.get("result_from"):
            record["result_from"] = info["result_from"]
        if info.get("files_at"):   # taken without its files (reuse.ReusePool.check's defer)
            record["files_at"] = info["files_at"]
        if getattr(unit, "delta", None):
            record["delta"] = unit.delta   # reuse_delta: what a later run compares
        return record

    def _build_info(self, unit, key, content, outputs, capture, images_before, images_after,
                    hashed):
        """In the record thread, after ``unit`` ran: its record's files and journal
        (``reuse.build_record``), its key when it started without one (``key_needed_first``;
        this waits for the output hashes of the units it needs) and its output hash, also
        handed to the future ``hashed`` (which, unlike the record, is kept). A unit of
        RECORD_CHILD_PHASES: all but its key from its phase's record child, when it built it."""
        try:
            child = self._child_infos.get(unit.name)
            info = child.result() if child is not None else None
            if info is not None:
                # built by a record child, but for the key (the units it needs are earlier in
                # this thread's order)
                info["key"] = key or self.unit_key(unit, content)
            else:
                while not self._records_may_run():
                    self._records_open.wait(0.02)   # units of RECORDS_WAIT_FOR end or go to
                    # children
                info = self._build(unit, key, content, outputs, capture, images_before,
                                   images_after)
        except BaseException as exc:  # noqa: B902 - raised again by the writer and the waiters
            hashed.set_exception(exc)
            raise
        finally:
            self._build_args.pop(unit.name, None)
        hashed.set_result(info["hand_over"][1])
        return info

    def _child_for(self, unit):
        """After ``unit`` (of RECORD_CHILD_PHASES) ran: the first unit of its phase to end has
        ``_phase_child`` started for the phase (in its own thread), whose future each of the
        phase's records waits for (``_build_info``)."""
        with self.timeline_lock:
            future = self._child_infos.get(("phase", unit.phase))
            if future is None:
                future = self._child_infos[("phase", unit.phase)] = \
                    self._child_builder.submit(self._phase_child, unit.phase)
            self._child_infos[unit.name] = _Picked(future, unit.name)

    def _phase_child(self, phase):
        """The record infos of the units of ``phase`` that ran, ``{name: info or None}``, built
        by one child process (``record_child``) once every unit of the phase ended (or the run
        ended, or a unit waits for the output hash of one: then of those that ended); None for
        a unit whose record is to be built by the record thread as before (the child failed, or
        the record is not reusable: its output hash holds its key). The digest prefills are
        waited for first, so that the child takes no part of their work (and the records built
        here later find their answers). The keys are made by the record thread."""
        names = self.phase_units[phase]
        while not all(self._ended[n].is_set() for n in names) and not self._run_over.is_set() \
                and not self._child_now.is_set():
            self._child_now.wait(0.02)
        batch = [n for n in list(self._build_args) if n in names and self._ended[n].is_set()]
        if not batch or not self._record_child:
            return {}
        reuse_keys.wait_prefills((self.names.topdir.encode(), self.names.compose_id.encode()))
        infos = record_child(self, [self._build_args[n] for n in batch])
        if infos is None:
            self._record_child = False      # the rest of the records are built here
            return {}
        return dict(zip(batch, infos))

    def _build(self, unit, key, content, outputs, capture, images_before, images_after):
        recording = time.time()
        finish = getattr(unit, "before_record", None)
        if finish is not None:
            # work of the unit whose result only its record holds (a gather's result hash,
            # reuse_delta.note_result), done here instead of on the unit's path
            unit.before_record = None
            try:
                finish()
            except Exception as exc:  # noqa: B902 - like a record that cannot be made
                self.compose.log.warning("[%s] not recorded: %s", unit.name, exc)
        try:
            info = reuse.build_record(self.compose, unit, capture, images_before, images_after,
                                      self._remember_old(unit), self._shared_texts)
        except Exception as exc:  # noqa: B902 - a record that cannot be made only costs reuse
            self.compose.log.warning("[%s] no reuse record: %s", unit.name, exc)
            info = {"files": {}, "journal": [], "reusable": False, "why_not": str(exc)}
        info["record_seconds"] = round(time.time() - recording, 3)
        if key is False:    # a record child: the output hash of a recorded unit holds no key
            return info
        info["key"] = key or self.unit_key(unit, content)
        info["hand_over"] = self._hand_over(unit, info["key"][0], outputs, info)
        return info

    def _write_built(self, unit, entry, building):
        """The record of a unit that ran, once the record thread built it (writer thread)."""
        info = building.result()
        for level, message in info.pop("child_log", ()):
            self.compose.log.log(level, "%s", message)
        with self.timeline_lock:
            entry["record_seconds"] = info["record_seconds"]   # after the unit's end
        outputs, output_hash = info["hand_over"]
        self._write_record(unit.name, self._unit_record(unit, entry, info, outputs, output_hash),
                           info, info.get("files", {}))

    def _hand_over(self, unit, key, outputs, info):
        """(outputs as JSON values, output hash) of a unit that ran: what downstream units see
        of it (its outputs, its files and what it handed over); a unit whose hand-over could
        not be recorded passes its key on instead, so that everything after it runs again when
        its inputs change."""
        outputs = json.loads(json.dumps(outputs or {}, default=str))
        recorded = info.get("reusable") or unit.name in reuse.NEVER_REUSED
        return outputs, json_digest(
            {"key": None if recorded else key, "outputs": outputs,
             "files": reuse.chain_digests(info.get("files", {})),
             "journal": info.get("journal", [])}, self.names)

    def _write_record(self, name, record, info, files):
        """The unit's record data and record (in the writer thread; see the module doc)."""
        if info.get("files_at") and self.reuse_pool is not None:
            # taken without its files, which a unit that ran needed since: they are here now
            placed = self.reuse_pool.materialised.get(name)
            if placed is not None:
                info = {k: v for k, v in info.items() if k != "files_at"}
                info.update(placed)
                record = {k: v for k, v in record.items() if k != "files_at"}
        data = reuse.data_path(self.compose.topdir, name)
        if info.get("data_from"):
            if os.path.abspath(info["data_from"]) != os.path.abspath(data):
                reuse.place_file(info["data_from"], data)
                _place_index(info["data_from"], data)
        elif record["reusable"] and not info.get("data_written"):
            _write_data(data, files, info.get("journal", []))
        path = os.path.join(self.compose.paths.units_dir(), name + ".json")
        # no fsync: a record lost (or left empty) by a machine crash makes its unit run again
        # on --resume, as one the kill kept from being written; the files a record claims are
        # checked against it then (reuse.verified). An fsync a record forced a journal commit
        # each, which stalled the hard links of the units being taken meanwhile
        write_json_atomic(path, json.loads(json.dumps(record, default=str)), fsync=False)

    def _write_later(self, func, *args, **kwargs):
        """Run a record write in the writer thread, in order; its error is raised by ``run``
        (``_flush``)."""
        self._writes.append(self._writer.submit(func, *args, **kwargs))

    def _flush(self):
        """Wait for every record write; raise the first error."""
        writes, self._writes = self._writes, []
        for future in writes:
            future.result()

    def _phase_event(self, unit, event):
        phase = unit.phase
        if event == "start" and phase not in self.phase_started:
            self.phase_started.add(phase)
            self.compose.log.info("[BEGIN] ---------- PHASE: %s ----------", phase.upper())
            self.compose.notify("phase-start", phase_name=phase)
        elif event == "end":
            names = self.phase_units[phase]
            if all(self.state[n] not in ("pending", "running") for n in names):
                self.compose.log.info("[DONE ] ---------- PHASE: %s ----------", phase.upper())
                self.compose.notify("phase-stop", phase_name=phase)
                # called once the units this end lets start are started (``_run_due_hooks``):
                # a hook's thread start waited for the interpreter lock, and the next unit with it
                self._due_hooks += [(phase, hook) for hook in self.phase_end_hooks.pop(phase, ())]

    def _run_due_hooks(self):
        """The hooks of the phases that ended (``phase_end_hooks``), after the scan that started
        the units their ends let start."""
        due, self._due_hooks = self._due_hooks, []
        for phase, hook in due:
            try:
                hook()
            except Exception as exc:  # noqa: B902 - a hook only saves time
                self.compose.log.warning("after phase %s: %s", phase, exc)

    def _run_unit_and_signal(self, unit, early):
        """``_run_unit``, then the unit's end made known to units taken early after it."""
        try:
            result = self._run_unit(unit, early)
        except BaseException:
            self._ended_ok[unit.name] = False
            raise
        else:
            # before the end is made known: a unit taken early after this one reads it as
            # soon as it wakes (it was set after, and a waiter that woke in between took a
            # unit that ended well for a failed one - a no-op re-run DOOMED under load)
            self._ended_ok[unit.name] = result[4] is None
        finally:
            self.placing.discard(unit.name)
            self._ended[unit.name].set()
        return result

    def _wait_for_needs(self, unit):
        """An early unit (started while units it needs or follows were still being taken)
        that is not reused itself: wait until they ended; the name of one that failed, or
        None."""
        for dep in sorted(self.deps[unit.name] | self.order[unit.name]):
            while not self._ended[dep].wait(0.5):
                if self.stop.is_set():
                    return dep
            if dep in self.deps[unit.name] and not self._ended_ok.get(dep):
                return dep
        return None

    def _decided(self, name, output_hash):
        """A reused unit's files verified: its output hash is the old one from now on, and
        units needing it may start (to be taken, not run, until it ended)."""
        self.output_hashes[name] = output_hash
        self.placing.add(name)
        with self._wake_lock:
            wake, self._wake = self._wake, concurrent.futures.Future()
        wake.set_result(None)

    def _run_unit(self, unit, early=False):
        start = time.time()
        kill_at = os.environ.get("PUNGI_LIKE_KILL_AT_UNIT")
        if kill_at and fnmatch.fnmatchcase(unit.name, kill_at):
            # for tests of --resume: die as a machine crash would, when this unit starts (the
            # records of the units that ended before it on disk, as the tests expect). Not
            # _flush(): two units starting together would split the pending writes between
            # them and one would kill while the other's share is still being written. The
            # writer runs its jobs in order, so a no-op's end means every earlier write ended.
            self._records_open.set()
            self._writer.submit(lambda: None).result()
            os.kill(os.getpid(), 9)
        if unit.deliverable:
            self.compose.attempt_deliverable(*unit.deliverable)
        content = reuse.content_inputs(self.compose, unit)
        key = None
        if self.key_needed_first(unit):
            key = self.unit_key(unit, content)
            try:
                reused = self._try_reuse(unit, *key, early)
            except Exception as exc:  # noqa: B902 - failed after its files verified (_try_reuse)
                return unit, start, time.time(), None, exc, traceback.format_exc()
            if reused is not None:
                return unit, start, time.time(), reused[0], None, reused[1]
        if early:
            failed = self._wait_for_needs(unit)
            if failed is not None:
                return unit, start, time.time(), None, _Blocked(failed), None
            start = time.time()
        try:
            self._materialise_needs(unit)
        except Exception as exc:  # noqa: B902 - a needed unit's files changed since taken
            return unit, start, time.time(), None, exc, traceback.format_exc()
        # for reuse_delta's hash of the inputs; without a key the hashes are waited for when read
        unit.upstream = key[1] if key else _Upstream(self, self.deps[unit.name])
        self.compose.log.info("[%s] started%s", unit.name,
                              f" (log: {os.path.relpath(unit.log_path, self.compose.topdir)})"
                              if unit.log_path else "")
        images_before = reuse.images_state(self.compose)
        try:
            with reuse.capturing(self.compose.topdir) as capture:
                outputs = unit.run(unit)
        except reuse_delta.TakeOld as took:
            # it re-solved to an old unit's result and took that unit's outputs: recorded as a
            # reused unit is, its output hash the old one
            self.compose.log.info("[%s] same result as in %s: its outputs taken", unit.name,
                                  took.old.compose_id)
            output_hash = took.old.record.get("output_hash")
            if key is None and output_hash is None:
                key = self.unit_key(unit, content)      # hands its key on (_hand_over)
            # without a key it is made by the writer (``_write_taken``): here it waited for
            # the records of the package set, which the record thread builds later
            info = {"key": key, "reusable": True, "result_from": took.old.compose_id,
                    "output_hash": output_hash}
            if key is None:
                info["content"] = content
            info.update(took.taken)
            return unit, start, time.time(), took.outputs, None, info
        except BaseException as exc:  # noqa: B902 - recorded and re-raised by the loop
            end = time.time()
            return unit, start, end, None, exc, traceback.format_exc()
        end = time.time()
        # what the unit left behind, as it stands now: the record thread builds the record
        # from it while the next units run (what it wrote is theirs to read, not to change)
        done = reuse.Capture(capture.topdir)
        # an image as the unit added it (imagechecksum fills its checksums in place later;
        # its own record holds them): not as it stands when the record thread gets to it
        done.written, done.journal = capture.paths(), [
            op[:3] + (reuse.serialise_image(op[3]),) if op[0] == "image_add" else op
            for op in capture.journal]
        hashed = concurrent.futures.Future()
        args = (unit, key, content, outputs, done, images_before,
                reuse.images_state(self.compose))
        if unit.phase in RECORD_CHILD_PHASES and self._record_child and not getattr(
                self.reuse_pool, "sources", None):
            # a compose without old units (whose units' keys are made after they ran: a unit
            # waits for no output hash of the phase before it runs)
            self._build_args[unit.name] = args
            self._child_for(unit)
        building = self._builder.submit(self._build_info, *args, hashed)
        return unit, start, end, outputs, None, {"building": building, "hashed": hashed}

    def _materialise_needs(self, unit):
        """Before ``unit`` runs: the files of the units it needs, directly or through others,
        that were taken without them (``reuse.ReusePool.materialise``); their records are
        written again without ``files_at``."""
        pool = self.reuse_pool
        if pool is None or not getattr(pool, "deferred", None):
            return
        needed, todo = set(), list(self.deps[unit.name])
        while todo:
            name = todo.pop()
            if name not in needed:
                needed.add(name)
                todo.extend(self.deps[name])
        for name in sorted(needed, key=lambda n: (-self.rank[n][0], n)):
            if name in pool.deferred and pool.materialise(name) is not None:
                self._write_later(self._write_deferred_again, name)

    def _write_deferred_again(self, name):
        """The record of a unit whose files ``_materialise_needs`` placed (writer thread); when
        its first write is still to come, that one consults the pool itself."""
        written = self._deferred_records.get(name)
        if written is not None:
            self._write_record(name, *written, {})

    def _remember_old(self, unit):
        """For ``build_record``: hands the old record's digests of ``unit`` over when asked."""
        pool = self.reuse_pool
        if pool is None:
            return None

        def remember():
            try:
                pool.remember_digests(unit.name)
            except Exception as exc:  # noqa: B902 - only costs reading the files again
                self.compose.log.debug("[%s] old digests not taken: %s", unit.name, exc)
        return remember

    def _try_reuse(self, unit, key, upstream, early=False):
        """(outputs, info) of a finished unit with this key whose files verify, or None.

        Once the files verified (``ReusePool.check``) the output hash is the old one
        (``_decided``): units needing this one may start while it links (``place``). Its
        journal is replayed (``finish``) only after the units it needs ended, whose entries
        it may change (checksums added to an image entry). A failure after the check fails
        the unit: units taken after it may already hold its old hash."""
        pool = self.reuse_pool
        if pool is None:
            return None
        for old in pool.candidates(unit.name, unit.phase, key):
            if not old.record.get("reusable"):
                continue
            try:
                plan = pool.check(unit, old)
            except (reuse.CannotReuse, reuse.NotRecordable, OSError, ValueError) as exc:
                self.compose.log.info("[%s] not reused from %s: %s", unit.name, old.source, exc)
                continue
            self._decided(unit.name, old.record.get("output_hash"))
            pool.place(plan)
            if early:
                failed = self._wait_for_needs(unit)
                if failed is not None:
                    raise PhaseError(f"{failed}, taken from an old compose with this unit, "
                                     "failed")
            # the record data this compose keeps comes back as "data_from"
            outputs, taken = pool.finish(plan)
            self.compose.log.info("[%s] reused from %s", unit.name, old.compose_id)
            unit.delta = old.record.get("delta")   # the same inputs: the same proof
            info = {"key": (key, upstream), "reusable": True, "reused_from": old.compose_id,
                    "output_hash": old.record.get("output_hash")}
            info.update(taken)
            return outputs, info
        return None

    # ---- main loop ------------------------------------------------------------------------
    def run(self):
        """Run every unit; return the timeline. Raises SchedulerError on a fatal failure.

        While it runs, Python's cyclic GC is paused (:func:`gc_while_units_run`), apart from a
        collection every ``GC_PAUSED_COLLECT_EVERY`` seconds from this loop, and given back
        after; with it on, a full collection comes after 100 collections of the middle
        generation instead of 10 (``GC_FULL_AFTER``): the units' results stay in memory until
        the compose ends (a package set's headers, the gather results) and each full
        collection walked them all again."""
        failure = None
        running = {}
        thresholds = gc.get_threshold()
        gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], GC_FULL_AFTER))
        gc_paused = gc.isenabled() and not gc_while_units_run()
        if gc_paused:
            gc.disable()
        pool = concurrent.futures.ThreadPoolExecutor(
            self.max_workers + (self.max_workers if self.max_workers > 1 else 0)
            + EARLY_THREADS, thread_name_prefix="unit")
        paused_collect = _PausedCollector() if gc_paused else None
        try:
            while True:
                if paused_collect is not None:
                    paused_collect.maybe()
                with self._wake_lock:   # before the scan: a unit verified after it wakes us
                    wake = self._wake
                if failure is None and not self.stop.is_set():
                    self._skip_blocked()
                    for name in self.priority:
                        if self.state[name] != "pending":
                            continue
                        if not self._may_start(name, running.values()):
                            continue
                        placing = set(self.placing)
                        if all(self.state[d] == "done" or d in placing
                               for d in self.deps[name]) and all(
                                self.state[d] in ("done", "failed", "skipped") or d in placing
                                for d in self.order[name]):
                            unit = self.units[name]
                            # early: some unit it needs is still being taken (it may only be
                            # taken too, else it waits for them: _run_unit)
                            early = any(self.state[d] == "running"
                                        for d in self.deps[name] | self.order[name])
                            self.state[name] = "running"
                            self._phase_event(unit, "start")
                            running[pool.submit(self._run_unit_and_signal, unit, early)] = name
                    self.progress.update([running[f] for f in running])
                self._run_due_hooks()
                if not running:
                    break
                done, _ = concurrent.futures.wait(
                    list(running) + [wake], timeout=0.5,
                    return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    if future not in running:
                        continue   # a reused unit's files verified (_decided)
                    running.pop(future)
                    unit, start, end, outputs, exc, tb = future.result()
                    self.progress.done += 1
                    if isinstance(exc, _Blocked):
                        self.state[unit.name] = "skipped"
                        self._record(unit, start, end, "skipped", error=str(exc))
                    elif exc is None:
                        self.state[unit.name] = "done"
                        self._record(unit, start, end, "ok", outputs=outputs, info=tb)
                        if not (tb or {}).get("reused_from"):
                            self.compose.log.info("[%s] done in %.1f s", unit.name, end - start)
                    elif unit.deliverable and self.compose.is_failable(*unit.deliverable):
                        self.state[unit.name] = "failed"
                        self._record(unit, start, end, "failed-failable", error=str(exc))
                        self.compose.fail_deliverable(*unit.deliverable, error=exc, tb=tb)
                    else:
                        self.state[unit.name] = "failed"
                        self._record(unit, start, end, "failed", error=str(exc))
                        self.compose.log.error("[%s] failed: %s", unit.name, exc)
                        self.compose.write_traceback(unit.name.replace(".", "-"), tb)
                        if failure is None:
                            failure = SchedulerError(unit.name, exc, unit.log_path)
                    self._phase_event(unit, "end")
        finally:
            self._records_open.set()
            self._run_over.set()
            gc.set_threshold(*thresholds)
            if gc_paused:
                # what the units made lives to the compose's end: frozen (as the driver
                # freezes it after the units anyway) rather than walked by the first
                # collection after them, on the path's end (0.066 s at 10,000 RPMs); the
                # cycles among it that are garbage (some 60,000 objects at 10,000 RPMs) are
                # kept until ``gc.unfreeze`` (the driver's, at its end)
                gc.freeze()
                gc.enable()
            self.progress.finish()
            pool.shutdown(wait=failure is None and not self.stop.is_set(), cancel_futures=True)
            try:
                self._flush()
                self._write_timeline()   # with the record times of the last units
                self._flush()
            except Exception as exc:  # noqa: B902 - a unit's failure is the error to report
                if failure is None:
                    raise
                self.compose.log.error("a unit record was not written: %s", exc)
            finally:
                self._builder.shutdown(wait=True)
                self._child_builder.shutdown(wait=True)
                self._writer.shutdown(wait=True)
        if failure:
            raise failure
        return self.timeline

    def _skip_blocked(self):
        """Units needing a failed (failable) unit are skipped, transitively."""
        changed = True
        while changed:
            changed = False
            for name, deps in self.deps.items():
                if self.state[name] != "pending":
                    continue
                blocked = [d for d in deps if self.state[d] in ("failed", "skipped")]
                if blocked:
                    self.state[name] = "skipped"
                    self._ended_ok[name] = False
                    self._ended[name].set()   # an early unit after it waits for no run
                    unit = self.units[name]
                    now = time.time()
                    reason = f"skipped because {', '.join(sorted(blocked))} failed"
                    self.compose.log.warning("[%s] %s", name, reason)
                    self._record(unit, now, now, "skipped", error=reason)
                    self.progress.done += 1
                    changed = True
