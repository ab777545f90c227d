"""Bulk tag operations: snapshotTag and snapshotTagModify (``koji clone-tag``), massTag,
moveAllBuilds.

As in Koji, each step of a snapshot gets its own event (so ``list-history`` shows them in the
order they were made), inheritance and external repos are not copied, and the ``tag``
permission (or admin) is required; massTag and snapshots bypass tag policies and locks.
"""

from __future__ import annotations

import koji
from sqlalchemy import select

from ..db import schema as s
from .builds import get_build_row
from .common import assert_login, assert_perm, check_type, get_tag_row, lock_tag, revoke
from .context import context, new_event
from .groups import get_tag_groups
from .packages import listPackages, pkglist_add
from .registry import export
from .tagging import read_tagged_builds, tag_build, tagBuild
from .tags import createTag, editTag2, getTag


def _builds_arg(builds):
    if not isinstance(builds, (list, tuple)):
        raise koji.ParameterError("Invalid type for builds: %s" % type(builds))
    return builds


@export
def massTag(tag, builds):
    """Tag many builds (NVRs or ids) at once, bypassing policies and checks (perm ``tag``)."""
    assert_perm("tag")
    tag_row = get_tag_row(tag, strict=True)
    for build in _builds_arg(builds):
        binfo = get_build_row(build, strict=True)
        tag_build(tag_row["id"], binfo["id"], force=True)
        new_event()   # one event per build keeps the tagging order in history


def _src_tag(src, event, force):
    src_info = getTag(src, strict=True, event=event)
    if src_info["locked"] and not force:
        raise koji.GenericError("Source tag is locked, use force to copy")
    return src_info


def _check_flags(builds, pkgs):
    if builds and not pkgs:
        raise koji.ParameterError("builds can't be used without pkgs in snapshotTag")


def _copy_packages(src, dst_id, event, remove):
    wanted = {p["package_name"]: p for p in listPackages(tagID=src["id"], event=event,
                                                          inherited=True)}
    have = {p["package_name"]: p for p in listPackages(tagID=dst_id, inherited=True)}
    # in package id order (the order the packages first became known to the hub)
    for name in sorted(wanted, key=lambda n: wanted[n]["package_id"]):
        p, old = wanted[name], have.get(name)
        if old and (old["blocked"], old["owner_name"], old["extra_arches"]) == \
                (p["blocked"], p["owner_name"], p["extra_arches"]):
            continue
        pkglist_add(dst_id, name, owner=p["owner_name"], block=p["blocked"],
                    extra_arches=p["extra_arches"], force=True, check_perm=False)
        new_event()
    if remove:
        tp, tpo = s.tag_packages, s.tag_package_owners
        for name in sorted(set(have) - set(wanted)):
            if have[name]["tag_id"] != dst_id:
                continue   # inherited: nothing of the destination's own to remove
            pkg_id = have[name]["package_id"]
            revoke(tp, tp.c.tag_id == dst_id, tp.c.package_id == pkg_id)
            revoke(tpo, tpo.c.tag_id == dst_id, tpo.c.package_id == pkg_id)
            new_event()


def _copy_builds(src, dst_id, event, latest_only, inherit_builds, remove):
    wanted = read_tagged_builds(src["id"], event=event, inherit=bool(inherit_builds),
                                latest=bool(latest_only))
    tl = s.tag_listing
    have = {r[0] for r in context.conn.execute(select(tl.c.build_id).where(
        tl.c.tag_id == dst_id, tl.c.active.is_(True)))}
    wanted_ids = {b["id"] for b in wanted}
    if remove:
        for build_id in sorted(have - wanted_ids):
            revoke(tl, tl.c.tag_id == dst_id, tl.c.build_id == build_id)
            new_event()
    # oldest first, so the newest is the latest in the destination as in the source
    for b in reversed(wanted):
        if b["id"] not in have:
            tag_build(dst_id, b["id"], force=True)
            new_event()


def _copy_groups(src, dst_id, event, remove):
    from .groups import groupListAdd, groupPackageListAdd, groupReqListAdd

    src_groups = get_tag_groups(src["id"], event=event)
    dst_groups = get_tag_groups(dst_id)
    for group in sorted(src_groups.values(), key=lambda g: g["name"]):
        opts = {k: group[k] for k in ("exported", "display_name", "is_default", "uservisible",
                                      "description", "langonly", "biarchonly")}
        groupListAdd(dst_id, group["name"], block=group["blocked"], force=True, **opts)
        new_event()
        for pkg in sorted(group.get("packagelist", {}).values(), key=lambda p: p["package"]):
            groupPackageListAdd(dst_id, group["name"], pkg["package"], block=pkg["blocked"],
                                force=True, type=pkg["type"], basearchonly=pkg["basearchonly"],
                                requires=pkg["requires"])
            new_event()
        for req in group.get("grouplist", {}).values():
            groupReqListAdd(dst_id, group["name"], req["name"], block=req["blocked"],
                            force=True, type=req["type"], is_metapkg=req["is_metapkg"])
            new_event()
    if remove:
        gc = s.group_config
        src_names = {g["name"] for g in src_groups.values()}
        for group in dst_groups.values():
            if group["name"] not in src_names and group["tag_id"] == dst_id:
                revoke(gc, gc.c.tag_id == dst_id, gc.c.group_id == group["group_id"])
                new_event()


