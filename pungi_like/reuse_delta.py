"""A unit that runs again because a unit it needs changed, yet gives its old result.

One changed package changes the package set, and with it the key of every gather of the arch, so
each of them runs again; most variants then gather exactly what they gathered before. Such a unit
re-solves (libsolv is fast) and, when the solve gives the old unit's result over the very same
files, takes the old unit's outputs instead of making and recording them anew: the files are
verified and hard-linked, the journal replayed (``ReusePool.take``, as for a reused unit),
and the unit's output hash is the old one, so the units after it (createrepo, createiso ...) are
reused as before. The timeline and the record say ``result_from`` (the old compose's id) instead
of ``reused_from``: the unit did run.

Why the outputs are then the ones a run would make (the record's ``delta``, two hashes):

- ``inputs``: the unit's declared inputs (its phase's options for the variant.arch), the content
  behind them (``reuse_keys.content_inputs``: the compose-wide options, the variants file, the
  software version, ``SOURCE_DATE_EPOCH``) and the output hashes of the units it needs, except
  those whose results only reach the outputs through what the hook hashes next (``ignore``:
  the package set);
- ``result``: the result the unit hands over as it writes it (the gather result JSON, with the
  compose's directory and id replaced by placeholders) and, for every package file it links,
  the file's device, inode, size and modification time: the same packages from the very same
  files (the same inode unchanged is the same bytes, the rule ``reuse.verify_file`` follows).

The gather's outputs (links, rpms.json entries with the signing keys of those very files,
package lists, the result) follow from these alone, so both hashes equal means the old unit's
outputs are this run's, byte for byte. Units whose run changes another unit's result (addons and
layered products move packages into their parent) never take the old result.
"""

import hashlib
import json
import logging
import os

from . import reuse

log = logging.getLogger("pungi_like.reuse")


class TakeOld(Exception):
    """Raised by a unit that took an old unit's outputs (already placed and replayed); the
    scheduler records it as it records a reused unit."""

    def __init__(self, old, outputs, taken):
        super().__init__(f"the result of {old.compose_id}")
        self.old = old
        self.outputs = outputs
        self.taken = taken      # the record's files and journal, or "data_from"


def inputs_digest(compose, unit, ignore):
    """The ``inputs`` hash (module docstring); ``unit.upstream`` is set by the scheduler."""
    upstream = getattr(unit, "upstream", None)
    if upstream is None:
        return None
    names = reuse.Names(compose.topdir, compose.compose_id)
    # read only the hashes kept: a unit started before the records of the units it needs were
    # built waits for those (``scheduler._Upstream``), not for the ignored ones
    kept = {k: upstream[k] for k in upstream if not k.startswith(tuple(ignore))}
    blob = json.dumps({"inputs": unit.inputs, "needs": kept,
                       "content": reuse.content_inputs(compose, unit)},
                      sort_keys=True, default=str)
    return hashlib.sha256(names.norm(blob).encode("utf-8")).hexdigest()


def result_digest(compose, text, files):
    """The ``result`` hash: ``text`` as the unit writes its result, normalised, and the identity
    of each of ``files`` (None when one is missing)."""
    names = reuse.Names(compose.topdir, compose.compose_id)
    h = hashlib.sha256(names.norm(text).encode("utf-8"))
    for path in sorted(set(files)):
        try:
            st = os.stat(path)
        except OSError:
            return None
        h.update(f"\0{names.norm(path)}\0{st.st_dev}:{st.st_ino}:{st.st_size}:"
                 f"{st.st_mtime_ns}".encode("utf-8"))
    return h.hexdigest()


def json_text(obj):
    """``obj`` as compact JSON with sorted keys: the form both sides of the ``result`` hash take
    (json's C encoder; an indented dump takes its pure-Python one, several times slower)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def names_digest(names):
    """A cheap first check before the ``result`` hash: the hash of the sorted package keys."""
    return hashlib.sha256("\0".join(sorted(names)).encode("utf-8")).hexdigest()


def take_old_if_same(compose, unit, make_text, files, ignore=("pkgset.",), names=None,
                     facts=None, inputs=None):
    """Before the unit makes its outputs: when an old unit of the same name had the same
    ``inputs`` hash and the same ``result`` hash (``make_text()``: the result as it will be
    written; ``files``: the package files it will link; ``names``: the result's package keys,
    whose hash, when the old record has it, is compared first), restore that unit and raise
    :class:`TakeOld`. Otherwise return, having noted the ``inputs`` hash for the record
    (:func:`note_result` adds the ``result`` hash once the outputs are written). ``facts``:
    more keys for the record's ``delta`` (what the next run compares besides, e.g. a
    gather's ``system-release`` providers); ``inputs``: the ``inputs``
    hash when the caller made it already."""
    inputs = inputs or inputs_digest(compose, unit, ignore)
    unit.delta = {"inputs": inputs, "ignore": list(ignore)} if inputs else None
    if unit.delta and facts:
        unit.delta.update(facts)
    if unit.delta and names is not None:
        unit.delta["names"] = names_digest(names)
    pool = getattr(compose, "reuse_pool", None)
    if pool is None or inputs is None or unit.phase in pool.disabled_phases:
        return
    # the newest old unit of this name only: older composes' records are read lazily
    # (ReusePool._units), and a gather's result is compared with the one before it
    newest = next(iter(pool._units(unit.name)), None)
    olds = [old for old in [newest] if old is not None
            and old.record.get("reusable") and (old.record.get("delta") or {}).get("inputs") == inputs
            and (old.record["delta"].get("names") or unit.delta.get("names"))
            == unit.delta.get("names")]
    if not olds:
        return
    digest = result_digest(compose, make_text(), files)
    for old in olds:
        if digest is None or old.record["delta"].get("result") != digest:
            continue
        try:
            outputs, taken = pool.take(unit, old)
        except (reuse.CannotReuse, reuse.NotRecordable, OSError, ValueError) as exc:
            log.info("[%s] the result of %s not taken: %s", unit.name, old.source, exc)
            continue
        unit.delta = dict(old.record["delta"], **(facts or {}))
        raise TakeOld(old, outputs, taken)


def newest_old(compose, unit, inputs):
    """The newest old unit of ``unit``'s name when its record's ``delta`` has the ``inputs``
    hash (:func:`inputs_digest`) and it may be taken: the one :func:`take_old_if_same`
    compares with; else None."""
    pool = getattr(compose, "reuse_pool", None)
    if pool is None or inputs is None or unit.phase in pool.disabled_phases:
        return None
    old = next(iter(pool._units(unit.name)), None)
    if old is None or not old.record.get("reusable") \
            or (old.record.get("delta") or {}).get("inputs") != inputs:
        return None
    return old


def note_result(compose, unit, path, files):
    """After the unit wrote its result to ``path`` (JSON) and linked ``files``: the ``result``
    hash of its record's ``delta``, from the result as read back (nothing when
    :func:`take_old_if_same` found no inputs hash)."""
    delta = getattr(unit, "delta", None)
    if not delta:
        return
    try:
        with open(path, encoding="utf-8") as fh:
            written = json.load(fh)
    except (OSError, ValueError):
        unit.delta = None
        return
    delta["result"] = result_digest(compose, json_text(written), files)
