"""Whether a unit can skip waiting for its key: no old unit of its name can have it.

A unit with an old unit of its name computes its key before it runs (``Scheduler.
key_needed_first``), to take that unit's results when the keys are equal. The key holds the
output hash of every unit it needs, and the output hash of a unit that ran is made by the record
thread after its end (its files' digests, its hand-over encoded: half a second for a package set
of 10,000 RPMs). In a nightly whose package set changed, ``pkgset.<arch>`` waited for
``pkgset.global``'s record, the gathers for ``pkgset.<arch>``'s, ``createrepo`` for the gather's,
each time only to find that no old unit had its key.

An output hash is a hash of a JSON text in which the unit's returned outputs are one member
(``Scheduler._hand_over``). When the outputs a needed unit returned in this run differ (with the
compose's directory and id normalised) from the outputs of the old record whose output hash an
old unit's key was made with, the two output hashes differ, and so do the keys: that old unit
cannot be taken. When that holds for every old unit of the name, the unit runs at once, as in a
cold compose, and its key is made with its record. The units whose outputs carry a digest of
what they made (the package set units, the gathers) make this proof possible whenever what they
made changed.

The proof only ever makes a unit run instead of waiting to find out that it cannot be reused:
wrong, it would cost a reuse, never a wrong output (a unit that runs makes what a cold compose
makes).
"""

import hashlib
import json

#: characters a compose's directory or id must not hold for the normalised text of the outputs
#: to be the same as that part of the hashed text (as scheduler.json_digest's pieces)
_EDGES = '{}[],:"\\'


def digest(items):
    """A short digest of an iterable of strings (a unit's outputs carry it)."""
    h = hashlib.sha256()
    for item in items:
        h.update(item.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:32]


def _safe(names):
    return not any(c in needle for needle in (names.topdir, names.compose_id) for c in _EDGES) \
        and not any(needle[:1].isspace() for needle in (names.topdir, names.compose_id))


def outputs_text(outputs, names):
    """The outputs as the output hash's text holds them, normalised."""
    return names.norm(json.dumps(outputs if outputs is not None else {}, sort_keys=True,
                                 default=str))


def cannot_match(pool, unit_name, ran, names, follows=None):
    """True when no old unit named ``unit_name`` in ``pool`` can have this run's key, given
    ``ran``: ``{needed unit: the outputs it returned in this run}`` for needed units whose
    output hash is not known yet (``names``: this compose's), and ``follows``: the same for
    units it follows (``after``). False when any old unit might (the caller then waits for
    the key, as before).

    A record names the output hashes of the units its unit needed (``needs``), not of those
    it followed; the key holds both. A followed unit's hash in an old unit's key is the one
    the followed unit's record of that same old compose holds (it ran or was taken there,
    and was recorded with it): when that record's outputs differ from this run's, so do the
    hashes and the keys (:func:`_follow_differs`). The checksums of a DVD made again
    (imagechecksum follows createiso) waited for the DVD unit's record only to run."""
    follows = follows or {}
    if not (ran or follows) or not _safe(names):
        return False

    def texts(outputs):
        return {dep: outputs_text(json.loads(json.dumps(out if out is not None else {},
                                                        default=str)), names)
                for dep, out in outputs.items()}
    new, new_follows = texts(ran), texts(follows)
    seen = {}
    found = False
    for old in pool._units(unit_name):
        found = True
        needs = old.record.get("needs")
        needs_differ = isinstance(needs, dict) and any(
            _differs(pool, dep, needs.get(dep), text, seen) for dep, text in new.items())
        if not needs_differ and not any(_follow_differs(pool, dep, old, text, seen)
                                        for dep, text in new_follows.items()):
            return False
    return found


def _differs(pool, dep, old_hash, new_text, seen):
    """Does ``dep``'s output hash in this run differ from ``old_hash`` for sure?"""
    if old_hash is None:
        return True     # the old unit did not need ``dep``: its key's needs differ
    text = _old_outputs(pool, dep, (dep, old_hash), seen,
                        lambda record: record.record.get("output_hash") == old_hash)
    return text is not None and text != new_text


def _follow_differs(pool, dep, old, new_text, seen):
    """Does the followed unit ``dep``'s output hash in this run differ for sure from the one
    in ``old``'s key: that of ``dep``'s record in ``old``'s own compose?"""
    where = (getattr(old, "topdir", None), getattr(old, "compose_id", None))
    if None in where:
        return False
    text = _old_outputs(pool, dep, (dep, where), seen, lambda record: (
        getattr(record, "topdir", None), getattr(record, "compose_id", None)) == where)
    return text is not None and text != new_text


def _old_outputs(pool, dep, key, seen, matches):
    """The outputs text of the first old record of ``dep`` that ``matches``, kept in ``seen``
    under ``key``; None when there is none, or it cannot be judged (names that are not
    :func:`_safe`, no output hash)."""
    if key not in seen:
        seen[key] = None
        for record in pool._units(dep):
            if matches(record):
                if _safe(record.names) and isinstance(record.record.get("output_hash"), str):
                    seen[key] = outputs_text(record.record.get("outputs"), record.names)
                break
    return seen[key]
