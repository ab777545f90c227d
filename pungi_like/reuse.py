"""Reuse of units from old composes, and resume of a killed compose.

The model:
- Every unit's **key** is a hash of its declared inputs and of the output hashes of the units it
  needs (``scheduler``). Before hashing, the compose's top directory and id are replaced by
  placeholders, so the same work in another compose has the same key.
- While a unit runs, what it leaves behind is **captured** in its own thread: every file it
  writes under the compose directory (Python's audit events for open-for-write, rename, link,
  symlink and copy, plus files a tool run by ``tools.run`` created under a path named on its
  command line), what it hands to other units (``compose.results.put``), the rpms.json entries
  it adds, the images.json entries it adds or changes, and the ``SOURCE_DATE_EPOCH`` it adopts.
- When it ends, the unit's **record** (``work/global/units/<unit>.json``) holds its key, its
  outputs, its files (sha256, size, and whether the bytes name the compose's directory or id)
  and that journal, as JSON. Its output hash covers the files' hashes, so a change in any file
  changes the key of every unit downstream.
- A unit whose key equals a finished unit's in an old compose (``--old-composes``, the target
  directory's earlier FINISHED composes of the release) or, on ``--resume``, in the compose
  itself, is **restored** instead of run: its files are verified against their hashes and
  hard-linked in (copied across file systems), and its journal replayed. A file whose bytes
  name the old compose's directory or id is rewritten when it is text (small, UTF-8) or gzip
  repodata (``rewrite_repodata``); any other such file makes the unit run again.
  ``metadata.write`` always runs (it writes the compose's identity).

The capture lives in ``reuse_capture``, the content behind a unit's key and file digests in
``reuse_keys``; this module has the record, the old composes and the restore.
"""

import dataclasses
import errno
import functools
import gzip
import hashlib
import importlib
import json
import logging
import os
import re
import shutil
import stat
import threading

from . import reuse_precheck
from .fileutil import FileRange, ln_ended, start_ln, write_atomic
from .reuse_capture import (Capture, capturing, current, note_journal,  # noqa: F401
                            note_tool_outputs)
from .reuse_keys import (_stat_id, content_inputs, file_digest, is_cached,  # noqa: F401
                         koji_fingerprint, remember, software_digest)

log = logging.getLogger("pungi_like.reuse")

TOPDIR = "{topdir}"
COMPOSE_ID = "{compose_id}"

#: units never taken from another compose
NEVER_REUSED = ("metadata.write",)

#: the prefix of a record's relative paths under work/ (``ReusePool.check``'s ``defer``)
WORK = "work" + os.sep

#: Pungi's ``<phase>_allow_reuse`` option of each phase that has one
ALLOW_REUSE_OPTIONS = {
    "pkgset": "pkgset_allow_reuse",
    "gather": "gather_allow_reuse",
    "buildinstall": "buildinstall_allow_reuse",
    "createiso": "createiso_allow_reuse",
    "extra_isos": "extraiso_allow_reuse",
    "image_build": "image_build_allow_reuse",
}

def _options():
    from .config.options import Option

    # the other phases' *_allow_reuse options are declared next to their phases
    return [
        Option("extraiso_allow_reuse", {"type": "boolean"}, default=True,
               help="Reuse the extra ISOs of an old compose when their inputs are unchanged."),
        Option("image_build_allow_reuse", {"type": "boolean"}, default=False,
               help="Reuse the images an image_build task made for an old compose when the "
                    "kickstart, repos content and options are unchanged (Pungi's default: "
                    "False)."),
    ]


#: text outputs naming the old compose are rewritten up to this size
REWRITE_LIMIT = 8 << 20

#: classes whose objects a unit may hand to others (the record's JSON names them)
RECORDABLE = {
    "pungi_like.rpmtools.headers:RpmHeader",
    "pungi_like.rpmtools.depsolve:GatheredPackage",
    "pungi_like.rpmtools.depsolve:GatherResult",
    "pungi_like.rpmtools.depsolve:Repo",
    "phases.pkgset:PackageSet",
}


class Lazy:
    """A recorded value decoded on first use (``Results.put_lazy``)."""

    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make


class NotRecordable(Exception):
    """A unit handed over an object the record cannot hold; the unit is not reusable."""


# ---- normalising ---------------------------------------------------------------------------

class Names:
    """Replaces a compose's directory and id by placeholders and back."""

    def __init__(self, topdir, compose_id):
        self.topdir = os.path.abspath(topdir)
        self.compose_id = compose_id

    def norm(self, text):
        return text.replace(self.topdir, TOPDIR).replace(self.compose_id, COMPOSE_ID)

    def expand(self, text):
        return text.replace(TOPDIR, self.topdir).replace(COMPOSE_ID, self.compose_id)


def encode(value, names):
    """JSON of a value a unit hands over (see ``RECORDABLE``)."""
    kind = type(value)
    if kind is str:
        return names.norm(value) if "/" in value or names.compose_id in value else value
    if value is None or kind in (bool, int, float):
        return value
    if kind is list:
        return _encode_items(value, names)
    if kind is tuple:
        return {"__tuple__": [encode(v, names) for v in value]}
    if kind in (set, frozenset):
        items = [encode(v, names) for v in value]
        try:
            items.sort()
        except TypeError:
            items.sort(key=json.dumps)
        return {"__set__": items}
    if kind is dict:
        return {"__dict__": [[encode(k, names), encode(v, names)] for k, v in value.items()]}
    fields = _fields.get(kind)
    if fields is None and not dataclasses.is_dataclass(value):
        # subclasses of the plain containers (OrderedDict, defaultdict ...) and str enums
        for base in (str, dict, list, tuple, set, frozenset, int, float):
            if isinstance(value, base):
                return encode(base(value), names)
    name, names_of_fields = fields or _recordable_fields(value)
    # strings and numbers, most of a package header's fields, without a call each (a
    # package set hands over one header a package: 10,000-60,000, encoded by two units)
    compose_id, out = names.compose_id, {}
    for field_name in names_of_fields:
        item = getattr(value, field_name)
        kind = type(item)
        if kind is str:
            out[field_name] = names.norm(item) if "/" in item or compose_id in item else item
        elif item is None or kind is int or kind is bool or kind is float:
            out[field_name] = item
        else:
            out[field_name] = encode(item, names)
    return {"__dc__": name, "fields": out}


def _recordable_fields(value):
    """(class name, field names) of a recordable dataclass object; NotRecordable otherwise."""
    kind = type(value)
    fields = _fields.get(kind)
    if fields is None:
        if not (dataclasses.is_dataclass(value) and not isinstance(value, type)):
            raise NotRecordable(kind.__name__)
        name = f"{kind.__module__}:{kind.__qualname__}"
        if name not in RECORDABLE:
            raise NotRecordable(name)
        fields = _fields[kind] = (name, tuple(f.name for f in dataclasses.fields(value)))
    return fields


def _encode_items(items, names):
    """``encode`` of each item of a list, strings and numbers without a call each."""
    compose_id, out = names.compose_id, []
    append = out.append
    for item in items:
        kind = type(item)
        if kind is str:
            append(names.norm(item) if "/" in item or compose_id in item else item)
        elif item is None or kind is int or kind is bool or kind is float:
            append(item)
        else:
            append(encode(item, names))
    return out


_fields = {}

#: the JSON text of ``encode`` of a value, as ``build_record`` writes a handed-over value
_dumps = json.JSONEncoder(default=str, separators=(",", ":")).encode
#: a string's JSON text as ``_dumps`` writes it (ensure_ascii)
_string = json.encoder.encode_basestring_ascii


