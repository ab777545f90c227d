"""Storage volumes: listVolumes, getVolume, addVolume, removeVolume, changeBuildVolume,
applyVolumePolicy.

As in Koji, a volume other than DEFAULT lives at ``<topdir>/vol/<name>`` (a directory the
admin makes, usually a mount point or a symlink to another file system) and a build on it has
its directory at ``vol/<name>/packages/<n>/<v>/<r>`` with a relative symlink from its DEFAULT
place, so clients that only know ``packages/...`` still find its files.
"""

from __future__ import annotations

import logging
import os
import shutil

import koji
from sqlalchemy import delete, insert, select, update

from ..db import schema as s
from ..pathinfo import component, safe_join
from .builds import get_build_row
from .common import assert_admin, lookup, note_tag_update
from .context import context
from .names import verify_name_internal
from .registry import export, read_only

log = logging.getLogger(__name__)


def _volume(info, strict=False):
    return lookup(s.volume, info, "volume", strict=strict)


@read_only
def listVolumes():
    """Every storage volume: ``[{id, name}]``."""
    return [dict(r._mapping) for r in context.conn.execute(
        select(s.volume.c.id, s.volume.c.name).order_by(s.volume.c.id))]


@read_only
def getVolume(volume, strict=False):
    """A volume by id or name: ``{id, name}`` or None (a fault with ``strict``)."""
    row = _volume(volume)
    if row is None and strict:
        raise koji.GenericError("No such volume: %s" % (volume,))
    return row


@export
def addVolume(name, strict=True):
    """Register ``vol/<name>`` (which must already exist) as a volume (admin)."""
    assert_admin()
    verify_name_internal(name)
    pi = context.hub.pathinfo
    voldir = pi.volumedir(name)
    if not os.path.isdir(voldir):
        raise koji.GenericError("please create the volume directory first")
    # volume directories link back to the top directory (Koji's "toplink")
    toplink = os.path.join(voldir, "toplink")
    if os.path.islink(toplink):
        if not os.path.exists(toplink) or not os.path.samefile(toplink, pi.topdir):
            raise koji.GenericError("Invalid volume toplink: vol/%s/toplink" % name)
    elif os.path.exists(toplink):
        raise koji.GenericError("Not a symlink: vol/%s/toplink" % name)
    else:
        os.symlink(pi.topdir, toplink)
    row = _volume(name)
    if row:
        if strict:
            raise koji.GenericError("volume %s already exists" % name)
        return row
    vid = context.conn.execute(insert(s.volume).values(name=name)
                               .returning(s.volume.c.id)).scalar_one()
    return {"id": vid, "name": name}


@export
def removeVolume(volume):
    """Delete a volume no build uses (admin)."""
    assert_admin()
    row = _volume(volume, strict=True)
    if row["name"] == "DEFAULT":
        raise koji.GenericError("volume DEFAULT cannot be removed")
    if context.conn.execute(select(s.build.c.id).where(s.build.c.volume_id == row["id"])
                            .limit(1)).first():
        raise koji.GenericError("volume %(name)s has build references" % row)
    context.conn.execute(delete(s.volume).where(s.volume.c.id == row["id"]))


def _default_place(binfo):
    """The build's directory on DEFAULT, not following a symlink that may be there."""
    name = binfo["name"]
    return safe_join(context.hub.pathinfo.topdir, "packages", component(name, "package name"),
                     component(binfo["version"], "version"),
                     component(binfo["release"], "release"), resolve=False)


def set_build_volume(binfo, volinfo, strict=True):
    """Move a build's directory to ``volinfo`` and record it (Koji's _set_build_volume)."""
    if binfo["volume_id"] == volinfo["id"]:
        if strict:
            raise koji.GenericError("Build %(nvr)s already on volume %(volume_name)s" % binfo)
        return
    state = koji.BUILD_STATES[binfo["state"]]
    if state not in ("COMPLETE", "DELETED"):
        raise koji.GenericError("Build %s is %s" % (binfo["nvr"], state))
    pi = context.hub.pathinfo
    to_default = volinfo["name"] == "DEFAULT"
    if not to_default and not os.path.isdir(pi.volumedir(volinfo["name"])):
        raise koji.GenericError("Directory entry missing for volume %(name)s" % volinfo)
    base = _default_place(binfo)
    if binfo["volume_name"] == "DEFAULT":
        olddir = base
    else:
        olddir = pi.build(binfo)
    newdir = base if to_default else pi.build(dict(binfo, volume_name=volinfo["name"]))
    if not os.path.isdir(olddir) or os.path.islink(olddir):
        raise koji.GenericError("Build directory missing: %s" % os.path.relpath(olddir,
                                                                               pi.topdir))
    if to_default:
        if os.path.islink(base):
            os.unlink(base)
    elif os.path.lexists(newdir):
        raise koji.GenericError("Destination directory exists: %s"
                                % os.path.relpath(newdir, pi.topdir))
    os.makedirs(os.path.dirname(newdir), exist_ok=True)
    shutil.copytree(olddir, newdir, symlinks=True)
    context.conn.execute(update(s.build).where(s.build.c.id == binfo["id"])
                         .values(volume_id=volinfo["id"]))
    tl = s.tag_listing
    for (tag_id,) in context.conn.execute(select(tl.c.tag_id).where(
            tl.c.build_id == binfo["id"], tl.c.active.is_(True))):
        note_tag_update(tag_id, update_type=koji.TAG_UPDATE_TYPES["VOLUME_CHANGE"])
    shutil.rmtree(olddir)
    if not to_default:
        if os.path.islink(base):
            os.unlink(base)
        os.makedirs(os.path.dirname(base), exist_ok=True)
        os.symlink(os.path.relpath(newdir, os.path.dirname(base)), base)


@export
def changeBuildVolume(build, volume, strict=True):
    """Move a build to another storage volume (admin)."""
    assert_admin()
    volinfo = _volume(volume, strict=True)
    binfo = get_build_row(build, strict=True)
    set_build_volume(binfo, volinfo, strict)


@export
def applyVolumePolicy(build, strict=False):
    """Move a build to the volume the hub's ``volume`` policy names for it (admin)."""
    assert_admin()
    binfo = get_build_row(build, strict=True)
    from .policy import eval_policy

    result = None
    try:
        result = eval_policy("volume", {"build": binfo["id"]})
    except koji.GenericError:
        if strict:
            raise
        log.exception("Volume policy error")
    volinfo = None
    if result is not None:
        volinfo = _volume(result.strip())
        if volinfo is None:
            if strict:
                raise koji.GenericError("Policy returned no such volume: %s" % result)
            log.error("Volume policy returned no such volume %s", result)
    if volinfo is None or volinfo["id"] == binfo["volume_id"]:
        return None
    set_build_volume(binfo, volinfo, strict=True)
