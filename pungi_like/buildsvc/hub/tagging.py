"""Builds in tags: listTagged, listTaggedRPMS, getLatestBuilds/RPMS, tagBuild, untagBuild,
moveBuild. The reads and Koji's meaning of "latest" are in :mod:`.tag_reads`.
"""

from __future__ import annotations

import koji
from sqlalchemy import select

from ..db import schema as s
from .builds import get_build_row
from .common import (
    assert_login, assert_perm, get_tag_row, insert_versioned, lock_tag, revoke,
)
from .context import context, perms
from .packages import pkglist_add, read_package_list
from .policy import assert_policy, assert_tag_access
from .registry import export, read_only
from .tag_reads import read_tagged_builds, read_tagged_rpms  # noqa: F401 (used elsewhere)
from .tasks import make_task, run_in_hub

COMPLETE = koji.BUILD_STATES["COMPLETE"]


def _tag_for_query(tag, event, strict):
    row = get_tag_row(tag, strict=strict, event=event)
    return row["id"] if row else None


@read_only
def listTagged(tag, event=None, inherit=False, prefix=None, latest=False, package=None,
               owner=None, type=None, strict=True, extra=False, draft=None):
    tag_id = _tag_for_query(tag, event, strict)
    if tag_id is None or type not in (None, "rpm"):
        return []
    return read_tagged_builds(tag_id, event, bool(inherit), latest, package, owner, prefix,
                              draft, bool(extra))


@read_only
def listTaggedRPMS(tag, event=None, inherit=False, latest=False, package=None, arch=None,
                   rpmsigs=False, owner=None, type=None, strict=True, extra=True, draft=None):
    tag_id = _tag_for_query(tag, event, strict)
    if tag_id is None or type not in (None, "rpm"):
        return [[], []]
    return read_tagged_rpms(tag_id, event, bool(inherit), latest, package, arch, rpmsigs, owner,
                            draft, extra)


@read_only
def getLatestBuilds(tag, event=None, package=None, type=None, draft=None):
    return listTagged(tag, event=event, inherit=True, latest=True, package=package, type=type,
                      draft=draft)


@read_only
def getLatestRPMS(tag, package=None, arch=None, event=None, rpmsigs=False, type=None,
                  draft=None):
    return listTaggedRPMS(tag, event=event, inherit=True, latest=True, package=package,
                          arch=arch, rpmsigs=rpmsigs, type=type, draft=draft)


def _assert_tag_access(tag, force):
    """Locked tags and tags with a required permission refuse tagging (admin+force overrides;
    Koji's assert_tag_access, see policy.check_tag_access)."""
    assert_tag_access(tag["id"], force=force)


def _assert_tag_policy(operation, tag, build, fromtag, force):
    """The hub's ``tag`` policy (Koji's data: tag, build, fromtag ids and the operation)."""
    assert_policy("tag", {"tag": tag["id"] if tag else None, "build": build["id"],
                          "fromtag": fromtag["id"] if fromtag else None,
                          "operation": operation}, force=force)


def _check_tag_build(tag, build, force):
    if build["state"] != COMPLETE:
        raise koji.TagError("build %s not complete: state %s"
                            % (build["nvr"], koji.BUILD_STATES[build["state"]]))
    _assert_tag_access(tag, force)
    pkgs = read_package_list(tag["id"], pkg_id=build["package_id"], inherit=True,
                             with_owners=False)
    pkg = pkgs.get(build["package_id"])
    if pkg is None or pkg["blocked"]:
        if force and "admin" in perms():
            pkglist_add(tag["id"], build["name"], owner=context.user["name"], force=True,
                        block=False, check_perm=False)
        elif pkg is None:
            raise koji.TagError("package %s not in list for tag %s" % (build["name"], tag["name"]))
        else:
            raise koji.TagError("package %s is blocked in tag %s" % (build["name"], tag["name"]))