def encode_text(value, names):
    """``_dumps(encode(value, names))``, the same text, written without the dicts and lists
    ``encode`` makes for a recordable dataclass, a dict, a list, a tuple or a set of strings
    (a package set's headers, a gather's packages: 10,000+ objects a record); any other value
    (a float, a subclass of a container, a set of other items) is encoded and dumped as
    before."""
    kind = type(value)
    if kind is str:
        return _string(names.norm(value) if "/" in value or names.compose_id in value
                       else value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is list:
        return "[" + ",".join([encode_text(v, names) for v in value]) + "]"
    if kind is dict:
        return '{"__dict__":[' + ",".join(
            ["[" + encode_text(k, names) + "," + encode_text(v, names) + "]"
             for k, v in value.items()]) + "]}"
    if kind is tuple:
        return '{"__tuple__":[' + ",".join([encode_text(v, names) for v in value]) + "]}"
    if kind is set or kind is frozenset:
        if all(type(v) is str for v in value):
            items = sorted(names.norm(v) if "/" in v or names.compose_id in v else v
                           for v in value)
            return '{"__set__":[' + ",".join([_string(v) for v in items]) + "]}"
        return _dumps(encode(value, names))
    fields = _field_texts[kind]
    if fields is None:
        if not dataclasses.is_dataclass(value):
            return _dumps(encode(value, names))
        _recordable_fields(value)   # a class met first (NotRecordable as encode raises it)
        fields = _field_texts[kind]
    start, pairs = fields
    compose_id, out = names.compose_id, []
    for field_name, key in pairs:
        item = getattr(value, field_name)
        kind = type(item)
        if kind is str:
            out.append(key + _string(names.norm(item) if "/" in item or compose_id in item
                                     else item))
        elif item is None:
            out.append(key + "null")
        elif kind is int:
            out.append(key + int.__repr__(item))
        else:
            out.append(key + encode_text(item, names))
    return start + ",".join(out) + "}}"


class _FieldTexts(dict):
    """``{class: ('{"__dc__":NAME,"fields":{', ((field, '"field":'), ...))}`` of the classes
    ``encode`` met (``_fields``), made at the first use of each."""

    def __missing__(self, kind):
        fields = _fields.get(kind)
        if fields is None:
            return None
        name, names_of_fields = fields
        made = self[kind] = ('{"__dc__":' + _string(name) + ',"fields":{',
                             tuple((f, _string(f) + ":") for f in names_of_fields))
        return made


_field_texts = _FieldTexts()


class SharedTexts:
    """The JSON text of ``encode`` of each object of ``SHARED`` (a package header) made once
    for the records of one compose, by ``put_json_text``: pkgset.global hands its headers
    over and each pkgset.<arch> hands most of the same header objects over again, which two
    records encoded and dumped one after the other (0.3-0.4 s of the record thread's CPU at
    10,000 RPMs, beside the compose's tail). A handed-over value is not changed afterwards
    (a unit changes no shared state but through the compose's recorders); the objects are held
    here, so an id is not given to another object while its text is kept, until the record of
    a unit of another phase than ``SHARED_PHASES`` is built (``build_record``): the package
    set's units end before the gathers, so their records come one after another, and the
    texts (tens of megabytes at 60,000 RPMs) are not kept for the rest of the compose."""

    def __init__(self, names):
        self.names = names
        self._texts = {}   # id(object) -> (object, text)
        self._lock = threading.Lock()

    def text(self, value):
        known = self._texts.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        text = encode_text(value, self.names)
        with self._lock:
            self._texts[id(value)] = (value, text)
        return text

    def clear(self):
        with self._lock:
            self._texts = {}

    def __len__(self):
        return len(self._texts)


#: classes whose objects two units hand over (a package set's headers)
SHARED = {"pungi_like.rpmtools.headers:RpmHeader"}
#: the phases whose units hand them over
SHARED_PHASES = ("pkgset",)
#: classes holding those objects (a package set arch's ``packages``), whose fields
#: ``put_json_text`` writes one by one
SHARED_HOLDERS = {"phases.pkgset:PackageSet"}


def put_json_text(value, names, shared=None):
    """``json.dumps(encode(value, names), default=str, separators=(",", ":"))``, the same
    text, with each object of ``SHARED`` in it (at the top, in a dict or list, or in a
    field of a ``SHARED_HOLDERS`` object) taken from ``shared`` (a ``SharedTexts``)."""
    if shared is None:
        return encode_text(value, names)
    out = []
    _shared_pieces(value, names, shared, out)
    return "".join(out)


def _sharing(kind):
    """"shared" (a class of SHARED), "holder" (of SHARED_HOLDERS) or None, for a type."""
    found = _sharing_of.get(kind)
    if found is None:
        found = False
        if dataclasses.is_dataclass(kind):
            fields = _fields.get(kind)
            name = fields[0] if fields is not None else f"{kind.__module__}:{kind.__qualname__}"
            found = "shared" if name in SHARED else "holder" if name in SHARED_HOLDERS else False
        _sharing_of[kind] = found
    return found


_sharing_of = {}


def _holds_shared(value):
    """Is ``value`` an object of SHARED or SHARED_HOLDERS, or a dict (list) whose first
    value (item) is one? Others are dumped whole, by json's C encoder."""
    kind = type(value)
    if kind is dict:
        value = next(iter(value.values()), None)
    elif kind is list:
        value = value[0] if value else None
    return value is not None and bool(_sharing(type(value)))


def _shared_pieces(value, names, shared, out):
    kind = type(value)
    sharing = _sharing(kind)
    if sharing == "shared":
        out.append(shared.text(value))
    elif sharing == "holder":
        # encode's {"__dc__": name, "fields": {...}}, its fields one by one
        name, names_of_fields = _recordable_fields(value)
        out.append('{"__dc__":' + _dumps(name) + ',"fields":{')
        for i, field_name in enumerate(names_of_fields):
            out.append(("," if i else "") + _dumps(field_name) + ":")
            _shared_pieces(getattr(value, field_name), names, shared, out)
        out.append("}}")
    elif not _holds_shared(value):
        out.append(encode_text(value, names))
    elif kind is dict:
        # a package set's {file name: header}: a shared item's text without a call each
        compose_id, text = names.compose_id, shared.text
        append = out.append
        append('{"__dict__":[')
        first = True
        for key, item in value.items():
            if type(key) is str:   # encode's and json's own handling of a string
                key = _string(names.norm(key) if "/" in key or compose_id in key else key)
            else:
                key = encode_text(key, names)
            if _sharing(type(item)) == "shared":
                append(("[" if first else ",[") + key + "," + text(item) + "]")
            else:
                append(("[" if first else ",[") + key + ",")
                _shared_pieces(item, names, shared, out)
                append("]")
            first = False
        append("]}")
    else:   # a list
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _shared_pieces(item, names, shared, out)
        out.append("]")


def decode(data, names):
    kind = type(data)
    if kind is str:
        return names.expand(data) if "{" in data else data
    if data is None or kind in (bool, int, float):
        return data
    if kind is list:
        return [decode(v, names) for v in data]
    if "__tuple__" in data:
        return tuple(decode(v, names) for v in data["__tuple__"])
    if "__set__" in data:
        return {decode(v, names) for v in data["__set__"]}
    if "__dict__" in data:
        return {_hashable(decode(k, names)): decode(v, names) for k, v in data["__dict__"]}
    if "__dc__" in data:
        klass = _classes.get(data["__dc__"])
        if klass is None:
            if data["__dc__"] not in RECORDABLE:
                raise NotRecordable(data["__dc__"])
            module, _, cls = data["__dc__"].partition(":")
            klass = _classes[data["__dc__"]] = getattr(importlib.import_module(module), cls)
        return klass(**{k: decode(v, names) for k, v in data["fields"].items()})
    raise NotRecordable("unknown record value")


_classes = {}


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


# ---- files ---------------------------------------------------------------------------------

def describe_files(paths, names, remember_old=None, known=None, linked=None):
    """The record's ``files``: ``{normalised relative path: {sha256, size, names_compose}}``;
    ``names_compose`` is False, "text" or "binary". ``remember_old``: called once, at the first
    hard-linked file whose digest this process does not know, to hand over an old record's
    digests (``ReusePool.remember_digests``; reading the old record costs more than it saves
    when the files were hashed already, as a gather's links of the package set are).
    ``known``: ``{path: entry}`` of files whose entries the caller made as they were written
    (``bytes_entry``); ``linked``: ``{path: entry}`` of hard links the unit made of files
    whose entries it knows (an old record's of the very files: ``phases.pkgset``'s
    ``entries_from_old``), taken without a stat."""
    needles = (names.topdir.encode(), names.compose_id.encode())
    top = os.path.join(names.topdir, "")
    not_recorded = ("logs" + os.sep, os.path.join("work", "global", "units") + os.sep)
    files = {}
    for path in sorted(paths):
        entry = linked.get(path) if linked else None
        if entry is None:
            try:
                st = os.lstat(path)   # one stat a file: a regular file, not a link (10k+ a unit)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
        # relpath's abspath of both sides costs more than the rest of this loop
        rel = os.path.normpath(path[len(top):]) if path.startswith(top) \
            else os.path.relpath(path, names.topdir)
        if rel.startswith(not_recorded) or rel.rpartition(os.sep)[2].startswith(".tmp-") \
                or rel in ("STATUS", "COMPOSE_ID"):
            continue
        if entry is not None:
            files[names.norm(rel)] = dict(entry)
            continue
        if known and path in known and known[path].get("stat") == [st.st_ino, st.st_size,
                                                                   st.st_mtime_ns]:
            files[names.norm(rel)] = known[path]
            continue
        if remember_old is not None and st.st_nlink > 1 and not is_cached(st, needles):
            remember_old()
            remember_old = None
        digest, found = file_digest(path, needles, st=st)
        mark = False
        if any(found.values()):
            if "compressed" in found.values():
                # repodata naming the compose in xml:base (work/ repos): rewritten as a whole
                in_repodata = os.path.basename(os.path.dirname(path)) == "repodata" and \
                    os.path.exists(os.path.join(os.path.dirname(path), "repomd.xml"))
                mark = "repodata" if in_repodata else "binary"
            else:
                # read once for both: is it text, and its normalised digest (a compose's
                # rpms.json, 3.5 MB at 10,000 RPMs, was read three times for its record)
                text = _text_bytes(path) if st.st_size <= REWRITE_LIMIT else None
                mark = "binary" if text is None else "text"
        files[names.norm(rel)] = entry = {"sha256": digest, "size": st.st_size,
                                          "names_compose": mark, "stat": list(_stat_id(st)[1:])}
        if mark in ("text", "repodata"):
            entry["content"] = _content_digest(path, names, digest, st.st_size,
                                               text if mark == "text" else None)
            text = None
    mark_rewritten_repomd(files)
    return files


def mark_rewritten_repomd(files):
    """repomd.xml of a repodata rewritten on reuse lists the new files' checksums: the chain
    follows the normalised metadata instead (``chain`` False)."""
    rewritten = {os.path.dirname(rel) for rel, e in files.items()
                 if e.get("names_compose") == "repodata"}
    if not rewritten:
        return
    for rel, entry in files.items():
        if rel.endswith("repomd.xml") and os.path.basename(rel) == "repomd.xml" \
                and os.path.dirname(rel) in rewritten:
            entry["chain"] = False


#: (sha256, size, compose directory, compose id) -> normalised_digest of such bytes
_normalised = {}
_normalised_lock = threading.Lock()


def after_fork_in_child():
    """In a child forked from a process whose other threads may have held this module's lock
    (``scheduler.record_child``): a lock of its own."""
    global _normalised_lock
    _normalised_lock = threading.Lock()


def _content_digest(path, names, digest, size, data=None):
    """``normalised_digest`` of a file whose bytes have this sha256 and size, made once for
    the same bytes (a package set arch's repodata copied from the global repo's); ``data``:
    its bytes when the caller read them already (not a gzip file's)."""
    key = (digest, size, names.topdir, names.compose_id)
    with _normalised_lock:
        known = _normalised.get(key)
    if known is None:
        known = normalised_digest(path, names) if data is None else \
            normalised_digest(path, names, data)
        with _normalised_lock:
            _normalised[key] = known
    return known


def normalised_digest(path, names, data=None):
    """sha256 of a file's bytes (decompressed for gzip) with the compose's directory and id
    replaced by placeholders: equal for the same content in two composes. ``data``: the
    bytes of a file that is not gzip, read already."""
    if data is None or path.endswith(".gz"):
        with open(path, "rb") as fh:
            data = fh.read()
        if path.endswith(".gz"):
            # in one call (``gzip.open``'s reads gave the interpreter lock up every 8 KiB of
            # the file: reuse_keys.gunzip_pieces)
            data = gzip.decompress(data)
    data = data.replace(names.topdir.encode(), TOPDIR.encode()).replace(
        names.compose_id.encode(), COMPOSE_ID.encode())
    return hashlib.sha256(data).hexdigest()


def chain_digests(files):
    """What of a unit's files enters its output hash (see ``describe_files``)."""
    chain = {}
    for rel, f in files.items():
        if not f.get("chain", True):
            continue
        if f.get("names_compose") == "repodata":
            # the file name carries the checksum of the compressed bytes
            base, name = os.path.split(rel)
            rel = os.path.join(base, re.sub(r"^[0-9a-f]{32,128}-", "", name))
        chain[rel] = f.get("content", f["sha256"])
    return chain


def _text_bytes(path):
    """The bytes of the file at ``path`` when they are text (UTF-8 without NUL), else None
    (an ASCII text is not decoded to be checked)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        if not data.isascii():
            data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return None if b"\0" in data else data


def verify_file(path, entry, full=False):
    """Does the file at ``path`` still hold the recorded bytes? (``verified`` with its stat)"""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return verified(path, st, entry, full or os.environ.get("PUNGI_LIKE_REUSE_VERIFY") == "full")


def place_file(src, dst):
    """Hard-link ``src`` at ``dst`` (replacing what is there), copying across file systems."""
    try:
        os.link(src, dst)
        return
    except FileNotFoundError:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    except OSError:
        pass
    if os.path.lexists(dst):
        try:
            if os.path.samefile(src, dst):
                return
        except OSError:
            pass
    tmp = os.path.join(os.path.dirname(dst), ".tmp-reuse-" + os.path.basename(dst))
    if os.path.lexists(tmp):
        os.unlink(tmp)
    try:
        os.link(src, tmp)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copy2(src, tmp)
    os.replace(tmp, dst)


# ---- images --------------------------------------------------------------------------------

def images_state(compose):
    """``{(variant, arch, path): serialised image}`` of the compose's images.json entries."""
    state = {}
    if getattr(compose, "images", None) is None:
        return state
    for variant, arch, image in compose.images.items():
        state[(variant, arch, image.path)] = serialise_image(image)
    return state


IMAGE_FIELDS = ("path", "mtime", "size", "volume_id", "type", "format", "arch", "disc_number",
                "disc_count", "checksums", "implant_md5", "bootable", "subvariant", "unified",
                "additional_variants")


def serialise_image(image):
    """An images.json entry's fields (productmd's own serialize validates; an entry is
    recorded before its checksums exist)."""
    data = {}
    for name in IMAGE_FIELDS:
        value = getattr(image, name, None)
        data[name] = dict(value) if isinstance(value, dict) else (
            list(value) if isinstance(value, (list, tuple, set)) else value)
    return data


def image_from(compose, data):
    import productmd.images

    image = productmd.images.Image(compose.images._images)
    for name in IMAGE_FIELDS:
        if name in data:
            setattr(image, name, data[name])
    return image


def set_image(compose, variant, arch, data):
    """Add the image, or replace the entry of the same path (checksums, boot results)."""
    image = image_from(compose, data)
    with compose.images._lock:
        images = compose.images._images.images.setdefault(variant, {}).setdefault(arch, set())
        for old in [i for i in images if i.path == image.path]:
            images.discard(old)
        images.add(image)


# ---- old composes --------------------------------------------------------------------------

class OldUnit:
    """A finished unit of an old compose (or of the compose being resumed).

    ``files_top``, ``files_names``: the compose whose directory holds the unit's files - its
    own, or the one its record names in ``files_at`` (a unit whose files were all under work/
    and that was taken without linking them: ``ReusePool.check``'s ``defer``)."""

    def __init__(self, topdir, compose_id, record):
        self.topdir = topdir
        self.compose_id = compose_id
        self.record = record
        self.names = Names(topdir, compose_id)
        at = record.get("files_at")
        if isinstance(at, list) and len(at) == 2 and all(isinstance(a, str) and a for a in at):
            self.files_top, self.files_names = at[0], Names(at[0], at[1])
        else:
            self.files_top, self.files_names = topdir, self.names
        self._data = None
        self._raw = None
        self._bytes = None
        self._journal = None
        #: (device, inode, size, mtime_ns) of the record data file read (``raw``)
        self.data_ident = None

    @property
    def data(self):
        """The record's files and journal (``work/global/reuse/<unit>.json``), read on use
        (``parse_data``)."""
        if self._data is None:
            self._data = parse_data(self.raw)
        return self._data

    @property
    def journal(self):
        """The record's journal: ``data["journal"]``, without decoding the files before it
        when they were not decoded yet (a deferred unit checked by ``reuse_precheck``: the
        10,464 files of a package set are 2.2 MB of JSON)."""
        if self._data is not None:
            return self._data.get("journal") or []
        if self._journal is None:
            self._journal = parse_journal(self._raw) if self._raw is not None \
                else parse_journal_bytes(self.raw_bytes)
        return self._journal

    @property
    def raw_bytes(self):
        """The bytes of the record's data file, read once (with its identity, ``data_ident``):
        decoded only as far as asked (``raw``, ``journal``). A big one is mapped
        (``map_file``), not read: a no-op re-run read 19 MB of record datas into new memory,
        each page of it a page fault, of which it decodes the journals (a package set's
        hand-over, 3.9 MB, stays a ``LineText`` that no unit asks for)."""
        if self._bytes is None:
            if self._raw is not None:
                return self._raw.encode("utf-8")
            fd = os.open(data_path(self.topdir, self.record["unit"]), os.O_RDONLY)
            try:
                st = os.fstat(fd)
                self._bytes = map_file(fd, st.st_size)
                if self._bytes is None:
                    with open(fd, "rb", closefd=False) as fh:
                        self._bytes = fh.read()
            finally:
                os.close(fd)
            self.data_ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        return self._bytes

    @property
    def raw(self):
        """The text of the record's data file (``take`` copies its journal from it)."""
        if self._raw is None:
            # its bytes decoded in one call: a text read decodes and joins it in pieces (the
            # 6 MB of a package set's record data: 5.6-9.7 ms -> 1.3-3.4 ms)
            self._raw = str(self.raw_bytes, "utf-8")
            self._bytes = None   # the text now (its journal's texts may still hold them)
        return self._raw

    def same_data(self):
        """A descriptor of the record data file open for reading when it is still the file
        ``raw`` was read from (its identity), else None; the caller closes it."""
        if self.data_ident is None:
            return None
        try:
            fd = os.open(data_path(self.topdir, self.record["unit"]), os.O_RDONLY)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != self.data_ident:
            os.close(fd)
            return None
        return fd

    @property
    def source(self):
        return os.path.basename(self.topdir)


#: journal entries' long texts (a hand-over's JSON, a tree's rpms.json rows): their index
LINE_TEXTS = {"put_json": 2, "rpms": 3}
#: a text longer than this is kept on a line of its own after the record data's JSON
LINE_TEXT_MIN = 1 << 12


def journal_lines(journal):
    """(journal, lines) to write a record data with (``data_pieces``): each long text of a
    journal entry (``LINE_TEXTS``) replaced by ``{"line": n}``, its text the n-th line after
    the JSON. As a JSON string inside the JSON, every parse of the record data unescaped it
    (a package set's hand-over is 3.9 MB of JSON, a gather's 2 MB), though a re-run that
    takes the unit decodes it only if a unit that runs asks for it."""
    out, lines = [], []
    for op in journal:
        at = LINE_TEXTS.get(op[0]) if op else None
        if at is not None and len(op) > at and type(op[at]) is str \
                and len(op[at]) > LINE_TEXT_MIN and "\n" not in op[at]:
            op = list(op)
            lines.append(op[at])
            op[at] = {"line": len(lines) - 1}
        out.append(op)
    return out, lines


def data_pieces(json_pieces, lines):
    """The text of a record data in pieces: the JSON (``json_pieces``, one line: compact JSON
    holds no newline), then each of ``lines`` on a line of its own."""
    yield from json_pieces
    yield "\n"
    for line in lines:
        yield line
        yield "\n"


def parse_data(raw, journal=None, end=None):
    """The record data (files and journal) of the text ``raw``: its JSON, and the texts of
    ``journal_lines`` put back in their entries (sliced from the lines, not unescaped); a
    record data without lines (written before them) is its JSON alone. ``journal`` and
    ``end``: the journal decoded alone and the end of the JSON (``parse_journal``), for
    ``{"journal": ...}`` with its texts."""
    if journal is None:
        data, end = _DECODER.raw_decode(raw)
    else:
        data = {"journal": journal}
    if not isinstance(data, dict) or raw[end:end + 1] not in ("", "\n"):
        raise ValueError("record data cut short or not one of ours")
    # each line sliced once from the text (not from a copy of all of them: megabytes);
    # each ends with a newline: a record data cut short (a crash before its blocks were
    # written) is unreadable, as a cut JSON was, and its unit runs again
    lines, at = [], end + 1
    while at < len(raw):
        stop = raw.find("\n", at)
        if stop < 0:
            raise ValueError("record data cut short or not one of ours")
        lines.append(raw[at:stop])
        at = stop + 1
    for op in data.get("journal") or ():
        at = LINE_TEXTS.get(op[0]) if isinstance(op, list) and op else None
        if at is not None and len(op) > at and type(op[at]) is dict:
            line = op[at].get("line")
            if type(line) is not int or not 0 <= line < len(lines):
                raise ValueError(f"record data has no line {line!r}")
            op[at] = lines[line]
    return data


def parse_journal(raw):
    """``parse_data(raw)["journal"]`` without decoding the files before it: the JSON after
    the files' dict (``data_text_pieces`` finds its end as well) decoded alone, its texts put
    back from the lines after it; ``parse_data``'s whole decoding when the text is not laid
    out so."""
    head, tail = '{"files":{', '},"journal":'
    end = raw.find(tail)   # a JSON string holds no bare quote: the end of the files
    if not raw.startswith(head) or end < 0:
        return parse_data(raw).get("journal") or []
    try:
        journal, stop = _DECODER.raw_decode(raw, end + len(tail))
    except ValueError:
        journal = None
    if not isinstance(journal, list) or raw[stop:stop + 1] != "}" \
            or raw[stop + 1:stop + 2] not in ("", "\n"):
        return parse_data(raw).get("journal") or []
    return parse_data(raw, journal, stop + 1).get("journal") or []


class LineText:
    """A journal text still in the bytes of its record data (``parse_journal_bytes``): a
    package set's hand-over is 3.9 MB that a re-run decodes only if a unit that runs asks for
    it. ``text()`` is the ``str`` ``parse_data`` gives."""

    __slots__ = ("raw", "start", "stop")

    def __init__(self, raw, start, stop):
        self.raw, self.start, self.stop = raw, start, stop

    def text(self):
        return self.raw[self.start:self.stop].decode("utf-8")


def line_text(value):
    """``value``, or the text of a :class:`LineText`."""
    return value.text() if type(value) is LineText else value


# a record data file of ``reuse_precheck.MAP_MIN`` bytes or more is mapped, not read
map_file = reuse_precheck.map_file


def parse_journal_bytes(raw):
    """``parse_journal`` of the bytes ``raw`` (a record data file's, or its ``map_file``): the
    JSON after the files' dict decoded alone, the texts of its lines left in ``raw``
    (:class:`LineText`); a record data laid out otherwise is decoded whole
    (``parse_journal``). Raises ``ValueError`` for a record data cut short, as
    ``parse_data``."""
    head, tail = b'{"files":{', b'},"journal":'
    end = raw.find(tail)   # a JSON string holds no bare quote: the end of the files
    if raw[:len(head)] != head or end < 0:
        return parse_journal(str(raw, "utf-8"))
    newline = raw.find(b"\n", end)
    json_end = len(raw) if newline < 0 else newline
    try:
        text = raw[end + len(tail):json_end].decode("utf-8")
        journal, stop = _DECODER.raw_decode(text)
    except ValueError:
        journal = None
    if not isinstance(journal, list) or text[stop:] != "}":
        return parse_journal(str(raw, "utf-8"))
    lines, at = [], json_end + 1
    while at < len(raw):
        stop = raw.find(b"\n", at)
        if stop < 0:
            raise ValueError("record data cut short or not one of ours")
        lines.append((at, stop))
        at = stop + 1
    for op in journal:
        at = LINE_TEXTS.get(op[0]) if isinstance(op, list) and op else None
        if at is not None and len(op) > at and type(op[at]) is dict:
            line = op[at].get("line")
            if type(line) is not int or not 0 <= line < len(lines):
                raise ValueError(f"record data has no line {line!r}")
            op[at] = LineText(raw, *lines[line])
    return journal


_DECODER = json.JSONDecoder()


def data_path(topdir, unit_name):
    """Where a unit's files and journal are kept: apart from ``work/global/units`` (read by the
    report and by people), as a package set's runs to megabytes."""
    return os.path.join(topdir, "work", "global", "reuse", unit_name + ".json")


def read_records(topdir):
    """``{unit name: record}`` of a compose's ``work/global/units`` (unreadable ones skipped)."""
    return {record["unit"]: record for record in reuse_precheck.reusable_records(topdir)
            if os.path.exists(data_path(topdir, record["unit"]))}


def compose_identity(topdir):
    """(compose id, status) of a compose directory, or (None, None)."""
    try:
        with open(os.path.join(topdir, "COMPOSE_ID"), encoding="utf-8") as fh:
            cid = fh.read().strip()
        with open(os.path.join(topdir, "STATUS"), encoding="utf-8") as fh:
            status = fh.read().strip()
    except OSError:
        return None, None
    return cid, status


def release_prefix(conf):
    """The compose-id prefix shared by composes of this release (short, version, type)."""
    from . import metadata

    cid = metadata.compose_id(conf.release_short, conf.release_version, conf.release_type,
                              "production", "00000000", 0, conf.base_product_short,
                              conf.base_product_version, conf.base_product_type)
    return cid.split("-00000000")[0] + "-"


def find_old_composes(conf, target_dirs, skip=None):
    """FINISHED (or FINISHED_INCOMPLETE) composes of this release in ``target_dirs`` (each a
    compose directory or a directory of composes), newest first."""
    prefix = release_prefix(conf)
    found = []
    for target in target_dirs:
        target = os.path.abspath(target)
        candidates = [target] if os.path.exists(os.path.join(target, "COMPOSE_ID")) else [
            os.path.join(target, d) for d in (os.listdir(target) if os.path.isdir(target)
                                              else [])]
        for path in candidates:
            if os.path.islink(path) or (skip and os.path.abspath(path) == os.path.abspath(skip)):
                continue
            cid, status = compose_identity(path)
            if not cid or status not in ("FINISHED", "FINISHED_INCOMPLETE"):
                continue
            if not cid.startswith(prefix) or not cid[len(prefix):][:1].isdigit():
                continue
            found.append((os.path.getmtime(os.path.join(path, "STATUS")), cid, path))
    found.sort(reverse=True)
    seen, result = set(), []
    for _mtime, cid, path in found:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            result.append((cid, path))
    return result


@dataclasses.dataclass
class TakePlan:
    """What ``ReusePool.check`` verified and ``place``/``finish`` carry out."""

    unit: object
    old: OldUnit
    links: tuple           # ([old path], [new path], [stat of the old file])
    texts: list            # (relative path, old path, new path, stat, record entry)
    rewrite_repos: set     # relative repodata dirs rewritten as a whole
    fresh: dict = dataclasses.field(default_factory=dict)   # new record entries of rewrites
    dropped: list = dataclasses.field(default_factory=list)  # old entries rewritten or gone
    deferred: bool = False  # nothing placed until a unit that runs needs it (``materialise``)
    named: list = dataclasses.field(default_factory=list)  # link_all's groups of links
    entries: dict = None    # the old entries the plan was made from (None: all, ``old.data``)


class ReusePool:
    """The finished units a compose may take over, by unit name and key.

    The records of the compose resumed and of the newest old compose are read at once; those
    of older composes only when a unit finds no record with its key in the ones read so far
    (a target directory of many nightlies costs a no-op re-run nothing more)."""

    def __init__(self, compose, old_composes=(), resume=False, disabled_phases=()):
        self.compose = compose
        self.names = Names(compose.topdir, compose.compose_id)
        self.disabled_phases = set(disabled_phases)
        self._by_unit = {}
        self.resume = resume
        self.sources = []     # (compose id, top dir, records read - None until they are)
        self._pending = []    # (source index, top dir, compose id), newest first
        self._lock = threading.Lock()   # units look up candidates from two worker threads
        self.rewrites = Rewrites()      # repodata rewritten by this compose's units
        #: ``defer``: a taken unit whose files are all under work/ is not placed (see ``check``)
        self.defer_work = os.environ.get("PUNGI_LIKE_REUSE_DEFER") != "0"
        self.deferred = {}       # unit name: the TakePlan of a unit taken without its files
        self.materialised = {}   # unit name: its record data info once its files were placed
        self._materialise_lock = threading.Lock()
        #: a ``reuse_precheck.Precheck`` of the newest old compose (the driver's), or None
        self.precheck = None
        if resume:
            self._add(compose.topdir, compose.compose_id)
        for cid, path in old_composes:
            self.sources.append((cid, path, None))
            self._pending.append((len(self.sources) - 1, path, cid))
        if self._pending:
            self._read_next()

    def after_fork_in_child(self):
        """Locks of its own in a child forked while another thread may have held one
        (``scheduler.record_child``)."""
        self._lock = threading.Lock()
        self._materialise_lock = threading.Lock()

    @property
    def by_unit(self):
        """``{unit name: [OldUnit, ...]}`` of every source, newest first (all records read)."""
        with self._lock:
            while self._pending:
                self._read_next()
        return self._by_unit

    def _add(self, topdir, cid, index=None):
        records = read_records(topdir)
        if index is None:
            self.sources.append((cid, topdir, len(records)))
        else:
            self.sources[index] = (cid, topdir, len(records))
        for name, record in records.items():
            self._by_unit.setdefault(name, []).append(OldUnit(topdir, cid, record))

    def _read_next(self):
        index, topdir, cid = self._pending.pop(0)
        self._add(topdir, cid, index)

    def _units(self, unit_name):
        """The old units named ``unit_name``, newest source first, reading older sources'
        records as the caller goes on."""
        seen = 0
        while True:
            olds = self._by_unit.get(unit_name, [])
            yield from olds[seen:]
            seen = len(olds)
            with self._lock:
                if len(self._by_unit.get(unit_name, ())) > seen:
                    continue   # another thread read a source meanwhile
                if not self._pending:
                    return
                self._read_next()

    def _differs(self, unit_name, key):
        """The unit ``unit_name`` has another key than its unit in the compose the precheck
        child checks: this run is not that compose again (a package changed), and the child
        is stopped (its CPU is the units' now; the units taken later, if any, are checked in
        the process)."""
        precheck = self.precheck
        checked = precheck.compose
        if checked and any(os.path.abspath(old.topdir) == checked[0]
                           and old.record.get("key") != key
                           for old in self._by_unit.get(unit_name, ())):
            precheck.close()

    def places(self, count=2):
        """The top directories of the first ``count`` sources, each followed by those of the
        composes holding files of its units that were taken without them (``files_at``):
        where an old unit's work/ files are (``phases.pkgset``'s old package set repos)."""
        found = []
        for _cid, topdir, _read in self.sources[:count]:
            for path in [topdir] + sorted({old.files_top for olds in list(self._by_unit.values())
                                           for old in olds if old.topdir == topdir}):
                if path not in found:
                    found.append(path)
        return found

    def remember_digests(self, unit_name):
        """Before ``unit_name`` runs again: the digests its newest old record holds, so files
        it hard-links unchanged (a package set's RPMs) are not read again for its record."""
        for old in self._units(unit_name):
            try:
                files = old.data["files"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            remember((os.path.join(old.files_top, old.files_names.expand(rel)), entry)
                     for rel, entry in files.items())
            break

    def candidates(self, unit_name, phase, key):
        """The old units of this name and key, newest first (an iterator: older composes'
        records are read only if the caller asks past the ones read)."""
        if unit_name in NEVER_REUSED or phase in self.disabled_phases:
            return iter(())
        if self.precheck is not None:
            self._differs(unit_name, key)
        return (old for old in self._units(unit_name) if old.record["key"] == key)

    def take(self, unit, old):
        """Take ``old``'s results into this compose: verify its files (``verified``) and
        hard-link them in, rewrite those naming the old compose, replay its journal, and keep
        the unit's record data for this compose. Returns (recorded outputs, {"data_from": the
        record data this compose keeps}) or raises ``CannotReuse`` saying why; nothing is
        placed unless every file verified.

        The record data is the old one, hard-linked, when no byte was rewritten; else it is
        written here, in the unit's thread: the old files' entries with the rewritten files'
        new ones (their digests taken from the bytes written, not read again), and the old
        journal copied as text (it is normalised, the same for every compose).

        In three steps, which the scheduler calls apart (a unit that needs this one may be
        taken while this one still links): :meth:`check` (verify; the only step that raises
        ``CannotReuse``), :meth:`place` (links and rewritten files) and :meth:`finish` (the
        journal replayed, the record data)."""
        plan = self.check(unit, old)
        self.place(plan)
        return self.finish(plan)

    def check(self, unit, old, defer=True):
        """Verify every file of ``old`` (one ``stat`` a file): the plan :meth:`place` and
        :meth:`finish` carry out, or ``CannotReuse``. Places nothing.

        ``defer``: when every file of the unit is under work/ (a package set's download
        directory and repos, the comps repos: read only by units that run), the plan is
        ``deferred``: nothing is linked or rewritten, the record this compose keeps names
        the compose holding the files (``files_at``), and :meth:`materialise` places them
        before a unit that runs and needs this one starts (the scheduler). A no-op re-run
        made 10,458 links for the package set's download directory and rewrote its repos
        for no reader. compose/ is always placed: a compose's own tree stays complete.

        With ``precheck`` (a ``reuse_precheck.Precheck``: a child started with the driver
        that stats the newest old compose's files by the same rule) the child's answer for
        the very record data read here replaces the stats when it found every file
        unchanged; a deferred unit's files are then not even decoded. Any other answer, or
        none, and :meth:`materialise`'s checks, stat the files here."""
        compose = self.compose
        same_place = os.path.abspath(old.files_top) == compose.topdir
        full = os.environ.get("PUNGI_LIKE_REUSE_VERIFY") == "full"
        links, texts = ([], [], []), []
        # every file checked by the child already (reuse_precheck), for the record data read
        # here: a deferred unit's files are not even decoded
        checked = None
        if self.precheck is not None and not full and defer:
            old.raw_bytes   # noqa: B018 - read for its identity, which the child's answer names
            checked = self.precheck.unchanged(old, old.data_ident)
            if checked is not None and not checked[0]:
                checked = None
        if checked is not None and checked[1] and defer and self.defer_work \
                and not same_place:
            return TakePlan(unit, old, links, texts, set(), deferred=True)
        old_top, new_top = os.path.join(old.files_top, ""), os.path.join(compose.topdir, "")
        old_expand, new_expand = old.files_names.expand, self.names.expand
        if checked is not None and checked[2] is not None and not same_place:
            return self._planned(unit, old, checked[2], old_top, new_top)
        files = old.data["files"]
        rewrite_repos = set()
        if not same_place:
            rewrite_repos = {os.path.dirname(rel) for rel, e in files.items()
                             if e.get("names_compose") == "repodata"}
        rels = list(files)
        entries = list(files.values())
        # a normalised relative path names a placeholder only with "{" in it; the stats in
        # one C-level loop (22,000 files in a no-op re-run at 10,000 RPMs)
        srcs = [old_top + (old_expand(rel) if "{" in rel else rel) for rel in rels]
        if checked is not None:
            sts = [None] * len(srcs)    # stat later where one is needed (link_into)
        else:
            sts = stat_all(srcs)
            for src, st, entry in zip(srcs, sts, entries):
                ident = entry.get("stat")
                if full or ident is None or st is None or st.st_ino != ident[0] \
                        or st.st_mtime_ns != ident[2] or st.st_size != ident[1] \
                        or st.st_size != entry["size"]:
                    if st is None or not verified(src, st, entry, full):
                        raise CannotReuse(f"{src[len(old_top):]} of {old.source} changed "
                                          "since it was recorded")
        if same_place:
            return TakePlan(unit, old, links, texts, rewrite_repos)
        if defer and self.defer_work and rels and all(rel.startswith(WORK) for rel in rels):
            return TakePlan(unit, old, links, texts, set(), deferred=True)
        dsts = [new_top + (new_expand(rel) if "{" in rel else rel) for rel in rels]
        special = [i for i, entry in enumerate(entries) if entry.get("names_compose")]
        if rewrite_repos:
            special += [i for i, rel in enumerate(rels) if os.path.dirname(rel) in rewrite_repos]
        if not special:
            return TakePlan(unit, old, (srcs, dsts, sts), texts, rewrite_repos)
        skip = set(special)
        for i, entry in enumerate(entries):
            rel = rels[i]
            if i not in skip:
                links[0].append(srcs[i])
                links[1].append(dsts[i])
                links[2].append(sts[i])
            elif rewrite_repos and os.path.dirname(rel) in rewrite_repos:
                continue
            elif entry["names_compose"] != "text":
                raise CannotReuse(f"{old_expand(rel)} names its compose inside binary data")
            else:
                texts.append((rel, srcs[i], dsts[i], sts[i] or os.stat(srcs[i]), entry))
        return TakePlan(unit, old, links, texts, rewrite_repos,
                        dropped=[rels[i] for i in sorted(skip)])

    def _planned(self, unit, old, plan, old_top, new_top):
        """``check``'s plan from the precheck child's ``link_plan`` of the old unit's files
        (all of them found unchanged): the same links, rewrites and dropped entries as from
        the record data's entries, without decoding them."""
        old_expand, new_expand = old.files_names.expand, self.names.expand
        special = plan["special"]
        rewrite_repos = {os.path.dirname(rel) for rel, e in special.items()
                         if e.get("names_compose") == "repodata"}
        texts = []
        for rel, entry in special.items():
            if os.path.dirname(rel) in rewrite_repos:
                continue
            if entry.get("names_compose") != "text":
                raise CannotReuse(f"{old_expand(rel)} names its compose inside binary data")
            src = old_top + (old_expand(rel) if "{" in rel else rel)
            texts.append((rel, src, new_top + (new_expand(rel) if "{" in rel else rel),
                          os.stat(src), entry))
        srcs = [old_top + old_expand(rel) for rel in plan["named"]]
        dsts = [new_top + new_expand(rel) for rel in plan["named"]]
        named = [(old_top + folder, new_top + folder, names)
                 for folder, names in plan["plain"].items()]
        return TakePlan(unit, old, (srcs, dsts, [None] * len(srcs)), texts, rewrite_repos,
                        dropped=list(special), named=named, entries=special)

    def place(self, plan):
        """The files of a checked ``plan``: hard links, and the files naming the old compose
        written naming this one (their new record entries kept in the plan); a ``deferred``
        plan is only noted (``materialise``)."""
        old = plan.old
        if plan.deferred:
            with self._lock:
                self.deferred[plan.unit.name] = plan
            return
        # the links made while the files naming the old compose are written anew: a tree's
        # thousands of links are ``ln`` runs (other processes, another core) that the unit's
        # thread only waited for before it rewrote a gather's 3.3 MB of result, lists and log
        # (12-15 ms of its CPU), on a no-op re-run's path
        linking = start_link_all(*plan.links, named=plan.named)
        try:
            self._rewrite(plan)
        except BaseException:
            linking.wait(raising=False)
            raise
        linking.wait()

    def _rewrite(self, plan):
        """``place``'s files naming the old compose: written naming this one, their new
        record entries kept in ``plan.fresh``."""
        old = plan.old
        fresh = plan.fresh
        for rel, src, dst, st, entry in plan.texts:
            fresh[rel] = self._rewrite_text(old, src, dst, st, entry)
        files = old.data["files"] if plan.entries is None else plan.entries
        for rel in sorted(plan.rewrite_repos):
            src = os.path.join(old.files_top, old.files_names.expand(rel))
            dst = os.path.join(self.compose.topdir, self.names.expand(rel))
            prefix = os.path.join(rel, "")
            entries = {r[len(prefix):]: e for r, e in files.items()
                       if r.startswith(prefix) and "/" not in r[len(prefix):]}
            written = rewrite_repodata(src, dst, old.files_names, self.names, entries,
                                       self.rewrites)
            known = {path: entry for path, entry in written.items() if entry is not None}
            fresh.update(describe_files(written, self.names, known=known))

    def finish(self, plan):
        """After :meth:`place`: the journal replayed and the record data this compose keeps;
        returns what :meth:`take` returns."""
        old = plan.old
        self._replay(old.journal, (old.topdir, plan.unit.name))
        outputs = json.loads(self.names.expand(old.names.norm(json.dumps(
            old.record.get("outputs") or {}))))
        return outputs, self._record_data(plan)

    def materialise(self, name):
        """Place the files of the unit ``name`` taken ``deferred`` (verified again), once:
        before a unit that runs and needs it starts. Returns the record data info this
        compose now keeps for it (``data_from``, no ``files_at``), or None when the unit was
        not deferred. Raises ``CannotReuse`` when a file changed since it was taken."""
        plan = self.deferred.get(name)
        if plan is None:
            return None
        with self._materialise_lock:
            done = self.materialised.get(name)
            if done is None:
                full = self.check(plan.unit, plan.old, defer=False)
                self.place(full)
                done = self.materialised[name] = self._record_data(full)
                log.info("[%s] its files placed from %s for a unit that runs", name,
                         os.path.basename(plan.old.files_top))
            return done

    def _record_data(self, plan):
        """The record data this compose keeps for a taken ``plan``: ``{"data_from": path}``,
        with ``files_at`` (the compose holding the files) for a deferred plan."""
        old, unit, fresh = plan.old, plan.unit, plan.fresh
        if plan.deferred:
            return {"data_from": data_path(old.topdir, unit.name),
                    "files_at": [old.files_top, old.files_names.compose_id]}
        if not fresh:
            # the same files (normalised names) and hand-over: the old record's data, linked
            return {"data_from": data_path(old.topdir, unit.name)}
        # every file of a rewritten repodata is in ``fresh`` (its repomd.xml marked there)
        mark_rewritten_repomd(fresh)
        # ``entries``: every old entry a rewrite can replace (the plan's special ones)
        dropped = set(plan.dropped) | (fresh.keys() & (
            old.data["files"] if plan.entries is None else plan.entries).keys())
        path = data_path(self.compose.topdir, unit.name)
        # the record data only speeds up later re-runs: one lost in a machine crash (empty,
        # unreadable) makes its unit run again, so it takes no fsync
        source = old.same_data()
        try:
            written = False
            if source is not None:
                try:
                    write_atomic(path, data_text_pieces(fresh, dropped, old, source),
                                 fsync=False)
                    written = True
                except (OSError, ValueError) as exc:   # the old file changed meanwhile
                    log.debug("[%s] record data written from its text: %s", unit.name, exc)
            if not written:
                write_atomic(path, data_text_pieces(fresh, dropped, old), fsync=False)
        finally:
            if source is not None:
                os.close(source)
        self._carry_index(old, plan, dropped, fresh, path)
        return {"data_from": path}

    def _carry_index(self, old, plan, dropped, fresh, path):
        """The index of the record data just written at ``path`` for a unit taken by the
        precheck child's plan: the old record data's (``reuse_precheck.splice_index``) with
        the rewritten files' entries, so that the child of a re-run of this compose reads it
        too (a gather's 6,000 files) instead of decoding the files' JSON; an old one at
        ``path`` is removed when none is made (it is not read for another record data)."""
        index = reuse_precheck.index_path(path)
        made = None
        if plan.entries is not None and old.data_ident is not None:
            try:
                with open(reuse_precheck.index_path(data_path(old.topdir, plan.unit.name)),
                          "rb") as fh:
                    raw = fh.read()
                st = os.stat(path)
                made = reuse_precheck.splice_index(
                    raw, old.data_ident[1:], dropped, fresh,
                    (st.st_ino, st.st_size, st.st_mtime_ns))
            except OSError:
                made = None
        try:
            if made is not None:
                write_atomic(index, made, fsync=False)
            else:
                os.unlink(index)
        except OSError:
            pass

    def _rewrite_text(self, old, src, dst, st, entry=None):
        """Write the text file ``src`` of ``old`` at ``dst`` naming this compose; its record
        entry, as ``describe_files`` would make it. When ``entry`` (the old record's) has the
        normalised digest and the direct replacement gives what normalising and expanding
        gives (``direct_rewrite_safe``), the old names are replaced by the new ones in two
        passes over the bytes instead of six, and the normalised digest is the old entry's (a
        gather's package lists and result are 2.6 MB of text naming the compose)."""
        with open(src, "rb") as fh:
            blob = fh.read()
        old_names, new_names = old.files_names, self.names
        old_id, new_top = old_names.compose_id.encode(), new_names.topdir.encode()
        content = (entry or {}).get("content")
        if content and entry.get("names_compose") == "text" \
                and direct_rewrite_safe(blob, old_id, new_top):
            new = replace_names(blob, old_names.topdir.encode(), old_id, new_top,
                                new_names.compose_id.encode())
            plain = None
        else:
            new = new_names.expand(old_names.norm(blob.decode("utf-8"))).encode("utf-8")
            plain = new
        # no fsync, as the unit's own writes (and the record data): a rewrite lost in a crash
        # fails its record's check on --resume and the unit runs again; an fsync forces a
        # journal commit, which stalls the hard links the other units make meanwhile
        write_atomic(dst, new, mode=st.st_mode & 0o7777, fsync=False)
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
        mark = "text" if len(new) <= REWRITE_LIMIT else "binary"
        made = bytes_entry(dst, new, plain, mark, new_names)
        if plain is None and mark == "text":
            made["content"] = content
        return made

    def _replay(self, journal, source=None):
        """The journal of a taken unit replayed into this compose; ``source``: (its compose's
        top directory, the unit's name), given to the packages it adds as they were recorded
        (``RpmsRecorder.add_stored``)."""
        compose = self.compose
        expand = self.names.expand
        # checked by productmd when the unit ran (same pungi_like version: the key); taken
        # without add()'s journal note, which only a running unit's capture keeps
        add_rpm = getattr(compose.rpms, "_add_checked", None) or \
            (lambda *args: compose.rpms.add(*args, checked=True))
        for op in journal:
            kind = op[0]
            if kind == "rpm":
                # the arguments are strings and None (a placeholder only with "{")
                add_rpm(*[expand(a) if type(a) is str and "{" in a else a for a in op[1]])
            elif kind == "rpms":
                text = line_text(op[3])
                rows = json.loads(text)
                if "{" in text:
                    rows = decode(rows, self.names)
                if source is None or "{" in text:
                    compose.rpms.add_stored(op[1], op[2], rows)
                else:
                    compose.rpms.add_stored(op[1], op[2], rows, source=source)
            elif kind in ("put", "put_json"):
                key = _hashable(decode(op[1], self.names))
                if kind == "put":   # a record of an earlier version: the value as JSON
                    make = (lambda data=op[2]: decode(data, self.names))
                else:
                    make = (lambda text=op[2]: decode(json.loads(line_text(text)), self.names))
                if hasattr(compose.results, "put_lazy"):
                    compose.results.put_lazy(key, make)
                else:
                    compose.results.put(key, make())
            elif kind == "image":
                set_image(compose, op[1], op[2], decode(op[3], self.names))
            elif kind == "epoch":
                compose.adopt_source_date_epoch(op[1], op[2])


def verified(path, st, entry, full=False):
    """Does the file at ``path`` (stat ``st``) still hold the bytes ``entry`` recorded? The very
    inode recorded, with its size and modification time, does (a hard link is the same inode);
    else the sha256 is read again (``full``, or PUNGI_LIKE_REUSE_VERIFY=full: always)."""
    if st.st_size != entry["size"]:
        return False
    ident = entry.get("stat")
    if not full and ident and st.st_ino == ident[0] and st.st_mtime_ns == ident[2] \
            and st.st_size == ident[1]:
        return True
    return file_digest(path)[0] == entry["sha256"]


def stat_all(paths):
    """``os.stat`` of each path (None where it fails), in one C-level loop when all exist."""
    try:
        return list(map(os.stat, paths))
    except OSError:
        return [_stat_or_none(path) for path in paths]


def _stat_or_none(path):
    try:
        return os.stat(path)
    except OSError:
        return None


#: fewer files than this in one directory are linked by their whole paths (``link_all``)
LINK_AT_MIN = 32
#: as many files or more of one directory are linked by ``ln`` runs (``link_all``): a tree's
#: debug and source packages too (281 and 373 files a variant at 10,000 RPMs), whose links in
#: the unit's thread cost it 11-12 ms of CPU a gather (the kernel's, and a hand-over of the
#: interpreter lock after each link) against under 1 ms for its ``ln`` runs
LINK_BY_LN_MIN = 128


def _start_links_by_ln(src_dir, dst_dir, names):
    """``fileutil.start_ln`` of ``names`` (base names in ``src_dir``), the destination
    directory made first; its runs (none when it could not be made or ``ln`` not started:
    the caller links them one by one - those linked already are the very inodes, which
    ``link_into`` leaves)."""
    try:
        os.makedirs(dst_dir, exist_ok=True)
    except OSError:
        return []
    return start_ln(src_dir, names, dst_dir)


def _link_group(src_dir, dst_dir, names, failed):
    """Hard links ``dst_dir/<name>`` of ``src_dir/<name>`` for each of ``names``, relative to
    the two directories' descriptors; ``failed(k)`` for the k-th name whose link failed.
    False when ``src_dir`` cannot be opened (the caller links them one by one)."""
    try:
        src_fd = os.open(src_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        try:
            dst_fd = os.open(dst_dir, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            os.makedirs(dst_dir, exist_ok=True)
            dst_fd = os.open(dst_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            _link_each(functools.partial(os.link, src_dir_fd=src_fd, dst_dir_fd=dst_fd),
                       names, names, failed)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)
    return True


def link_all(srcs, dsts, sts, named=()):
    """``link_into`` of each (``src``, ``dst``, ``st``): ``start_link_all``, waited for."""
    start_link_all(srcs, dsts, sts, named).wait()


def start_link_all(srcs, dsts, sts, named=()):
    """``link_into`` of each (``src``, ``dst``, ``st``), begun: the ``ln`` runs started, the
    rest made by the returned object's ``wait`` (in the caller's thread, which may do other
    work in between). ``os.link`` in one C-level loop; a link that fails (a missing
    directory, a ``dst`` there already) goes through ``link_into`` and the loop goes on after
    it. The files of one directory linked into one directory under the same names (a tree's
    Packages: thousands) are linked relative to the two directories' descriptors: the
    kernel walks each path once a directory instead of twice a file (6,000 links 17 % less
    CPU); ``LINK_BY_LN_MIN`` of them or more by ``ln`` runs (``fileutil.start_ln``), all
    started at once from the calling thread: a no-op re-run's two trees (6,000 links each)
    were linked by two unit threads that handed the interpreter lock to each other, and to
    every thread running Python meanwhile, after each link; and runs started from threads of
    their own began 20-35 ms late, each of those threads waiting for the lock behind the
    units' Python. ``named``: more links given as such groups already, ``(src_dir,
    dst_dir, names)`` (their stats made where one is needed)."""
    sep = os.sep
    groups, alone = {}, []
    for i, (src, dst) in enumerate(zip(srcs, dsts)):
        src_dir, _, name = src.rpartition(sep)
        dst_dir, _, dst_name = dst.rpartition(sep)
        if name == dst_name:
            group = groups.get((src_dir, dst_dir))
            if group is None:
                groups[(src_dir, dst_dir)] = group = []
            group.append(i)
        else:
            alone.append(i)
    jobs = []   # (src_dir, dst_dir, names, failed(k), indices in srcs or None)
    for (src_dir, dst_dir), group in groups.items():
        if len(group) < LINK_AT_MIN:
            alone += group
            continue
        jobs.append((src_dir, dst_dir, [srcs[i][len(src_dir) + 1:] for i in group],
                     lambda k, group=group: link_into(srcs[group[k]], dsts[group[k]],
                                                      sts[group[k]]), group))
    for src_dir, dst_dir, names in named:
        def one(k, src_dir=src_dir, dst_dir=dst_dir, names=names):
            link_into(src_dir + sep + names[k], dst_dir + sep + names[k], None)
        jobs.append((src_dir, dst_dir, names, one, None))
    # the ``ln`` run of the largest directory (a tree's packages) started first, the other
    # links made meanwhile; the other runs (its debug and source packages) started by
    # ``wait``: each start gives the interpreter lock up and waits to take it back behind the
    # threads running Python, up to the switch interval, and ``place`` rewrites its texts
    # after this returns
    order = sorted((n for n, job in enumerate(jobs) if len(job[2]) >= LINK_BY_LN_MIN),
                   key=lambda n: -len(jobs[n][2]))
    runs = [(jobs[n], _start_links_by_ln(*jobs[n][:3]) if k == 0 else None)
            for k, n in enumerate(order)]
    try:
        _link_jobs(srcs, dsts, sts, [job for n, job in enumerate(jobs) if n not in order],
                   alone)
    except BaseException:
        for _job, started in runs:
            ln_ended(started or [])
        raise
    return _Links(srcs, dsts, sts, runs)


def _link_jobs(srcs, dsts, sts, jobs, alone):
    """The links of ``jobs`` (``start_link_all``'s, not by ``ln``) and of ``alone`` (indices
    in ``srcs``)."""
    sep = os.sep
    alone = list(alone)
    for src_dir, dst_dir, names, failed, group in jobs:
        if len(names) >= LINK_AT_MIN and _link_group(src_dir, dst_dir, names, failed):
            continue
        if group is not None:
            alone += group
        else:
            _link_each(os.link, [src_dir + sep + n for n in names],
                       [dst_dir + sep + n for n in names], failed)
    if alone:
        alone.sort()
        _link_each(os.link, [srcs[i] for i in alone], [dsts[i] for i in alone],
                   lambda k: link_into(srcs[alone[k]], dsts[alone[k]], sts[alone[k]]))


class _Links:
    """``start_link_all``'s ``ln`` runs under way: :meth:`wait` starts the others and waits
    for them all."""

    def __init__(self, srcs, dsts, sts, runs):
        self._args = (srcs, dsts, sts, runs)

    def wait(self, raising=True):
        """Until every link is made: the ``ln`` runs not started yet started (``raising``),
        all waited for, the links of a run that failed made here one by one (those made
        already are the very inodes, which ``link_into`` leaves); raises the first error
        (``raising``; else the runs started are only waited for)."""
        args, self._args = self._args, None
        if args is None:
            return
        srcs, dsts, sts, runs = args
        if raising:
            runs = [(job, _start_links_by_ln(*job[:3]) if started is None else started)
                    for job, started in runs]
        failed = [job for job, started in runs if not ln_ended(started or [])]
        if raising and failed:
            _link_jobs(srcs, dsts, sts, failed, [])


def _link_each(link, srcs, dsts, failed):
    """``link(src, dst)`` of each pair in one C-level loop; ``failed(k)`` for the k-th pair
    when its link raised OSError, and the loop goes on after it."""
    links = map(link, srcs, dsts)
    done = 0
    while True:
        try:
            for _ in links:
                done += 1
            return
        except OSError:
            # map took the pair that failed: the loop resumes with the next one
            failed(done)
            done += 1


def link_into(src, dst, st):
    """Hard-link ``src`` (stat ``st``; None: made here when needed) at ``dst``: one ``link``
    for most files; a missing directory is made, and a ``dst`` that is this very inode
    already (another unit's record holds it too) is left alone; anything else goes through
    ``place_file``."""
    try:
        os.link(src, dst)
        return
    except FileExistsError:
        try:
            there = os.lstat(dst)
            if st is None:
                st = os.stat(src)
            if there.st_ino == st.st_ino and there.st_dev == st.st_dev:
                return
        except OSError:
            pass
    except OSError:
        pass
    place_file(src, dst)


def bytes_entry(path, data, plain, mark, names):
    """The record entry of the file just written at ``path`` with bytes ``data`` (``plain``:
    them decompressed; None: the caller sets "content"), as ``describe_files`` would make it,
    without reading it again."""
    st = os.stat(path)
    entry = {"sha256": hashlib.sha256(data).hexdigest(), "size": st.st_size,
             "names_compose": mark, "stat": list(_stat_id(st)[1:])}
    if mark in ("text", "repodata") and plain is not None:
        entry["content"] = hashlib.sha256(plain.replace(names.topdir.encode(), TOPDIR.encode())
                                          .replace(names.compose_id.encode(),
                                                   COMPOSE_ID.encode())).hexdigest()
    return entry


class WrittenEntry:
    """The record entry ``describe_files`` makes of a file, made from its bytes as they are
    written instead of reading them back: a first piece (``head``, bytes), the only one where
    the compose's directory and id may occur, then the rest fed in order (``feed``: bytes, or
    a mapped file from an offset). rpms.json is a few lines of this compose's identity before
    megabytes of packages (3.5 MB at 10,000 RPMs), which its record read twice more, hashed
    twice more and copied twice to normalise.

    :meth:`entry` is None, and ``describe_files`` makes the entry, where this could differ
    from it: a name of the compose after the head or across two pieces, a piece that is not
    UTF-8 on its own (a character cut in two) or holds a NUL, a file that is not the bytes
    fed (its size), or gzip."""

    def __init__(self, names, head):
        self.top, self.cid = names.topdir.encode(), names.compose_id.encode()
        self.keep = max(len(self.top), len(self.cid)) - 1
        self.ok = self._text(head, 0)
        self.found = self.top in head or self.cid in head
        # the directory replaced first, then the id (``normalised_digest``): a cut between the
        # head and the next piece is checked on both the head's bytes and those between
        normal = head.replace(self.top, TOPDIR.encode())
        self.raw = hashlib.sha256(head)
        self.normal = hashlib.sha256(normal.replace(self.cid, COMPOSE_ID.encode()))
        self.size = len(head)
        self.tails = (head[-self.keep:], normal[-self.keep:]) if self.keep else (b"", b"")

    @staticmethod
    def _text(data, start):
        """Is ``data[start:]`` UTF-8 without NUL? (``_text_bytes``' rule, piece by piece)"""
        if data.find(b"\0", start) >= 0:
            return False
        piece = bytes(memoryview(data)[start:]) if start or not isinstance(data, bytes) \
            else data
        if not piece.isascii():
            try:
                piece.decode("utf-8")
            except UnicodeDecodeError:
                return False
        return True

    def feed(self, data, start=0):
        """The next piece: ``data[start:]`` (bytes, or an ``mmap``: searched in place)."""
        if not self.ok:
            return
        view = memoryview(data)[start:]
        first = bytes(view[:self.keep])
        for tail in self.tails:
            for needle in (self.top, self.cid):
                # an occurrence in these bytes crosses the cut: each side is shorter than it
                cut = len(needle) - 1
                if cut and needle in tail[len(tail) - cut:] + first[:cut]:
                    self.ok = False
                    return
        if data.find(self.top, start) >= 0 or data.find(self.cid, start) >= 0 \
                or not self._text(data, start):
            self.ok = False
            return
        self.raw.update(view)
        self.normal.update(view)
        self.size += len(view)
        if self.keep:
            last = bytes(view[-self.keep:])
            self.tails = tuple((tail + last)[-self.keep:] for tail in self.tails)

    def entry(self, path):
        """The entry of the file at ``path`` holding the bytes fed, or None (see the class)."""
        if not self.ok or path.endswith(".gz"):
            return None
        try:
            st = os.lstat(path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode) or st.st_size != self.size:
            return None
        mark = False
        if self.found:
            mark = "text" if st.st_size <= REWRITE_LIMIT else "binary"
        entry = {"sha256": self.raw.hexdigest(), "size": st.st_size, "names_compose": mark,
                 "stat": list(_stat_id(st)[1:])}
        if mark == "text":
            entry["content"] = self.normal.hexdigest()
        return entry


def data_text(fresh, dropped, old):
    """A unit's record data (``data_path``): the files of ``old``'s record data but those in
    ``dropped``, with the entries ``fresh`` (relative path: entry) added, and its journal. The
    old text is cut and joined where its layout is the one written here (a package set's
    record data is megabytes of JSON, of which a re-run rewrites a few entries), else the
    whole is encoded again. (``data_text_pieces``, joined.)"""
    return "".join(data_text_pieces(fresh, dropped, old))


def data_text_pieces(fresh, dropped, old, source=None):
    """The text of ``data_text`` as a list of pieces to be written one after another: each
    kept stretch of the old text sliced from it once (a gather's record data is 4.3 MB, which
    cutting, stripping, joining and concatenating copied five times). ``source``: an open
    file of ``old.raw``'s very bytes (``OldUnit.same_data``): the kept stretches are then
    ``fileutil.FileRange`` pieces of it, copied by the kernel, found in the bytes
    (``_kept_ranges``: the text is not decoded, a gather's 4.3 MB)."""
    if source is not None:
        pieces = _kept_ranges(fresh, dropped, old.raw_bytes, source)
        if pieces is not None:
            return pieces
    raw = old.raw
    head, tail = '{"files":{', '},"journal":'
    end = raw.find(tail)   # a JSON string holds no bare quote: the end of the files
    dumps = json.dumps
    if raw.startswith(head) and end > 0:
        first, spans = len(head), []
        decoder = json.JSONDecoder()
        try:
            for rel in dropped:
                key = dumps(rel) + ":"
                at = raw.find(key, first, end)
                while at > first and raw[at - 1] != ",":
                    at = raw.find(key, at + 1, end)
                if at < 0:
                    raise ValueError(rel)
                _entry, stop = decoder.raw_decode(raw, at + len(key))
                spans.append((at, stop))
        except ValueError:
            spans = None
        if spans is not None:
            kept = [raw[start:stop]
                    for start, stop in _kept_stretches(raw, spans, first, end, ",")]
            return _files_pieces(head, kept, fresh, raw[end:])
    files = {rel: entry for rel, entry in old.data["files"].items() if rel not in dropped}
    files.update(fresh)
    journal, lines = journal_lines(old.data.get("journal", []))
    return list(data_pieces([dumps({"files": files, "journal": journal}, default=str,
                                   separators=(",", ":"))], lines))


def _kept_ranges(fresh, dropped, raw, source):
    """``data_text_pieces``' pieces from the bytes ``raw`` of the old record data (its
    ``map_file``: only the pages up to the files' end are read) and ``source``, the same file
    open: the kept stretches as ``FileRange`` pieces, at the bytes' own offsets; None when the
    record data is not laid out so (the caller decodes it)."""
    head, tail = b'{"files":{', b'},"journal":'
    end = raw.find(tail)   # a JSON string holds no bare quote: the end of the files
    if raw[:len(head)] != head or end < 0:
        return None
    first, spans = len(head), []
    comma = ord(",")
    dumps = json.dumps
    try:
        for rel in dropped:
            key = (dumps(rel) + ":").encode("utf-8")
            at = raw.find(key, first, end)
            while at > first and raw[at - 1] != comma:
                at = raw.find(key, at + 1, end)
            if at < 0:
                return None
            spans.append((at, _entry_end(raw, at + len(key), end)))
    except ValueError:
        return None
    kept = [FileRange(source, start, stop - start)
            for start, stop in _kept_stretches(raw, spans, first, end, comma)]
    return _files_pieces(head.decode(), kept, fresh, FileRange(source, end, len(raw) - end))


def _kept_stretches(raw, spans, first, end, comma):
    """The ``(start, stop)`` offsets of the old record data's files dict (``raw[first:end]``,
    text or bytes) between the dropped entries' ``spans``, each without the commas (``comma``:
    the text's or the bytes' own) at its ends; empty stretches left out."""
    bounds, at = [], first
    for start, stop in sorted(spans):
        bounds.append((at, start))
        at = stop
    bounds.append((at, end))
    kept = []
    for start, stop in bounds:
        while start < stop and raw[start] == comma:
            start += 1
        while stop > start and raw[stop - 1] == comma:
            stop -= 1
        if start < stop:
            kept.append((start, stop))
    return kept


def _files_pieces(head, kept, fresh, rest):
    """A record data's pieces: ``head``, the ``kept`` pieces and the ``fresh`` entries
    encoded, comma-separated, then ``rest`` (the old text from the files dict's end on)."""
    dumps = json.dumps
    kept = kept + [dumps(rel) + ":" + dumps(entry, default=str, separators=(",", ":"))
                   for rel, entry in fresh.items()]
    pieces = [head]
    for n, piece in enumerate(kept):
        if n:
            pieces.append(",")
        pieces.append(piece)
    pieces.append(rest)
    return pieces


def _entry_end(raw, at, end):
    """The offset in the bytes ``raw`` after the JSON value (a file's record entry: a few
    hundred bytes) that starts at ``at``, before ``end``; ``ValueError`` when there is none."""
    size = 1 << 10
    while True:
        stop = min(at + size, end)
        text = raw[at:stop].decode("utf-8", "surrogateescape")
        try:
            _value, length = _DECODER.raw_decode(text)
        except ValueError:
            if stop >= end:
                raise
            size *= 4
            continue
        return at + len(text[:length].encode("utf-8", "surrogateescape"))


class Rewrites:
    """The gzip repodata files one re-run rewrote, by the old bytes' digest and both composes'
    names: a package set's arch repo whose repodata is a copy of the global repo's (one arch
    that keeps every package) takes the file the global repo's rewrite wrote, hard-linked,
    instead of decompressing, rewriting and compressing the same megabytes again. The two
    units place at the same time: the second waits for the first's rewrite."""

    def __init__(self):
        self._lock = threading.Lock()
        self._done = {}

    def claim(self, key):
        """(future, mine): ``mine`` True when the caller is to make the result and set it."""
        import concurrent.futures

        with self._lock:
            future = self._done.get(key)
            if future is not None:
                return future, False
            future = self._done[key] = concurrent.futures.Future()
            return future, True


def rewrite_repodata(src, dst, old_names, new_names, old_entries=None, rewrites=None):
    """Copy the repodata directory ``src`` to ``dst`` with the old compose's directory and id
    replaced in its gzip metadata (xml:base of repos in work/), checksums and file names
    renewed in repomd.xml. ``old_entries``: ``{file name: record entry}`` of the old record's
    files there; a file it holds that did not name the old compose (filelists, other: only
    primary has xml:base) is hard-linked as it is, its repomd.xml record kept. Returns ``{path
    written: its record entry}`` (``bytes_entry``, or the old entry of a linked file), None for
    the files whose entries are still to be made. ``rewrites``: a :class:`Rewrites` shared
    by the units of one compose."""
    import createrepo_c as cr

    os.makedirs(dst, exist_ok=True)
    repomd = cr.Repomd(os.path.join(src, "repomd.xml"))
    written = {}
    for record in list(repomd.records):
        source = os.path.join(os.path.dirname(src), record.location_href)
        name = os.path.basename(record.location_href)
        old_entry = (old_entries or {}).get(name)
        if old_entry is not None and old_entry.get("names_compose") is False:
            target = os.path.join(dst, name)
            place_file(source, target)
            written[target] = old_entry
            continue
        if not name.endswith(".gz"):
            target = os.path.join(dst, name)
            place_file(source, target)
            written[target] = None
            continue
        future, mine = None, True
        if rewrites is not None and old_entry is not None and old_entry.get("sha256"):
            future, mine = rewrites.claim((old_entry["sha256"], name, record.type,
                                           old_names.topdir, old_names.compose_id,
                                           new_names.topdir, new_names.compose_id))
        if not mine:
            try:
                first, entry, new = future.result()
                path = os.path.join(dst, os.path.basename(first))
                place_file(first, path)
                if os.stat(path).st_ino == os.stat(first).st_ino:
                    repomd.set_record(new.copy())
                    written[path] = dict(entry)
                    continue
            except Exception as exc:  # noqa: B902 - the first rewrite failed: do it here
                log.debug("rewrite of %s not shared: %s", name, exc)
        try:
            path, entry, new = _rewrite_gzip(cr, record, source, name, dst, old_names,
                                             new_names, old_entry)
        except BaseException as exc:
            if future is not None and mine:
                future.set_exception(exc)
            raise
        if future is not None and mine:
            future.set_result((path, dict(entry), new.copy()))
        repomd.set_record(new)
        written[path] = entry
    write_atomic(os.path.join(dst, "repomd.xml"), repomd.xml_dump(), fsync=False)
    written[os.path.join(dst, "repomd.xml")] = None
    return written


def _rewrite_gzip(cr, record, source, name, dst, old_names, new_names, old_entry):
    """One gzip file of ``rewrite_repodata``: (path written, its record entry, its repomd
    record)."""
    with open(source, "rb") as fh:
        data = gzip.decompress(fh.read())
    old_top, old_id = old_names.topdir.encode(), old_names.compose_id.encode()
    new_top, new_id = new_names.topdir.encode(), new_names.compose_id.encode()
    content = (old_entry or {}).get("content")
    if content and old_entry.get("names_compose") == "repodata" \
            and direct_rewrite_safe(data, old_id, new_top):
        # the old names replaced by the new ones in two passes over the megabytes instead of
        # four, the normalised digest the old record's (the very bytes it was made from)
        text = replace_names(data, old_top, old_id, new_top, new_id)
        names_it = True
    else:
        # as bytes (UTF-8 keeps substrings): normalised, then naming this compose
        normal = data.replace(old_top, TOPDIR.encode()).replace(old_id, COMPOSE_ID.encode())
        text = normal.replace(TOPDIR.encode(), new_top).replace(COMPOSE_ID.encode(), new_id)
        names_it = normal != data or (old_entry or {}).get("names_compose") == "repodata"
        content = hashlib.sha256(normal).hexdigest() if names_it else None
    plain = name[:-3]
    if record.checksum and plain.startswith(record.checksum + "-"):
        plain = plain[len(record.checksum) + 1:]
    target = os.path.join(dst, plain + ".gz")
    packed = gzip.compress(text, compresslevel=1, mtime=0)  # work/ repos: speed
    with open(target, "wb") as fh:
        fh.write(packed)
    os.utime(target, (record.timestamp, record.timestamp))
    new = _repomd_record(cr, record, target, packed, text)
    if record.checksum and name.startswith(record.checksum + "-"):
        new.rename_file()
    path = os.path.join(dst, os.path.basename(new.location_href))
    entry = bytes_entry(path, packed, None, "repodata" if names_it else False,
                        new_names)
    if names_it:
        entry["content"] = content
    return path, entry, new


#: either placeholder, found in one pass (its first byte's scan, then a match at each "{")
_PLACEHOLDER = re.compile(rb"\{(?:topdir|compose_id)\}")
assert {TOPDIR, COMPOSE_ID} == {"{topdir}", "{compose_id}"}


def direct_rewrite_safe(data, old_id, new_top):
    """Does replacing the old compose's directory by the new one, then its id by the new id,
    give what normalising (both to placeholders) and expanding gives? Yes unless ``data``
    holds a placeholder, or the old id occurs in the new directory or can be made by the new
    directory's ends with the text around them (a prefix of the old id ending it, a suffix
    starting it)."""
    if old_id in new_top or b"{" in new_top or not old_id or _PLACEHOLDER.search(data):
        return False
    return not any(new_top.endswith(old_id[:k]) or new_top.startswith(old_id[-k:])
                   for k in range(1, len(old_id)))


def replace_names(data, old_top, old_id, new_top, new_id):
    """``data.replace(old_top, new_top).replace(old_id, new_id)`` where
    ``direct_rewrite_safe(data, old_id, new_top)`` holds - in one replacement of the id when
    that gives the same bytes: both compose directories in one directory and named by their
    ids (a re-run in its target directory), the old id nowhere in the old directory but at
    its end, and the old id not a repetition of a shorter string (``(old_id +
    old_id).find(old_id, 1)`` is its length: a conservative condition, kept from when the
    one-pass rule was written; an id that can overlap itself, such as "0.0", is taken).
    Then an occurrence of the old directory is one of the old id behind
    the same parent, which the id's replacement turns into the new directory, and every other
    occurrence of the old id is replaced in either way (a gather's 2 MB result: two passes
    over its bytes instead of four)."""
    sep = os.sep.encode()
    parent, _, old_base = old_top.rpartition(sep)
    new_parent, _, new_base = new_top.rpartition(sep)
    if old_base == old_id and new_base == new_id and parent == new_parent \
            and old_top.find(old_id) == len(old_top) - len(old_id) \
            and (old_id + old_id).find(old_id, 1) == len(old_id):
        return data.replace(old_id, new_id)
    return data.replace(old_top, new_top).replace(old_id, new_id)


def _repomd_record(cr, record, target, packed, text):
    """The repomd.xml record of ``target`` (bytes ``packed``, decompressed ``text``) that
    ``RepomdRecord.fill`` makes, from the bytes in memory instead of reading and decompressing
    the file again (fill for a checksum type hashlib does not know)."""
    ctype = record.checksum_type or "sha256"
    new = cr.RepomdRecord(record.type, target)
    try:
        packed_sum, open_sum = hashlib.new(ctype, packed), hashlib.new(ctype, text)
    except ValueError:
        new.fill(cr.checksum_type(ctype))
        return new
    new.checksum, new.checksum_type = packed_sum.hexdigest(), ctype
    new.checksum_open, new.checksum_open_type = open_sum.hexdigest(), ctype
    new.size, new.size_open, new.timestamp = len(packed), len(text), record.timestamp
    return new


class CannotReuse(Exception):
    """An old unit matched by key but its files no longer verify."""


def build_record(compose, unit, capture, images_before, images_after, remember_old=None,
                 shared=None):
    """The record fields of a finished unit: ``files`` and ``journal``; ``reusable`` False with
    ``why`` when some value cannot be recorded. ``remember_old``: see ``describe_files``;
    ``shared``: the compose's ``SharedTexts`` (see ``put_json_text``)."""
    names = Names(compose.topdir, compose.compose_id)
    if shared is not None and unit.name.partition(".")[0] not in SHARED_PHASES:
        shared.clear()   # the package set's records are built: its texts are not needed
    files = describe_files(capture.paths(), names, remember_old,
                           known=getattr(unit, "written_entries", None),
                           linked=getattr(unit, "linked_entries", None))
    journal, why = [], None
    try:
        for op in capture.journal:
            if op[0] == "put":
                # the value as JSON text: a package set's runs to megabytes that a re-run
                # decodes only if a unit that runs again asks for it (``_replay``)
                journal.append(["put_json", encode(op[1], names),
                                put_json_text(op[2], names, shared)])
            elif op[0] == "rpm":
                journal.append(["rpm", encode(list(op[1]), names)])
            elif op[0] == "rpms":
                # a tree's entries as JSON text (strings only): encoded one by one only when
                # one names the compose
                text = json.dumps(op[3], separators=(",", ":"))
                if names.topdir in text or names.compose_id in text or "{" in text:
                    text = json.dumps(encode(op[3], names), separators=(",", ":"))
                journal.append(["rpms", encode(op[1], names), op[2], text])
            elif op[0] == "epoch":
                journal.append(["epoch", op[1], op[2]])
            elif op[0] == "image_add":
                image = op[3] if isinstance(op[3], dict) else serialise_image(op[3])
                journal.append(["image", op[1], op[2], encode(image, names)])
        # entries of this unit's variant.arch that it changed in place (checksums)
        own = (getattr(unit.variant, "uid", unit.variant), unit.arch)
        for ident in sorted(images_before, key=lambda t: (t[0], t[1], t[2])):
            if ident[:2] == own and images_before[ident] != images_after.get(ident):
                journal.append(["image", ident[0], ident[1],
                                encode(images_after[ident], names)])
    except NotRecordable as exc:
        why = f"it hands over a {exc} object, which the record cannot hold"
    return {"files": files, "journal": journal if why is None else [],
            "reusable": why is None and unit.name not in NEVER_REUSED, "why_not": why}


def digest_text(blob):
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()