def _check_bools(**flags):
    for name, value in flags.items():
        if not isinstance(value, (bool, int)) and value is not None:
            raise koji.ParameterError("Invalid type for %s: %s" % (name, type(value)))


@export
def snapshotTag(src, dst, config=True, pkgs=True, builds=True, groups=True, latest_only=True,
                inherit_builds=True, event=None, force=False):
    """Copy a tag's config, package list, builds and groups (now or at ``event``) into a new
    tag ``dst`` (perm ``tag``); inheritance and external repos are not copied."""
    assert_perm("tag")
    _check_bools(config=config, pkgs=pkgs, builds=builds, groups=groups,
                 latest_only=latest_only, inherit_builds=inherit_builds, force=force)
    _check_flags(builds, pkgs)
    check_type(dst, str, "dst")
    if get_tag_row(dst):
        raise koji.GenericError("Target tag already exists")
    src_info = _src_tag(src, event, force)
    if config:
        dst_id = createTag(dst, arches=src_info["arches"], perm=src_info["perm_id"],
                           locked=src_info["locked"], maven_support=src_info["maven_support"],
                           maven_include_all=src_info["maven_include_all"],
                           extra=src_info["extra"])
    else:
        dst_id = createTag(dst)
    new_event()
    lock_tag(dst_id)
    if pkgs:
        _copy_packages(src_info, dst_id, event, remove=False)
    if builds:
        _copy_builds(src_info, dst_id, event, latest_only, inherit_builds, remove=False)
    if groups:
        _copy_groups(src_info, dst_id, event, remove=False)


@export
def snapshotTagModify(src, dst, config=True, pkgs=True, builds=True, groups=True,
                      latest_only=True, inherit_builds=True, event=None, force=False,
                      remove=False):
    """Make the existing tag ``dst`` a copy of ``src`` (now or at ``event``): config, package
    list, builds, groups; with ``remove`` also drop what ``src`` lacks (perm ``tag``)."""
    assert_perm("tag")
    _check_bools(config=config, pkgs=pkgs, builds=builds, groups=groups,
                 latest_only=latest_only, inherit_builds=inherit_builds, force=force,
                 remove=remove)
    _check_flags(builds, pkgs)
    src_info = _src_tag(src, event, force)
    dst_info = getTag(dst, strict=True)
    if dst_info["locked"] and not force:
        raise koji.GenericError("Destination tag is locked, use force to modify")
    lock_tag(dst_info["id"])
    if config:
        edit = {k: src_info[k] for k in ("arches", "perm_id", "locked", "maven_support",
                                         "maven_include_all")}
        if dst_info["extra"] != src_info["extra"]:
            edit["extra"] = src_info["extra"]
            gone = sorted(set(dst_info["extra"]) - set(src_info["extra"]))
            if gone:
                edit["remove_extra"] = gone
        editTag2(dst_info["id"], **edit)
        new_event()
    if pkgs:
        _copy_packages(src_info, dst_info["id"], event, bool(remove))
    if builds:
        _copy_builds(src_info, dst_info["id"], event, latest_only, inherit_builds, bool(remove))
    if groups:
        _copy_groups(src_info, dst_info["id"], event, bool(remove))


@export
def moveAllBuilds(tag1, tag2, package, force=False):
    """Move every build of ``package`` from ``tag1`` to ``tag2`` (one tagBuild task each,
    oldest first); returns the task ids."""
    assert_login()
    tag1_row = get_tag_row(tag1, strict=True)
    get_tag_row(tag2, strict=True)
    check_type(package, (str, int), "package")
    from .packages import getPackage

    pkg = getPackage(package, strict=True)
    builds = read_tagged_builds(tag1_row["id"], package=pkg["name"])
    task_ids = []
    for b in reversed(builds):
        task_ids.append(tagBuild(tag2, b["id"], force=force, fromtag=tag1_row["id"]))
        new_event()   # one event per move keeps the order in history
    return task_ids