def tag_build(tag_id, build_id, force=False, fromtag_id=None, by_user=None, rows=None):
    """Add a build to a tag (and, with ``fromtag_id``, take it out of that one); history
    records the caller, or ``by_user`` (a task's owner when a host tags for the task).
    ``rows``: (tag row, build row) of ``tag_id`` and ``build_id`` as the caller read them
    (get_tag_row, get_build_row, strict) in this transaction: not read again."""
    tl = s.tag_listing
    lock_tag(tag_id, fromtag_id)
    if rows is not None and rows[0]["id"] == tag_id and rows[1]["id"] == build_id:
        tag, build = rows
    else:
        build = get_build_row(build_id, strict=True)
        tag = get_tag_row(tag_id, strict=True)
    if fromtag_id is not None:
        if not revoke(tl, tl.c.tag_id == fromtag_id, tl.c.build_id == build_id,
                      by_user=by_user):
            raise koji.TagError("build %s not in tag %s"
                                % (build["nvr"], get_tag_row(fromtag_id)["name"]))
    tagged = context.conn.execute(select(tl.c.build_id).where(
        tl.c.tag_id == tag_id, tl.c.build_id == build_id, tl.c.active.is_(True))).first()
    if tagged:
        if not force:
            raise koji.TagError("build %s already tagged (%s)" % (build["nvr"], tag["name"]))
        revoke(tl, tl.c.tag_id == tag_id, tl.c.build_id == build_id, by_user=by_user)
    insert_versioned(tl, by_user=by_user, tag_id=tag_id, build_id=build_id)


@export
def tagBuild(tag, build, force=False, fromtag=None):
    """Check, then create a ``tagBuild`` task for a builder; returns the task id."""
    assert_login()
    tag_row = get_tag_row(tag, strict=True)
    build_row = get_build_row(build, strict=True)
    fromtag_row = get_tag_row(fromtag, strict=True) if fromtag is not None else None
    lock_tag(tag_row["id"], fromtag_row["id"] if fromtag_row else None)
    _check_tag_build(tag_row, build_row, force)
    if fromtag_row is not None:
        _assert_tag_access(fromtag_row, force)
    _assert_tag_policy("tag" if fromtag_row is None else "move", tag_row, build_row, fromtag_row,
                       force)
    args = [tag_row["id"], build_row["id"], bool(force),
            fromtag_row["id"] if fromtag_row else None]
    task_id = make_task("tagBuild", args, priority=10)
    from .scheduler import settings

    if settings()["tag_tasks_in_hub"]:
        run_in_hub(task_id, lambda: tag_build(*args))
    # else, as in Koji, a builder runs it (host.tagBuild, history by the task's owner)
    return task_id


@export
def moveBuild(tag1, tag2, build, force=False):
    """tagBuild into ``tag2`` from ``tag1``; returns the task id."""
    return tagBuild(tag2, build, force, fromtag=tag1)


@export
def untagBuild(tag, build, strict=True, force=False):
    """Remove a build from a tag at once (no task)."""
    assert_login()
    tag_row = get_tag_row(tag, strict=True)
    build_row = get_build_row(build, strict=True)
    lock_tag(tag_row["id"])
    _assert_tag_policy("untag", None, build_row, tag_row, force)
    _assert_tag_access(tag_row, force)
    tl = s.tag_listing
    if not revoke(tl, tl.c.tag_id == tag_row["id"], tl.c.build_id == build_row["id"]):
        if strict:
            raise koji.TagError("build %s not in tag %s" % (build_row["nvr"], tag_row["name"]))


@export
def tagBuildBypass(tag, build, force=False, notify=False):
    """Tag at once, without a task (``tag`` permission, the ``tag`` policy, tag access)."""
    assert_perm("tag")
    t, b = get_tag_row(tag, strict=True), get_build_row(build, strict=True)
    _assert_tag_policy("tag", t, b, None, force)
    _assert_tag_access(t, force)
    tag_build(t["id"], b["id"], force, rows=(t, b))


@export
def untagBuildBypass(tag, build, strict=True, force=False, notify=False):
    assert_perm("tag")
    tl = s.tag_listing
    t, b = get_tag_row(tag, strict=True), get_build_row(build, strict=True)
    lock_tag(t["id"])
    _assert_tag_policy("untag", None, b, t, force)
    _assert_tag_access(t, force)
    if not revoke(tl, tl.c.tag_id == t["id"], tl.c.build_id == b["id"]) and strict:
        raise koji.TagError("build %s not in tag %s" % (b["nvr"], t["name"]))
