"""Tag inheritance: getInheritanceData, setInheritanceData, getFullInheritance.

The full inheritance is a depth-first walk in priority order with Koji's rules: loops are pruned;
intransitive links only count from the root; ``maxdepth`` limits how far below a link the walk
goes (the link's own value starts the budget; below that the tighter of the link's and the
inherited budget, minus one, wins); ``pkg_filter`` regexes
accumulate down the path; once a link with ``noconfig`` is passed, later links at that level carry
it too (Koji's behaviour); a tag reached again is listed again only if the new visit is stronger
than every earlier one (more depth budget, config where there was none, or earlier visits were
filtered). The reverse walk follows children, lists intransitive links without following them,
and checks ``maxdepth`` against the absolute depth without propagating it.
"""

from __future__ import annotations

import contextlib
import threading

import koji
from sqlalchemy import select

from ..db import schema as s
from .common import (
    active_at, as_int, assert_perm, get_tag_row, insert_versioned, lock_tag, revoke,
)
from .context import context
from .registry import export, read_only

LINK_FIELDS = ("parent_id", "priority", "maxdepth", "intransitive", "noconfig", "pkg_filter")


def read_inheritance(tag_id, event=None):
    """Direct parents of a tag, ordered by priority."""
    ti = s.tag_inheritance
    q = (select(ti.c.parent_id, s.tag.c.name, ti.c.priority, ti.c.maxdepth, ti.c.intransitive,
                ti.c.noconfig, ti.c.pkg_filter)
         .select_from(ti.join(s.tag, ti.c.parent_id == s.tag.c.id))
         .where(ti.c.tag_id == tag_id, active_at(ti, event)).order_by(ti.c.priority))
    out = []
    for r in context.conn.execute(q):
        d = dict(r._mapping)
        d["child_id"] = tag_id
        out.append(d)
    return out


def read_descendants(tag_id, event=None):
    """Direct children of a tag (links where it is the parent), ordered by priority."""
    ti = s.tag_inheritance
    q = (select(ti.c.tag_id, ti.c.parent_id, s.tag.c.name, ti.c.priority, ti.c.maxdepth,
                ti.c.intransitive, ti.c.noconfig, ti.c.pkg_filter)
         .select_from(ti.join(s.tag, ti.c.tag_id == s.tag.c.id))
         .where(ti.c.parent_id == tag_id, active_at(ti, event)).order_by(ti.c.priority))
    return [dict(r._mapping) for r in context.conn.execute(q)]


_MEMO = threading.local()


@contextlib.contextmanager
def inheritance_memo():
    """Within the block, :func:`read_full_inheritance` reads each (tag, event, direction) once
    and answers it again from that read (copies of its links): for a call that reads a tag's
    inheritance at one event several times and changes none (repoInit reads it for the last
    change, the package list, the latest RPMs and the groups: a statement a level each time)."""
    outer = getattr(_MEMO, "links", None)
    _MEMO.links = {} if outer is None else outer
    try:
        yield
    finally:
        _MEMO.links = outer


def read_full_inheritance(tag_id, event=None, reverse=False):
    """The ordered list of inheritance links reachable from ``tag_id`` (see module doc)."""
    memo = getattr(_MEMO, "links", None)
    if memo is None:
        return _read_full_inheritance(tag_id, event, reverse)
    key = (tag_id, event, bool(reverse))
    if key not in memo:
        memo[key] = _read_full_inheritance(tag_id, event, reverse)
    return [dict(link, filter=list(link["filter"])) for link in memo[key]]


