"""Compose identity and the manifests QA reads, all written through productmd.

- identity: ``compose_id``, ``compose_type_suffix``, labels (``parse_label``, ``is_supported_label``);
- ``compose/metadata``: ``write_composeinfo``, ``RpmsRecorder`` (rpms.json), ``ImagesRecorder``
  (images.json);
- per tree: ``write_treeinfo`` (.treeinfo), ``write_discinfo`` (.discinfo), ``write_media_repo``.

Every file is written atomically. With SOURCE_DATE_EPOCH set, every timestamp that reaches a file
comes from it, so two runs on the same inputs write the same bytes.
"""

import functools
import hashlib
import io
import itertools
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass

from .lazyimport import import_productmd

import_productmd()   # before productmd's modules: without importlib.metadata (see there)

import productmd.common  # noqa: E402
import productmd.composeinfo  # noqa: E402
import productmd.images  # noqa: E402
import productmd.modules  # noqa: E402
import productmd.rpms  # noqa: E402
import productmd.treeinfo  # noqa: E402

from .errors import ConfigError  # noqa: E402
from .fileutil import write_atomic  # noqa: E402

log = logging.getLogger(__name__)

COMPOSE_TYPES = ("production", "nightly", "test", "ci", "development")
_TYPE_SUFFIX = {"production": "", "nightly": ".n", "test": ".t", "ci": ".ci", "development": ".d"}
MILESTONES = tuple(productmd.composeinfo.LABEL_NAMES)
SUPPORTED_MILESTONES = tuple(productmd.composeinfo.SUPPORTED_MILESTONES)
_LABEL_RE = re.compile(r"^(?P<milestone>%s)-(?P<version>\d+\.\d+)$" % "|".join(MILESTONES))


# ---- time ----------------------------------------------------------------------------------

