"""Draft builds, as Koji 1.34+'s: ``koji build --draft`` makes a build whose release carries
the suffix ``,draft_<build id>`` (``koji.gen_draft_release``), so a draft never takes the NVR
a regular build would have; its RPMs keep their own release and are marked ``draft``.
``promoteBuild`` (``koji promote-build``) turns a COMPLETE draft into the regular build of its
target release: the ``draft_promotion`` policy decides (Koji's default: the ``draft-promoter``
permission or the build's owner; ``force`` lets an admin through), the build directory moves
to the target release's place and a symlink stays at the draft's.

On this hub an RPM name-version-release-arch is unique among all builds, drafts included
(Koji allows a draft to repeat a regular build's RPMs); such a draft is refused at import.
"""

from __future__ import annotations

import os
import time
import uuid

import koji
from sqlalchemy import insert, select, update

from ..db import schema as s
from .builds import get_build_row
from .common import as_int, assert_login, lookup, note_tag_update
from .context import context, event_id
from .names import verify_nvr
from .registry import export


def reserve_draft_build(name, version, release, epoch, task, source=None):
    """A BUILDING draft rpm build for ``task``: release ``<release>,draft_<id>``; returns the
    build dict (host.initBuild with ``draft``)."""
    from .images import mark_build_type

    verify_nvr(name, version, release)
    if epoch is not None:
        epoch = as_int(epoch, "epoch")
    pkg = lookup(s.package, name, "package", create=True)
    vol = lookup(s.volume, "DEFAULT", "volume", strict=True)
    # the id is part of the release: insert under a unique placeholder, then name it
    build_id = context.conn.execute(insert(s.build).values(
        pkg_id=pkg["id"], version=version, release="%s,draft_new_%s" % (release, uuid.uuid4().hex),
        epoch=epoch, draft=True, state=koji.BUILD_STATES["BUILDING"], task_id=task["id"],
        owner=task["owner"], volume_id=vol["id"], create_event=event_id(),
        start_ts=time.time(), completion_ts=None, source=source)
        .returning(s.build.c.id)).scalar_one()
    context.conn.execute(update(s.build).where(s.build.c.id == build_id).values(
        release=koji.gen_draft_release(release, build_id)))
    mark_build_type(build_id, "rpm")
    return get_build_row(build_id, strict=True)


def target_release(build):
    """The release a build's RPMs carry: the draft's target release, else its own."""
    return koji.parse_target_release(build["release"]) if build["draft"] else build["release"]


@export
def promoteBuild(build, force=False):
    """Make a COMPLETE draft build the regular build of its target release; returns the
    promoted build dict."""
    from .policy import assert_policy

    assert_login()
    binfo = get_build_row(build, strict=True)
    fault = "Cannot promote build %s. Reason: {}" % binfo["nvr"]
    if not binfo["draft"]:
        raise koji.GenericError(fault.format("Not a draft build"))
    state = koji.BUILD_STATES[binfo["state"]]
    if state != "COMPLETE":
        raise koji.GenericError(fault.format("state (%s) is not COMPLETE." % state))
    old_release = binfo["release"]
    new_release = koji.parse_target_release(old_release)
    existing = get_build_row({"name": binfo["name"], "version": binfo["version"],
                              "release": new_release})
    if existing:
        raise koji.GenericError(fault.format("Target build exists: %s(#%s)"
                                             % (existing["nvr"], existing["id"])))
    assert_policy("draft_promotion", {"build": binfo["id"], "target_release": new_release,
                                      "user_id": context.user["id"]}, force=bool(force))
    context.conn.execute(update(s.build).where(s.build.c.id == binfo["id"]).values(
        draft=False, release=new_release, promoter=context.user["id"],
        promotion_ts=time.time()))
    context.conn.execute(update(s.rpminfo).where(s.rpminfo.c.build_id == binfo["id"])
                         .values(draft=False))
    new = get_build_row(binfo["id"], strict=True)
    pi = context.hub.pathinfo
    oldpath, newpath = pi.build(binfo), pi.build(new)
    if os.path.lexists(newpath):
        raise koji.GenericError(fault.format("the target build directory exists"))
    if os.path.isdir(oldpath) and not os.path.islink(oldpath):
        os.rename(oldpath, newpath)
        # the draft's place still leads to the files (relative, as the volume links)
        os.symlink(os.path.basename(newpath), oldpath)
    for (tag_id,) in context.conn.execute(select(s.tag_listing.c.tag_id).where(
            s.tag_listing.c.build_id == binfo["id"], s.tag_listing.c.active.is_(True))):
        note_tag_update(tag_id)
    return new