def _read_full_inheritance(tag_id, event=None, reverse=False):
    order = []
    history = {}
    reader = read_descendants if reverse else read_inheritance

    def deeper(new, old):
        # None is an unlimited budget.
        if new is None:
            return old is not None
        return old is not None and old < new

    def walk(current, path, depth, budget, noconfig, filters):
        if budget is not None and budget < 1:
            return
        depth += 1
        path = path | {current}
        for link in reader(current, event):
            other = link["tag_id"] if reverse else link["parent_id"]
            if other in path:
                continue
            if not reverse and link["intransitive"] and len(path) > 1:
                continue
            if reverse:
                if link["maxdepth"] is not None and link["maxdepth"] < depth - 1:
                    continue
                nextdepth = None
            elif link["maxdepth"] is None:
                nextdepth = None if budget is None else budget - 1
            elif budget is None:
                nextdepth = link["maxdepth"]
            else:
                nextdepth = min(link["maxdepth"], budget) - 1
            if link["noconfig"]:
                noconfig = True
            link_filters = list(filters) + ([link["pkg_filter"]] if link["pkg_filter"] else [])
            link.update(nextdepth=nextdepth, currdepth=depth, filter=link_filters)
            earlier = history.setdefault(other, [])
            if any(not deeper(nextdepth, prev["nextdepth"])
                   and not (prev["noconfig"] and not noconfig)
                   and not prev["filter"] for prev in earlier):
                continue  # an earlier visit already covers this one
            earlier.append(link)
            order.append(link)
            if reverse and link["intransitive"]:
                continue
            walk(other, path, depth, nextdepth, noconfig, link_filters)

    walk(tag_id, frozenset(), 0, None, False, [])
    return order


@read_only
def getInheritanceData(tag, event=None):
    row = get_tag_row(tag, strict=True, event=event)
    return read_inheritance(row["id"], event)


@read_only
def getFullInheritance(tag, event=None, reverse=False):
    row = get_tag_row(tag, strict=True, event=event)
    return read_full_inheritance(row["id"], event, bool(reverse))


def _norm_link(link):
    out = {"parent_id": as_int(link["parent_id"], "parent_id"),
           "priority": as_int(link["priority"], "priority"),
           "maxdepth": None if link["maxdepth"] in (None, "") else as_int(link["maxdepth"],
                                                                          "maxdepth"),
           "intransitive": bool(link["intransitive"]), "noconfig": bool(link["noconfig"]),
           "pkg_filter": link["pkg_filter"] or ""}
    return out


@export
def setInheritanceData(tag, data, clear=False):
    """Add, change or (``'delete link': True``) remove parent links of a tag (perm ``tag``)."""
    assert_perm("tag")
    tag_id = get_tag_row(tag, strict=True)["id"]
    lock_tag(tag_id)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise koji.ParameterError("Invalid type for inheritance data: %s" % type(data))
    changes = []
    for link in data:
        if not isinstance(link, dict):
            raise koji.ParameterError("Invalid inheritance link: %r" % (link,))
        needed = ("parent_id",) if link.get("delete link") else LINK_FIELDS
        for f in needed:
            if f not in link:
                raise koji.GenericError("No value for %s" % f)
        get_tag_row(link["parent_id"], strict=True)
        if link.get("delete link"):
            changes.append({"parent_id": as_int(link["parent_id"], "parent_id"), "delete": True})
        else:
            changes.append(_norm_link(link))
    current = {l["parent_id"]: {f: l[f] for f in LINK_FIELDS} for l in read_inheritance(tag_id)}
    result = {pid: dict(l) for pid, l in current.items()}
    updated = set()
    for link in changes:
        pid = link["parent_id"]
        if link.get("delete"):
            if pid in result:
                result[pid] = None
                updated.add(pid)
        elif clear or result.get(pid) != link:
            result[pid] = link
            updated.add(pid)
    if clear:
        for pid in current:
            if pid not in updated:
                result[pid] = None
                updated.add(pid)
    if not updated:
        return None
    priorities = {}
    for pid, link in result.items():
        if link is not None:
            priorities.setdefault(link["priority"], []).append(pid)
    for pri, pids in priorities.items():
        if len(pids) > 1:
            raise koji.GenericError(
                "Multiple parent tags (%r) cannot have the same priority value (%d) on child "
                "tag %d" % (sorted(pids), pri, tag_id))
    # Revoke every changed link before inserting any: two links swapping priorities must not
    # be active at the same priority even for a moment (unique index on active rows).
    for pid in sorted(updated):
        revoke(s.tag_inheritance, s.tag_inheritance.c.tag_id == tag_id,
               s.tag_inheritance.c.parent_id == pid)
    for pid in sorted(updated):
        if result[pid] is not None:
            insert_versioned(s.tag_inheritance, tag_id=tag_id, **result[pid])
    return None