def source_date_epoch():
    """SOURCE_DATE_EPOCH as an int, or None when unset (or not a number)."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    try:
        return int(value) if value else None
    except ValueError:
        return None


def timestamp_now():
    """The timestamp to write: SOURCE_DATE_EPOCH when set, else the current time (int)."""
    sde = source_date_epoch()
    return sde if sde is not None else int(time.time())


# ---- identity ------------------------------------------------------------------------------

@dataclass
class ComposeInfo:
    """The ``compose`` block every manifest carries."""
    id: str
    type: str
    date: str
    respin: int
    label: str | None = None
    final: bool = False


@dataclass
class ReleaseInfo:
    name: str
    short: str
    version: str
    type: str = "ga"
    internal: bool = False
    is_layered: bool = False


@dataclass
class BaseProductInfo:
    name: str
    short: str
    version: str
    type: str = "ga"


def release_from_conf(conf):
    """ReleaseInfo from a Config (``release_*`` options; layered when base_product_* is set)."""
    return ReleaseInfo(
        name=conf.release_name, short=conf.release_short, version=conf.release_version,
        type=(getattr(conf, "release_type", None) or "ga").lower(),
        internal=bool(getattr(conf, "release_internal", False)),
        is_layered=bool(getattr(conf, "base_product_short", None)
                        or getattr(conf, "base_product_name", None)))


def base_product_from_conf(conf):
    """BaseProductInfo from a Config, or None when the release is not layered."""
    if not (getattr(conf, "base_product_short", None) or getattr(conf, "base_product_name", None)):
        return None
    return BaseProductInfo(
        name=conf.base_product_name, short=conf.base_product_short,
        version=conf.base_product_version,
        type=(getattr(conf, "base_product_type", None) or "ga").lower())


def compose_type_suffix(compose_type):
    """``""`` for production, ``.n`` nightly, ``.t`` test, ``.ci`` ci, ``.d`` development."""
    try:
        return _TYPE_SUFFIX[compose_type]
    except KeyError:
        raise ConfigError(f"unknown compose type {compose_type!r}; expected one of "
                          f"{', '.join(COMPOSE_TYPES)}") from None


def _release_type_suffix(release_type):
    release_type = (release_type or "ga").lower()
    return "" if release_type == "ga" else f"-{release_type}"


def compose_id(release_short, release_version, release_type, compose_type, date, respin,
               base_product_short=None, base_product_version=None, base_product_type=None):
    """Pungi's compose ID:
    ``<short>-<version>[-<type>][-<bp short>-<bp version>[-<bp type>]]-<date><suffix>.<respin>``
    (``-<type>`` omitted for ga; the base product part only for layered releases).
    """
    result = f"{release_short}-{release_version}{_release_type_suffix(release_type)}"
    if base_product_short:
        result += (f"-{base_product_short}-{base_product_version}"
                   f"{_release_type_suffix(base_product_type)}")
    return f"{result}-{date}{compose_type_suffix(compose_type)}.{int(respin)}"


def parse_label(label):
    """``"RC-1.2"`` -> ``("RC", "1.2")``; raises ConfigError for anything else."""
    match = _LABEL_RE.match(label or "")
    if not match:
        raise ConfigError(f"Label in unknown format: {label} (expected <Milestone>-<X>.<Y> with "
                          f"Milestone one of {', '.join(MILESTONES)}, e.g. Beta-1.0)")
    return match.group("milestone"), match.group("version")


def is_supported_label(label):
    """True for milestones that mark production content (RC, Update, SecurityFix)."""
    match = _LABEL_RE.match(label or "")
    return bool(match) and match.group("milestone") in SUPPORTED_MILESTONES


def _fill_compose(target, info):
    target.id = info.id
    target.type = info.type
    target.date = info.date
    target.respin = int(info.respin)
    target.label = info.label or None
    target.final = bool(info.final)


def _dump(metadata_obj, **kwargs):
    buf = io.StringIO()
    metadata_obj.dump(buf, **kwargs)
    return buf.getvalue()


# ---- rpms.json -----------------------------------------------------------------------------

def _is_source_nevra(nevra):
    return nevra.endswith((".src", ".nosrc"))


def nevra_with_epoch(nevra):
    """``bash-5.2-1.x86_64`` -> ``bash-0:5.2-1.x86_64`` (rpms.json always spells the epoch)."""
    if ":" in nevra:
        return nevra
    parts = nevra.rsplit("-", 2)
    if len(parts) != 3:
        raise ValueError(f"Invalid N-E:V-R.A: {nevra}")
    name, version, release_arch = parts
    return f"{name}-0:{version}-{release_arch}"


_KEY_PROBE = productmd.rpms.Rpms()


@functools.lru_cache(maxsize=65536)
def _nevra_key(nevra):
    """productmd's normalised N-E:V-R.A of ``nevra`` (a source RPM's is asked for once per
    binary RPM)."""
    return _KEY_PROBE._check_nevra(nevra)[0]


def _nevra_key_arch(nevra):
    """(productmd's normalised N-E:V-R.A, its arch) of ``nevra``."""
    key, parts = _KEY_PROBE._check_nevra(nevra)
    return key, parts["arch"]


def _rpms_document(compose_info):
    """productmd's rpms.json text for ``compose_info`` with an empty payload, where its
    ``"rpms": {}`` is (-1: nowhere) and that marker: the document :meth:`RpmsRecorder.write`
    fills."""
    rpms = productmd.rpms.Rpms()
    _fill_compose(rpms.compose, compose_info)
    text = _dump(rpms)
    marker = '"rpms": {}'
    return text, text.rfind(marker), marker


class RpmsRecorder:
    """Collects rpms.json entries from concurrent units; ``write`` dumps them via productmd.

    Pungi's rule: a source RPM is recorded under each binary arch of the variant. Add it with
    its binary arch; adding it with arch ``src`` places it under every binary arch where the
    variant has packages built from it (or, if none, every arch the variant has entries for).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = {}      # (variant, arch, srpm, rpm) -> (path, sigkey, category)
        self._src_pending = []  # (variant, srpm, path, sigkey)
        self.written_payload = None
        self._changes = 0       # entries added so far (``payload`` made again after one)
        self._payload = None    # (``_changes`` then, the payload ``write`` wrote)
        #: (old compose top directory, unit name) of each :meth:`add_stored` given its source
        #: (a taken unit's journal replayed as it was recorded); ``_unproven``: entries added
        #: otherwise (a unit that ran, a replay without its source) - see ``replayed_from``
        self._sources = set()
        self._unproven = 0
        #: the old rpms.json whose payload the last ``write`` copied (None: written here)
        self.copied_from = None
        #: the record entry of the rpms.json the last ``write`` wrote (its ``names``), or None
        self.written_entry = None
        #: :meth:`encode_ahead`'s thread and what it made: (``_changes`` then, productmd's
        #: document text, the payload's encoded chunks, their length and sha256)
        self._ahead_thread = None
        self._ahead = None

    def add(self, variant_uid, arch, srpm_nevra, rpm_nevra, path, sigkey, category,
            checked=False):
        """Record one package. NEVRAs with or without epoch (``0`` is filled in); ``path``
        relative to ``compose/``; ``category`` binary, debug or source. ``checked``: the
        arguments passed productmd's checks before (a reused unit's recorded entries, replayed
        by the same pungi_like version), so only the N-E:V-R.A keys are derived again."""
        from . import reuse

        reuse.note_journal("rpm", (variant_uid, arch, srpm_nevra, rpm_nevra, path, sigkey,
                                   category))
        if checked:
            self._add_checked(variant_uid, arch, srpm_nevra, rpm_nevra, path, sigkey, category)
            return
        if (srpm_nevra and rpm_nevra and not _is_source_nevra(srpm_nevra)
                and _is_source_nevra(rpm_nevra)):
            # tolerate callers that pass (rpm, srpm): a source RPM is never a package's binary
            srpm_nevra, rpm_nevra = rpm_nevra, srpm_nevra
        if category == "source":
            rpm_nevra = srpm_nevra = srpm_nevra or rpm_nevra
        srpm_nevra, rpm_nevra = nevra_with_epoch(srpm_nevra), nevra_with_epoch(rpm_nevra)
        # validate now, in the unit that made the mistake, not at write time
        probe = productmd.rpms.Rpms()
        if arch not in ("src", "nosrc"):
            probe.add(variant_uid, arch, rpm_nevra, path, sigkey, category,
                      None if category == "source" else srpm_nevra)
        srpm_key, _ = probe._check_nevra(srpm_nevra)
        rpm_key, _ = probe._check_nevra(rpm_nevra)
        self._store(variant_uid, arch, srpm_key, rpm_key, path, sigkey, category)

    def add_many(self, variant_uid, arch, rows):
        """Record the packages of one variant.arch tree: ``rows`` of ``(srpm NEVRA, rpm NEVRA,
        path, sigkey, category)`` as :meth:`add` takes them, with the same checks (productmd's
        arch, category, path and N-E:V-R.A rules, made once per tree where they do not
        depend on the package) and the same journal, stored under one lock (a gather
        records tens of thousands at once)."""
        from . import reuse

        if arch in ("src", "nosrc") or arch not in productmd.common.RPM_ARCHES:
            for row in rows:
                self.add(variant_uid, arch, *row)
            return
        stored = []
        for srpm_nevra, rpm_nevra, path, sigkey, category in rows:
            if (srpm_nevra and rpm_nevra and not _is_source_nevra(srpm_nevra)
                    and _is_source_nevra(rpm_nevra)):
                srpm_nevra, rpm_nevra = rpm_nevra, srpm_nevra
            if category == "source":
                rpm_nevra = srpm_nevra = srpm_nevra or rpm_nevra
            if category not in productmd.rpms.SUPPORTED_CATEGORIES:
                raise ValueError("Invalid category value: %s" % category)
            if path.startswith("/"):
                raise ValueError("Relative path expected: %s" % path)
            if srpm_nevra is None:
                raise ValueError("Missing srpm_nevra for package: %s" % rpm_nevra)
            rpm_key, rpm_arch = _nevra_key_arch(nevra_with_epoch(rpm_nevra))
            if (category == "source") != (rpm_arch in ("src", "nosrc")):
                raise ValueError("Invalid category/arch combination: %s/%s" % (category, rpm_key))
            srpm_key = rpm_key if srpm_nevra == rpm_nevra else _nevra_key(
                nevra_with_epoch(srpm_nevra))
            stored.append(((variant_uid, arch, srpm_key, rpm_key),
                           (path, sigkey.lower() if sigkey else None, category)))
        # one journal entry for the tree, with the keys as stored: a reused unit's replay
        # (``add_stored``) takes them without deriving them again
        reuse.note_journal("rpms", variant_uid, arch, [k[2:] + v for k, v in stored])
        with self._lock:
            self._entries.update(stored)
            self._changes += 1
            self._unproven += 1

    def add_stored(self, variant_uid, arch, rows, source=None):
        """Replay of :meth:`add_many`'s journal entry (a reused unit's): ``rows`` of ``(srpm
        key, rpm key, path, sigkey, category)`` as it stored them. ``source``: (the old
        compose's top directory, the unit's name) when the rows are the very ones that unit
        recorded there (no name of a compose in them to expand), for ``replayed_from``."""
        with self._lock:
            self._entries.update(((variant_uid, arch, srpm, rpm), (path, sigkey, category))
                                 for srpm, rpm, path, sigkey, category in rows)
            self._changes += 1
            if source is None:
                self._unproven += 1
            else:
                self._sources.add(source)

    def replayed_from(self):
        """``{(old top directory, unit name)}`` of the taken units whose replayed journals
        (:meth:`add_stored` with a source) added every entry so far, or None when an entry
        came otherwise (a unit that ran, a replay without its source) or there is none."""
        with self._lock:
            if self._unproven or not self._sources:
                return None
            return set(self._sources)

    def _add_checked(self, variant_uid, arch, srpm_nevra, rpm_nevra, path, sigkey, category):
        if (srpm_nevra and rpm_nevra and not _is_source_nevra(srpm_nevra)
                and _is_source_nevra(rpm_nevra)):
            srpm_nevra, rpm_nevra = rpm_nevra, srpm_nevra
        if category == "source":
            rpm_nevra = srpm_nevra = srpm_nevra or rpm_nevra
        srpm_key = _nevra_key(nevra_with_epoch(srpm_nevra))
        rpm_key = srpm_key if rpm_nevra == srpm_nevra else _nevra_key(nevra_with_epoch(rpm_nevra))
        self._store(variant_uid, arch, srpm_key, rpm_key, path, sigkey, category)

    def _store(self, variant_uid, arch, srpm_key, rpm_key, path, sigkey, category):
        sigkey = sigkey.lower() if sigkey else None
        with self._lock:
            self._unproven += 1
            if arch in ("src", "nosrc"):
                self._src_pending.append((variant_uid, srpm_key, path, sigkey))
            else:
                self._entries[(variant_uid, arch, srpm_key, rpm_key)] = (path, sigkey, category)
            self._changes += 1

    def entries_count(self):
        """How many entries were added (a source package added with arch src counted once)."""
        with self._lock:
            return len(self._entries) + len(self._src_pending)

    def entries(self):
        """Sorted list of (variant_uid, arch, srpm_nevra, rpm_nevra, path, sigkey, category)."""
        with self._lock:
            return sorted(k + v for k, v in self._resolved().items())

    def _resolved(self):
        entries = dict(self._entries)
        for variant, srpm, path, sigkey in self._src_pending:
            arches = {a for (v, a, s, _r) in self._entries if v == variant and s == srpm}
            arches = arches or {a for (v, a, _s, _r) in self._entries if v == variant}
            if not arches:
                raise ValueError(f"source package {srpm} of {variant} added with arch src, "
                                 "but the variant has no binary arch to record it under")
            for arch in arches:
                entries[(variant, arch, srpm, srpm)] = (path, sigkey, "source")
        return entries

    def to_productmd(self, compose_info):
        rpms = productmd.rpms.Rpms()
        _fill_compose(rpms.compose, compose_info)
        with self._lock:
            resolved = self._resolved()
        for (variant, arch, srpm, rpm), (path, sigkey, category) in sorted(resolved.items()):
            rpms.add(variant, arch, rpm, path, sigkey, category,
                     None if category == "source" else srpm)
        return rpms

    def write(self, path, compose_info, fsync=True, payload_from=None, names=None):
        """Dump rpms.json (productmd.rpms, format 1.2) atomically (``fsync``: as
        ``fileutil.write_atomic``'s): productmd's document, its
        entries (each checked by productmd's rules when it was added) written by
        :func:`_rpms_json_pieces` exactly as productmd's ``json.dump(indent=4, sort_keys=True)``
        writes them, without productmd's per-entry checks again and its pure-Python indented
        encoder (2 s for the 112,000 entries of a Fedora-sized compose).

        ``payload_from``: an old compose's rpms.json known to hold this payload
        (:func:`payload_source`): its bytes from the ``"rpms"`` key on are copied by the
        kernel behind this compose's own document instead of written again.

        ``names``: the compose's ``reuse.Names``: the file's record entry is made from the
        bytes as they are written (``reuse.WrittenEntry``), ``written_entry`` (None: its
        record reads the file)."""
        self.written_entry = None
        with self._lock:
            resolved, changes = self._resolved(), self._changes
        text, at, marker = _rpms_document(compose_info)
        if at < 0:
            raise ValueError("productmd's rpms.json has no rpms payload to fill")
        self.copied_from = None
        if payload_from is not None and self._copy_payload(path, text, at, marker,
                                                           payload_from, fsync, names):
            self.copied_from = payload_from
            return
        head = text[:at].encode("utf-8")
        made = _written_entry(names, head)
        ahead = self._ahead_made(changes, text)
        if ahead is not None:
            chunks, length, payload_digest = ahead
            if made is not None:
                for chunk in chunks:
                    made.feed(chunk)
            write_atomic(path, [head, *chunks], fsync=fsync)
        else:
            nested = _nested(resolved)
            # what ``payload`` gives while no entry is added (the diff and the report take it)
            self._payload = (changes, nested)
            # the payload written and hashed in pieces of 64 KiB encoded one after another:
            # not joined, concatenated and encoded whole (three copies of its megabytes, each
            # page of them a page fault: 3.5 MB at 10,000 RPMs)
            digest, length = hashlib.sha256(), 0

            def encoded():
                nonlocal length
                for chunk in _payload_chunks(nested, text, at, marker):
                    digest.update(chunk)
                    length += len(chunk)
                    if made is not None:
                        made.feed(chunk)
                    yield chunk
            write_atomic(path, itertools.chain((head,), encoded()), fsync=fsync)
            payload_digest = digest.digest()
        if made is not None:
            self.written_entry = made.entry(path)
        #: (length, sha256) of the payload's bytes as last written, from its ``"rpms"`` key
        #: to the end (the driver compares them with the previous compose's:
        #: ``same_rpms_payload``); not the bytes themselves: 35 MB at the size of Fedora
        self.written_payload = (length, payload_digest)

    def encode_ahead(self, compose_info, then=None):
        """Make the payload's bytes (as :meth:`write` writes them, with ``compose_info``'s
        document) in a thread now, for a :meth:`write` after the units that add entries
        ended: the compose's driver starts it when the gathers ended, beside the units after
        them (createrepo, the DVDs: their writers' children leave the interpreter lock free),
        instead of after the last unit, where the record thread takes the lock too. The bytes
        are taken only if no entry was added since and the document is the same (else
        :meth:`write` makes them as before); they are held until then (3.5 MB at 10,000
        RPMs). ``then``: called in the same thread afterwards (a thread's start waits for the
        interpreter lock: one start for both)."""
        thread = threading.Thread(target=self._encode_ahead, args=(compose_info, then),
                                  name="rpms-ahead", daemon=True)
        with self._lock:
            if self._ahead_thread is not None:
                return
            self._ahead_thread = thread
        thread.start()

    def _encode_ahead(self, compose_info, then=None):
        try:
            self._encode_payload(compose_info)
        finally:
            if then is not None:
                then()

    def _encode_payload(self, compose_info):
        try:
            with self._lock:
                resolved, changes = self._resolved(), self._changes
            text, at, marker = _rpms_document(compose_info)
            if at < 0:
                return
            nested = _nested(resolved)
            chunks = list(_payload_chunks(nested, text, at, marker))
            digest = hashlib.sha256()
            for chunk in chunks:
                digest.update(chunk)
            with self._lock:
                self._ahead = (changes, text, chunks, sum(map(len, chunks)), digest.digest())
                if self._changes == changes:
                    self._payload = (changes, nested)
        except Exception as exc:  # noqa: B902 - write makes them itself
            log.debug("rpms.json's payload not made ahead: %s", exc)

    def _ahead_made(self, changes, text):
        """(chunks, length, sha256) :meth:`encode_ahead` made of the payload at ``changes``
        entries with productmd's document ``text`` (waited for), or None; taken once."""
        with self._lock:
            thread = self._ahead_thread
        if thread is None:
            return None
        thread.join()
        with self._lock:
            ahead, self._ahead = self._ahead, None
        if ahead is None or ahead[0] != changes or ahead[1] != text:
            return None
        return ahead[2:]

    def _copy_payload(self, path, text, at, marker, source, fsync, names=None):
        """:meth:`write` with the payload of the rpms.json at ``source`` (its bytes from the
        ``"rpms"`` key of its payload to the end, hashed in place for ``written_payload``):
        False, writing nothing, when that file has no such payload or another indentation
        or end than ``text`` (productmd's document of this compose) gives it."""
        from .fileutil import FileRange
        from .reuse import map_file

        try:
            fd = os.open(source, os.O_RDONLY)
        except OSError:
            return False
        data = None
        try:
            st = os.fstat(fd)
            data = map_file(fd, st.st_size, min_size=0)
            if data is None:
                return False
            start = data.find(b'"payload": {')
            start = data.find(b'"rpms": ', start) if start >= 0 else -1
            line = text.rfind("\n", 0, at) + 1
            tail = text[at + len(marker):].encode("utf-8")
            if start < 0 or data.rfind(b"\n", 0, start) + 1 != start - (at - line) \
                    or data[start - (at - line):start] != text[line:at].encode("utf-8") \
                    or data[len(data) - len(tail):] != tail:
                return False
            digest = hashlib.sha256(memoryview(data)[start:]).digest()
            size = st.st_size - start
            head = text[:at].encode("utf-8")
            write_atomic(path, [head, FileRange(fd, start, size)], fsync=fsync)
            made = _written_entry(names, head)
            if made is not None:
                made.feed(data, start)
                self.written_entry = made.entry(path)
        except (OSError, ValueError):
            return False    # written here, as without a source
        finally:
            if data is not None:
                data.close()
            os.close(fd)
        self.written_payload = (size, digest)
        # the old file holds this payload: asked about by test.manifests and the driver's diff
        _SAME_PAYLOAD[(os.path.abspath(source), st.st_dev, st.st_ino, st.st_size,
                       st.st_mtime_ns, st.st_ctime_ns, size, digest)] = True
        return True

    def payload(self):
        """The ``payload.rpms`` of the rpms.json :meth:`write` writes, as ``json.load`` gives
        it back (``{variant: {arch: {srpm: {rpm: {"category", "path", "sigkey"}}}}}``): for
        the steps after the compose that read it (the compose diff, the report) without
        reading the file again."""
        with self._lock:
            made = self._payload
            if made is not None and made[0] == self._changes:
                return made[1]    # the one :meth:`write` wrote, or made before
            resolved, changes = self._resolved(), self._changes
        nested = _nested(resolved)
        with self._lock:
            if self._changes == changes:
                self._payload = (changes, nested)
        return nested


def payload_source(compose):
    """The rpms.json of the old compose whose payload this compose's rpms.json repeats (its
    ``RpmsRecorder.write`` then copies it: ``payload_from``), or None (written from the
    entries). A no-op re-run took every unit that adds packages from one old compose, and its
    entries are those units' journals replayed; the old compose's rpms.json holds exactly
    their entries when:

    - every entry here came from a replay of an old unit's journal as recorded
      (``RpmsRecorder.replayed_from``: none from a unit that ran here), all of one compose;
    - there, each of those units ended before its metadata.write started, and every other
      unit that started before metadata.write ended (it could have added entries before
      they were read) is recorded without packages in its journal (a unit taken here and not
      among those replayed: none; else its old journal is read);
    - its metadata.write ended well, and its rpms.json has not changed since: its inode's
      ctime (which no user can set back) is no later than that unit's end.

    The same pungi_like wrote it (the units' keys hold the software's digest). Equal
    entries added by two units with different values (none in practice) would make either
    rpms.json depend on the order the units ended, as it does without the copy."""
    replayed = compose.rpms.replayed_from()
    pool = getattr(compose, "reuse_pool", None)
    scheduler = getattr(compose, "scheduler", None)
    if not replayed or pool is None or scheduler is None:
        return None
    tops = {os.path.abspath(top) for top, _name in replayed}
    if len(tops) != 1:
        return None
    top = tops.pop()
    cids = {cid for cid, path, _read in pool.sources if os.path.abspath(path) == top}
    if len(cids) != 1:
        return None
    cid = cids.pop()
    path = os.path.join(top, "compose", "metadata", "rpms.json")
    try:
        with open(os.path.join(top, "logs", "global", "timeline.json"), "rb") as fh:
            units = {u["unit"]: u for u in json.load(fh)["units"]}
        meta = units.pop("metadata.write")
        if meta["result"] != "ok" or os.stat(path).st_ctime > meta["end"] + 0.001:
            return None
        # times rounded to the millisecond: a millisecond's margin, against the copy
        begin, end = meta["start"] - 0.001, meta["end"] + 0.001
        names = {name for _top, name in replayed}
        for name in names:
            if units.get(name, {}).get("result") != "ok" or units[name]["end"] > begin:
                return None
        with scheduler.timeline_lock:
            taken = {e["unit"] for e in scheduler.timeline if e.get("reused_from") == cid}
        for name, unit in units.items():
            if name in names or unit["start"] > end:
                continue
            if name in taken:
                continue    # replayed here without adding packages
            old = next((old for old in pool._units(name)
                        if os.path.abspath(old.topdir) == top), None)
            if old is None or any(op[0] in ("rpm", "rpms") for op in old.journal):
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return path


def _nested(resolved):
    """``{variant: {arch: {srpm: {rpm: {"category", "path", "sigkey"}}}}}`` of the resolved
    entries (rpms.json's ``payload.rpms`` as ``json.load`` gives it back)."""
    # the entries come a tree and a source package after another (a tree's rows added at
    # once): its dicts looked up again only when those change, not three ``setdefault``s (and
    # three empty dicts made) an entry - the nested payload is made on the path of a no-op
    # re-run's end (12,000 entries at 10,000 RPMs: 11 -> 7 ms)
    nested = {}
    tree_of = srpm_of = srpms = rpms = None
    for (variant, arch, srpm, rpm), (path, sigkey, category) in resolved.items():
        if srpm is not srpm_of or (variant, arch) != tree_of:
            if (variant, arch) != tree_of:
                tree_of = (variant, arch)
                arches = nested.get(variant)
                if arches is None:
                    arches = nested[variant] = {}
                srpms = arches.get(arch)
                if srpms is None:
                    srpms = arches[arch] = {}
            srpm_of = srpm
            rpms = srpms.get(srpm)
            if rpms is None:
                rpms = srpms[srpm] = {}
        rpms[rpm] = {"category": category, "path": path, "sigkey": sigkey}
    return nested


def same_rpms_payload(path, written):
    """Does the rpms.json at ``path`` hold the payload of ``written``
    (``RpmsRecorder.written_payload``: its length and sha256) after its ``"rpms"`` key? Then
    its ``payload.rpms`` parses to what that payload's does (the compose's own identity and
    date come before that key: productmd sorts the payload's ``compose`` first)."""
    if not written:
        return False
    size, digest = written
    # mapped, not read: only its pages are hashed, not a copy of its megabytes (each page of
    # the copy a page fault)
    from .reuse import map_file

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        # the answer for this very file (its identity) and payload, when asked before: a
        # no-op re-run's test.manifests and the driver's diff ask about the same old file
        known = (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                 st.st_ctime_ns, size, digest)
        if known in _SAME_PAYLOAD:
            return _SAME_PAYLOAD[known]
        data = map_file(fd, st.st_size)
        if data is None:
            with open(fd, "rb", closefd=False) as fh:
                data = fh.read()
    except OSError:
        return False
    finally:
        os.close(fd)
    at = data.find(b'"payload": {')
    at = data.find(b'"rpms": ', at) if at >= 0 else -1
    # hashed in place (a slice of megabytes would be copied first)
    same = at >= 0 and len(data) - at == size \
        and hashlib.sha256(memoryview(data)[at:]).digest() == digest
    _SAME_PAYLOAD[known] = same
    return same


#: ``same_rpms_payload``'s answers by the file's identity and the payload asked about
_SAME_PAYLOAD = {}


def _written_entry(names, head):
    """A ``reuse.WrittenEntry`` of a file whose first bytes are ``head`` (None without
    ``names``)."""
    if names is None:
        return None
    from .reuse import WrittenEntry

    return WrittenEntry(names, head)


def _payload_chunks(nested, text, at, marker):
    """The bytes of rpms.json from its payload's ``"rpms"`` key to its end, in chunks of
    about 64 KiB: ``text`` is productmd's document with an empty payload, ``marker`` (at
    ``at``) where the payload goes."""
    return _encoded_chunks(['"rpms": ', *_rpms_json_pieces(nested, text, at),
                            text[at + len(marker):]])


def _encoded_chunks(pieces, size=1 << 16):
    """The strings ``pieces`` encoded (UTF-8) in chunks of about ``size`` characters."""
    batch, count = [], 0
    for piece in pieces:
        batch.append(piece)
        count += len(piece)
        if count >= size:
            yield "".join(batch).encode("utf-8")
            batch, count = [], 0
    if batch:
        yield "".join(batch).encode("utf-8")


def _rpms_json_pieces(nested, text, at):
    """``{variant: {arch: {srpm: {rpm: {"category", "path", "sigkey"}}}}}`` (``_nested``) as
    ``json.dump(..., indent=4, sort_keys=True, separators=(",", ": "))`` writes it at the
    place ``at`` of ``text`` (its indentation is taken from the line there), as the list
    of its pieces in order."""
    # json.dumps of a string is json's C escaper behind a few Python calls; called directly
    # it is a fifth of the cost (four strings an entry, 12,000 entries at 10,000 RPMs). An
    # entry is one %-format of its three values (the few categories and signing keys quoted
    # once), the entries of a source package joined at once: 11 -> 7.5 ms at 10,000 RPMs
    quote = json.encoder.encode_basestring_ascii
    level = (at - text.rfind("\n", 0, at) - 1) // 4
    out = []
    append = out.append
    # the entries' level is the same for every source package: their separator, and one
    # %-template of an entry a (category, signing key) pair (a few in a compose) with the
    # two quoted, made once (each entry: its two paths quoted and one format)
    entry_inner = "\n" + " " * (4 * (level + 4))
    entry_deeper = entry_inner + "    "
    entry_end = "\n" + " " * (4 * (level + 3)) + "}"
    entry_sep = "," + entry_inner
    templates = {}

    def template(category, sigkey):
        made = templates[(category, sigkey)] = (
            ': {' + entry_deeper + '"category": ' + quote(category).replace("%", "%%") + ','
            + entry_deeper
            + '"path": %s,' + entry_deeper + '"sigkey": '
            + ("null" if sigkey is None else quote(sigkey)).replace("%", "%%")
            + entry_inner + "}")
        return made

    def block(data, lvl, depth):
        if not data:
            append("{}")
            return
        if depth == 3:
            get = templates.get
            append("{" + entry_inner + entry_sep.join([
                quote(key) + ((get((entry["category"], entry["sigkey"]))
                               or template(entry["category"], entry["sigkey"]))
                              % quote(entry["path"]))
                for key, entry in sorted(data.items())]))
            append(entry_end)
            return
        inner = "\n" + " " * (4 * (lvl + 1))
        sep = "{" + inner
        for key in sorted(data):
            append(sep)
            sep = "," + inner
            append(quote(key))
            append(": ")
            block(data[key], lvl + 1, depth + 1)
        append("\n" + " " * (4 * lvl) + "}")

    block(nested, level, 0)
    return out


def write_modules(path, compose_info, fsync=True):
    """Dump modules.json (productmd.modules, format 1.2) atomically. Pungi writes it for every
    compose, with an empty ``modules`` payload when nothing is modular (pungi_like builds no
    module streams yet, so it is always empty)."""
    modules = productmd.modules.Modules()
    _fill_compose(modules.compose, compose_info)
    write_atomic(path, _dump(modules), fsync=fsync)


# ---- images.json ---------------------------------------------------------------------------

def make_image(path, compose_dir, *, type, format, arch, disc_number=1, disc_count=1,
               bootable=False, implant_md5=None, volume_id=None, subvariant="",
               checksums=None, unified=False, additional_variants=None):
    """A productmd Image describing the file at ``path`` (absolute, below ``compose_dir``).

    ``path`` in the image becomes relative to ``compose/``; size and mtime come from the file
    (mtime clamped to SOURCE_DATE_EPOCH when set). ``checksums`` is ``{alg: hex}``; the
    imagechecksum phase may add them later with ``image.add_checksum(None, alg, hex)``.
    """
    st = os.stat(path)
    image = productmd.images.Image(None)
    image.path = os.path.relpath(os.path.abspath(path), os.path.abspath(compose_dir))
    if image.path.startswith(".."):
        raise ValueError(f"image {path} is not below the compose directory {compose_dir}")
    mtime = int(st.st_mtime)
    sde = source_date_epoch()
    image.mtime = min(mtime, sde) if sde is not None else mtime
    image.size = st.st_size
    image.type = type
    image.format = format
    image.arch = arch
    image.disc_number = int(disc_number)
    image.disc_count = int(disc_count)
    image.bootable = bool(bootable)
    image.implant_md5 = implant_md5
    image.volume_id = volume_id
    image.subvariant = subvariant or ""
    image.checksums = dict(checksums or {})
    image.unified = bool(unified)
    image.additional_variants = list(additional_variants or [])
    for name in ("type", "format"):
        getattr(image, f"_validate_{name}")()
    return image


class ImagesRecorder:
    """Collects images.json entries from concurrent units; ``write`` dumps them via productmd.

    Source images (arch ``src``) are recorded under the binary arch key the caller gives, as
    productmd requires; pass the binary arch of the variant for them.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._images = productmd.images.Images()

    def add(self, variant_uid, arch, image):
        """Record one image; raises ValueError on a clash (same identity, other checksums)."""
        with self._lock:
            self._images.add(variant_uid, arch, image)
        from . import reuse

        reuse.note_journal("image_add", variant_uid, arch, image)

    def has_images(self):
        with self._lock:
            return any(imgs for arches in self._images.images.values()
                       for imgs in arches.values())

    def items(self):
        """Sorted list of (variant_uid, arch, Image); Images may be updated (checksums)."""
        with self._lock:
            return sorted(((v, a, img) for v, arches in self._images.images.items()
                           for a, imgs in arches.items() for img in imgs),
                          key=lambda t: (t[0], t[1], t[2].path))

    def to_productmd(self, compose_info):
        with self._lock:
            _fill_compose(self._images.compose, compose_info)
            return self._images

    def write(self, path, compose_info, fsync=True):
        """Dump images.json (productmd.images, format 1.2) atomically."""
        images = self.to_productmd(compose_info)
        with self._lock:
            text = _dump(images)
        write_atomic(path, text, fsync=fsync)


# ---- composeinfo.json ----------------------------------------------------------------------

def _fill_release(target, release):
    target.name = release.name
    target.short = release.short
    target.version = release.version
    target.type = (release.type or "ga").lower()
    if hasattr(target, "internal"):
        target.internal = bool(getattr(release, "internal", False))
    if hasattr(target, "is_layered"):
        target.is_layered = bool(getattr(release, "is_layered", False))


def _variant_paths(variant, paths):
    """{field: {arch: abs path}} of the directories a variant may have in the compose.

    As in Pungi, an addon's ``os_tree``, ``debug_tree`` and ``source_tree`` are its parent's
    trees, while its packages and repositories are its own ``addons/<id>`` directories."""
    result = {}
    addon = variant.type == "addon" and variant.parent is not None
    tree_owner = variant.parent if addon else variant
    source_repo = paths.source_tree(variant)
    for arch in variant.arches:
        debug_repo = paths.debug_tree(arch, variant)
        candidates = {
            "os_tree": paths.os_tree(arch, tree_owner),
            "packages": paths.packages_dir(arch, variant),
            "repository": paths.repository(arch, variant),
            "isos": paths.iso_dir(arch, variant),
            "images": paths.images_dir(arch, variant),
            "source_tree": paths.source_tree(tree_owner),
            "source_packages": paths.source_packages_dir(variant),
            "source_repository": source_repo,
            "source_isos": paths.iso_dir("src", variant),
            "debug_tree": paths.debug_tree(arch, tree_owner),
            "debug_packages": paths.debug_packages_dir(arch, variant),
            "debug_repository": debug_repo,
        }
        for name, path in candidates.items():
            result.setdefault(name, {})[arch] = path
    return result


def _top_variants(variants):
    if isinstance(variants, dict):
        return list(variants.values())
    return [v for v in variants if v.parent is None]


def composeinfo(*, compose_info, release, base_product, variants, paths):
    """The productmd ComposeInfo of a compose (see ``write_composeinfo``)."""
    ci = productmd.composeinfo.ComposeInfo()
    _fill_compose(ci.compose, compose_info)
    _fill_release(ci.release, release)
    ci.release.is_layered = bool(base_product) or bool(getattr(release, "is_layered", False))
    if ci.release.is_layered:
        if base_product is None:
            raise ValueError("a layered release needs base_product")
        _fill_release(ci.base_product, base_product)

    def build(variant):
        var = productmd.composeinfo.Variant(ci)
        var.id = variant.id.replace("-", "")
        var.uid = variant.uid
        var.name = variant.name
        var.type = variant.type
        var.arches = set(variant.arches)
        if variant.type == "layered-product":
            var.release.name = variant.release_name
            var.release.short = variant.release_short
            var.release.version = variant.release_version
            var.release.type = ci.release.type
            var.release.is_layered = True
        for name, by_arch in _variant_paths(variant, paths).items():
            for arch, path in sorted(by_arch.items()):
                # a path is listed only when its directory exists (no isos key without ISOs)
                if os.path.isdir(path):
                    getattr(var.paths, name)[arch] = paths.relative(path)
        for child in sorted(variant.children):
            var.add(build(child))
        return var

    for variant in sorted(_top_variants(variants), key=lambda v: v.uid):
        ci.variants.add(build(variant))
    return ci


def write_composeinfo(path, *, compose_info, release, base_product, variants, paths,
                      fsync=True):
    """Write composeinfo.json: compose, release (+ base_product when layered) and every variant
    (children flattened under their UID) with the paths of the directories that exist.

    ``variants``: the top-level dict from ``load_variants`` or the flat ``all_variants`` list;
    ``paths``: the compose's ``pungi_like.paths.Paths``.
    """
    ci = composeinfo(compose_info=compose_info, release=release, base_product=base_product,
                     variants=variants, paths=paths)
    write_atomic(path, _dump(ci), fsync=fsync)


# ---- .treeinfo -----------------------------------------------------------------------------

def _rel(path, start):
    return os.path.relpath(path, start).rstrip("/") or "."


def _tree_release(ti, release, base_product, variant, treeinfo_version=None):
    if variant.type == "layered-product":
        # a layered product's tree describes the product on top of the base release's major
        # version, as if it had been composed on its own
        ti.release.name = variant.release_name
        ti.release.short = variant.release_short
        ti.release.version = variant.release_version
        ti.release.type = (release.type or "ga").lower()
        ti.release.is_layered = True
        ti.base_product.name = release.name
        ti.base_product.short = release.short
        ti.base_product.version = productmd.common.get_major_version(release.version)
        return
    ti.release.name = release.name
    ti.release.short = release.short
    ti.release.version = treeinfo_version or release.version
    ti.release.type = (release.type or "ga").lower()
    ti.release.is_layered = bool(base_product)
    if base_product:
        ti.base_product.name = base_product.name
        ti.base_product.short = base_product.short
        ti.base_product.version = base_product.version


def write_treeinfo(tree_dir, *, variant, arch, paths, release=None, base_product=None,
                   conf=None, checksum_type="sha256", timestamp=None, treeinfo_version=None,
                   images=None, stage2_mainimage=None, buildinstall_treeinfo=None, media=None,
                   all_variants=None, fsync=True):
    """Write ``<tree_dir>/.treeinfo`` for ``variant`` on ``arch`` (``src`` for a source tree;
    ``fsync``: as ``fileutil.write_atomic``'s).

    Release data come from ``release``/``base_product`` or, when omitted, from ``conf``.
    Addons get no file of their own (returns None): they appear as ``addon-<UID>`` sections in
    their parent's tree, with paths relative to it; empty variants get none either.
    ``images`` ({platform: {name: relpath}}), ``stage2_mainimage`` and ``buildinstall_treeinfo``
    (a .treeinfo whose images and stage2 are copied) describe boot files; each listed file and
    each repodata/repomd.xml gets a checksum of ``checksum_type``. ``media`` = (discnum,
    totaldiscs) for ISO copies. Returns the path written. ``all_variants`` is accepted for
    callers' convenience and unused (children are reached through the variant).
    """
    if variant.type == "addon" or variant.is_empty:
        return None
    if release is None:
        if conf is None:
            raise TypeError("write_treeinfo needs release= or conf=")
        release = release_from_conf(conf)
        base_product = base_product_from_conf(conf)
        treeinfo_version = treeinfo_version or getattr(conf, "treeinfo_version", None)
    if conf is not None and checksum_type is None:
        checksum_type = conf.createrepo_checksum
    tree_dir = os.path.abspath(tree_dir)
    ts = int(timestamp) if timestamp is not None else timestamp_now()

    ti = productmd.treeinfo.TreeInfo()
    _tree_release(ti, release, base_product, variant, treeinfo_version)
    ti.tree.arch = arch
    ti.tree.build_timestamp = ts

    main = productmd.treeinfo.Variant(ti)
    identity = variant.parent if variant.type == "layered-product" else variant
    main.id = identity.id.replace("-", "")
    main.uid = identity.uid
    main.name = identity.name
    main.type = "variant" if variant.type == "layered-product" else identity.type
    if arch == "src":
        main.paths.packages = "Packages"
        main.paths.repository = "."
    else:
        main.paths.packages = _rel(paths.packages_dir(arch, variant), tree_dir)
        main.paths.repository = _rel(paths.repository(arch, variant), tree_dir)
    ti.variants.add(main)

    def checksum(relpath):
        if os.path.isfile(os.path.join(tree_dir, relpath)):
            ti.checksums.add(relpath, checksum_type, root_dir=tree_dir)

    checksum(os.path.join(main.paths.repository, "repodata", "repomd.xml"))
    for addon in variant.get_variants(arch=arch, types=["addon"]):
        sec = productmd.treeinfo.Variant(ti)
        sec.id = addon.id.replace("-", "")
        sec.uid = addon.uid
        sec.name = addon.name
        sec.type = addon.type
        addon_tree = paths.os_tree(arch, addon)
        # an addon's packages are directly in its tree (source and binary), as in Pungi
        sec.paths.packages = _rel(addon_tree if arch == "src"
                                  else paths.packages_dir(arch, addon), tree_dir)
        sec.paths.repository = _rel(addon_tree if arch == "src"
                                    else paths.repository(arch, addon), tree_dir)
        main.add(sec)
        checksum(os.path.join(sec.paths.repository, "repodata", "repomd.xml"))

    if buildinstall_treeinfo:
        bi = productmd.treeinfo.TreeInfo()
        bi.load(buildinstall_treeinfo)
        images = {**{p: dict(v) for p, v in bi.images.images.items()}, **(images or {})}
        stage2_mainimage = stage2_mainimage or bi.stage2.mainimage
    for platform, files in sorted((images or {}).items()):
        ti.tree.platforms.add(platform)
        for name, relpath in sorted(files.items()):
            if relpath:
                ti.images.images.setdefault(platform, {})[name] = relpath
                checksum(relpath)
    if stage2_mainimage:
        ti.stage2.mainimage = stage2_mainimage
        checksum(stage2_mainimage)
    if media:
        ti.media.discnum, ti.media.totaldiscs = int(media[0]), int(media[1])

    path = os.path.join(tree_dir, ".treeinfo")
    # Pungi dumps without main_variant: [general] variant is then the main variant's id
    write_atomic(path, _dump(ti), fsync=fsync)
    return path


# ---- .discinfo and media.repo --------------------------------------------------------------

def discinfo_description(conf, variant, arch):
    """``release_discinfo_description`` (with %(variant_name)s, %(arch)s) or Pungi's default:
    ``<name> <version>`` (+ `` for <base name> <base version>``); layered products describe
    themselves on top of the release's major version."""
    template = getattr(conf, "release_discinfo_description", None)
    if template:
        result = template
    elif variant.type == "layered-product":
        result = (f"{variant.release_name} {variant.release_version} for {conf.release_name} "
                  f"{productmd.common.get_major_version(conf.release_version)}")
    else:
        result = f"{conf.release_name} {conf.release_version}"
        if getattr(conf, "base_product_name", None):
            result += f" for {conf.base_product_name} {conf.base_product_version}"
    try:
        return result % {"variant_name": variant.name, "arch": arch}
    except (KeyError, ValueError, TypeError):
        # a literal '%' the user did not mean as a placeholder
        return result


def _discinfo_timestamp(timestamp):
    if timestamp is not None:
        return str(timestamp)
    sde = source_date_epoch()
    return str(sde) if sde is not None else "%f" % time.time()


def write_discinfo(tree_dir, description, arch, disc_numbers="ALL", timestamp=None, fsync=True):
    """Write ``<tree_dir>/.discinfo``: timestamp, description, arch, disc numbers (``ALL`` or
    e.g. ``[1]``; ``fsync``: as ``fileutil.write_atomic``'s). Returns the timestamp string
    written (media.repo's mediaid)."""
    stamp = _discinfo_timestamp(timestamp)
    if disc_numbers in (None, "ALL", ["ALL"]):
        discs = "ALL"
    elif isinstance(disc_numbers, int):
        discs = str(disc_numbers)
    else:
        discs = ",".join(str(int(n)) for n in disc_numbers)
    write_atomic(os.path.join(tree_dir, ".discinfo"),
                 f"{stamp}\n{description}\n{arch}\n{discs}\n", fsync=fsync)
    return stamp


def write_media_repo(tree_dir, description, timestamp=None, fsync=True):
    """Write ``<tree_dir>/media.repo``. Without ``timestamp`` the mediaid is the tree's
    .discinfo timestamp (so both files agree), else SOURCE_DATE_EPOCH or now (``fsync``: as
    ``fileutil.write_atomic``'s)."""
    if timestamp is None:
        try:
            with open(os.path.join(tree_dir, ".discinfo"), encoding="utf-8") as fh:
                timestamp = fh.readline().strip() or None
        except FileNotFoundError:
            pass
    stamp = _discinfo_timestamp(timestamp)
    text = (f"[InstallMedia]\nname={description}\nmediaid={stamp}\nmetadata_expire=-1\n"
            "gpgcheck=0\ncost=500\n")
    path = os.path.join(tree_dir, "media.repo")
    write_atomic(path, text, fsync=fsync)
    return stamp
