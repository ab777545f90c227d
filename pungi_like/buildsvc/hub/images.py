"""Image builds and archives: buildImage / buildImageOz, the host calls that import images, and
the archive queries (getImageBuild, listArchives, getArchive, listArchiveFiles,
getArchiveType(s), listRPMs(imageID=...)).

Flow (Koji's): ``buildImage(name, version, arch, target, ksfile, img_type, opts)`` makes a
``livecd`` / ``appliance`` task (channel = the image type, arch = the requested arch);
``buildImageOz(name, version, arches, target, inst_tree, opts)`` an ``image`` task (channel
``image``, noarch).  The builder's parent task reserves the build with
``host.initImageBuild`` (a BUILDING build of btype ``image``), runs the ``createLiveCD`` /
``createAppliance`` / ``createImage`` children, and ends with ``host.completeImageBuild``
(non-scratch: every file of each child's imgdata becomes an archive under
``packages/<n>/<v>/<r>/images/``, its RPM list becomes archive_rpm_components, the build turns
COMPLETE) or ``host.moveImageBuildToScratch`` (files moved to ``scratch/<user>/task_<id>/``,
symlinks left in the task directory), or ``host.failBuild``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import time

import koji
from sqlalchemy import insert, select, update

from ..db import schema as s
from ..pathinfo import component, safe_join
from .builds import get_build_row, new_build
from .common import as_int, assert_perm, lookup
from .context import context, perms
from .names import verify_filename
from . import rpms
from .registry import export, read_only
from .tasks import PRIO_DEFAULT, make_task

IMAGE_TYPES = ("livecd", "appliance", "livemedia")
CHECKSUM_SHA256 = koji.CHECKSUM_TYPES["sha256"]

def user_priority(priority):
    """Koji's task priority from a user's ``priority`` argument (negative: admin only)."""
    if not priority:
        return None
    priority = as_int(priority, "priority")
    if priority < 0 and "admin" not in perms():
        raise koji.ActionNotAllowed("only admins may create high-priority tasks")
    return PRIO_DEFAULT + priority


def _check_str(value, what):
    if not isinstance(value, str):
        raise koji.ParameterError("Invalid type for %s: %s" % (what, type(value)))


def _check_ksurl(opts):
    if opts and opts.get("ksurl"):
        from .build_api import assert_scm_allowed

        assert_scm_allowed(opts["ksurl"])


@export
def buildImage(name, version, arch, target, ksfile, img_type, opts=None, priority=None):
    """A livecd / appliance / livemedia task (needs the permission named as the type)."""
    if img_type not in IMAGE_TYPES:
        raise koji.GenericError("Unrecognized image type: %s" % img_type)
    for value, what in ((name, "name"), (ksfile, "ksfile"), (version, "version")):
        _check_str(value, what)
    assert_perm(img_type)
    opts = opts or {}
    _check_ksurl(opts)
    task_arch = "noarch" if img_type == "livemedia" else arch
    return make_task(img_type, [name, version, arch, target, ksfile, opts], channel=img_type,
                     arch=task_arch, priority=user_priority(priority))


@export
def buildImageOz(name, version, arches, target, inst_tree, opts=None, priority=None):
    """An ``image`` task (image-build; needs the ``image`` permission)."""
    for value, what in ((name, "name"), (inst_tree, "inst_tree"), (version, "version")):
        _check_str(value, what)
    assert_perm("image")
    opts = opts or {}
    _check_ksurl(opts)
    return make_task("image", [name, version, arches, target, inst_tree, opts], channel="image",
                     priority=user_priority(priority))


# ---------------------------------------------------------------------------------------------
# host side


def host_task(task_id):
    """The task row, after checking that the calling host holds the task OPEN (hostcheck.py)."""
    from .hostcheck import assert_task_held

    return assert_task_held(task_id)


def _btype_id(name):
    row = lookup(s.btype, name, "btype", create=True)
    return row["id"]


def mark_build_type(build_id, btype):
    """Record the build's btype (``build_types``) once."""
    bt = _btype_id(btype)
    exists = context.conn.execute(select(s.build_types.c.build_id).where(
        s.build_types.c.build_id == build_id, s.build_types.c.btype_id == bt)).first()
    if not exists:
        context.conn.execute(insert(s.build_types).values(build_id=build_id, btype_id=bt))


def reserve_build(name, version, release, epoch, task, btype, source=None):
    """A BUILDING build for ``task`` (a FAILED or CANCELED one of the same NVR is reused, as
    Koji's get_next_build does); returns the build dict."""
    old = get_build_row({"name": name, "version": version, "release": release})
    states = koji.BUILD_STATES
    if old is None:
        build_id = new_build(name, version, release, epoch, state=states["BUILDING"],
                             owner=task["owner"], task_id=task["id"], source=source)
    elif old["state"] in (states["FAILED"], states["CANCELED"]):
        build_id = old["id"]
        context.conn.execute(update(s.build).where(s.build.c.id == build_id).values(
            state=states["BUILDING"], task_id=task["id"], owner=task["owner"],
            start_ts=time.time(), completion_ts=None, epoch=epoch))
    else:
        raise koji.GenericError("Build already exists (id=%d, state=%s): %s"
                                % (old["id"], states[old["state"]], old["nvr"]))
    mark_build_type(build_id, btype)
    return get_build_row(build_id, strict=True)


@export(name="host.initImageBuild")
def host_initImageBuild(task_id, build_info):
    """Reserve an image build (BUILDING, btype image) for the task; returns the build dict."""
    task = host_task(task_id)
    build = reserve_build(build_info["name"], build_info["version"], build_info["release"],
                          build_info.get("epoch"), task, "image")
    if not context.conn.execute(select(s.image_builds.c.build_id).where(
            s.image_builds.c.build_id == build["id"])).first():
        context.conn.execute(insert(s.image_builds).values(build_id=build["id"]))
    return build


def archive_type_for(filename, strict=True):
    """The archivetypes row whose extension ends ``filename`` (longest match)."""
    best = None
    for row in context.conn.execute(select(s.archivetypes)):
        for ext in row.extensions.split():
            if filename.endswith("." + ext) and (best is None or len(ext) > best[0]):
                best = (len(ext), dict(row._mapping))
    if best is None:
        if strict:
            raise koji.BuildError("Unsupported file type: %s" % filename)
        return None
    return best[1]


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _move_and_symlink(src, dest):
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.exists(dest):
        raise koji.GenericError("Error importing image: %s already exists" % dest)
    os.rename(src, dest)
    os.symlink(dest, src)


def _image_rpm_ids(rpmlist):
    """Ids of the RPMs an image holds; each must be known to the hub (as Koji requires)."""
    ids = set()
    for entry in rpmlist or ():
        key = {k: entry[k] for k in ("name", "version", "release", "arch")}
        q = select(s.rpminfo.c.id, s.rpminfo.c.payloadhash).where(
            *[s.rpminfo.c[k] == v for k, v in key.items()])
        loc = entry.get("location")
        if loc:
            ext = lookup(s.external_repo, loc, "external repo", strict=True)
            q = q.where(s.rpminfo.c.external_repo_id == ext["id"])
        else:
            q = q.where(s.rpminfo.c.external_repo_id == 0)
        row = context.conn.execute(q).first()
        if row is None:
            raise koji.BuildError(
                "RPM %(name)s-%(version)s-%(release)s.%(arch)s in the image is not known to the "
                "build service; only images made from the build tag's repo (or scratch images) "
                "can be imported" % key)
        if entry.get("payloadhash") and row.payloadhash and \
                entry["payloadhash"] != row.payloadhash:
            raise koji.BuildError("RPM %(name)s-%(version)s-%(release)s.%(arch)s in the image "
                                  "differs from the one the build service has" % key)
        ids.add(row.id)
    return sorted(ids)


def import_image(task, build, imgdata):
    """Import one child's imgdata: archives under ``<build>/images/``, logs under
    ``<build>/data/logs/image/``, RPM components; returns the archive dicts."""
    pi = context.hub.pathinfo
    workpath = pi.task(as_int(imgdata["task_id"], "task_id"))
    destdir = pi.imagebuild(build)
    rpm_ids = _image_rpm_ids(imgdata.get("rpmlist"))
    image_btype = _btype_id("image")
    info_by_name = {i.get("filename"): i for i in imgdata.get("imageinfo") or ()}
    archives = []
    for fname in imgdata["files"]:
        # one plain file name, inside the task's output (Koji: joinpath refuses the rest)
        src = safe_join(workpath, verify_filename(fname, "image file name"))
        if os.path.islink(src) or not os.path.isfile(src):
            raise koji.GenericError("Error importing image: %s is not a regular file" % fname)
        atype = archive_type_for(fname)
        extra = {k: v for k, v in (info_by_name.get(fname) or {}).items()
                 if k in ("type", "format", "volid", "implanted_md5", "boot", "root_label",
                          "disk_size", "kver")}
        size = os.path.getsize(src)
        archive_id = context.conn.execute(insert(s.archiveinfo).values(
            type_id=atype["id"], btype_id=image_btype, build_id=build["id"], buildroot_id=None,
            filename=fname, size=size, checksum=_sha256(src), checksum_type=CHECKSUM_SHA256,
            metadata_only=False, extra=json.dumps({"image": extra}) if extra else None)
            .returning(s.archiveinfo.c.id)).scalar_one()
        context.conn.execute(insert(s.image_archives).values(archive_id=archive_id,
                                                              arch=imgdata["arch"]))
        if not fname.endswith(".xml") and atype["name"] not in ("ks", "cfg"):
            for rpm_id in rpm_ids:
                context.conn.execute(insert(s.archive_rpm_components).values(
                    archive_id=archive_id, rpm_id=rpm_id))
        _move_and_symlink(src, safe_join(destdir, fname))
        archives.append(archive_id)
    logdir = pi.build_file(build, "data", "logs", "image")
    for log in sorted(imgdata.get("logs") or ()):
        src = safe_join(workpath, log)
        if not os.path.isfile(src) or os.path.islink(src):
            continue
        name = verify_filename(os.path.basename(log), "log file name")
        dest = safe_join(logdir, name)
        if os.path.exists(dest) or task["method"] not in ("appliance", "image", "livecd"):
            dest = safe_join(logdir, component(imgdata["arch"], "arch"), name)
        if not os.path.exists(dest):
            _move_and_symlink(src, dest)
    return archives


@export(name="host.importImage")
def host_importImage(task_id, build_info, results):
    """Import the images of ``results`` ({child task id: imgdata}) into the build."""
    from .hostcheck import assert_build_of_task

    task = host_task(task_id)
    build = get_build_row(build_info["id"] if isinstance(build_info, dict) else build_info,
                          strict=True)
    assert_build_of_task(build, task)
    for sub in _results(results, task):
        import_image(task, build, sub)


def _results(results, task):
    """The imgdata dicts of ``results``; each must come from ``task`` or one of its subtasks."""
    from .hostcheck import assert_task_or_subtask

    if not isinstance(results, dict):
        raise koji.ParameterError("Invalid type for results: %s" % type(results))
    subs = [results[k] for k in sorted(results, key=str)
            if isinstance(results[k], dict) and "task_id" in results[k]]
    for sub in subs:
        assert_task_or_subtask(task, sub["task_id"])
    return subs


@export(name="host.completeImageBuild")
def host_completeImageBuild(task_id, build_id, results):
    """Import the images and set the build COMPLETE."""
    from .hostcheck import assert_build_of_task

    task = host_task(task_id)
    build = get_build_row(as_int(build_id, "build_id"), strict=True)
    assert_build_of_task(build, task)
    if build["state"] != koji.BUILD_STATES["BUILDING"]:
        raise koji.GenericError("build %s is not BUILDING" % build["nvr"])
    for sub in _results(results, task):
        import_image(task, build, sub)
    context.conn.execute(update(s.build).where(s.build.c.id == build["id"]).values(
        state=koji.BUILD_STATES["COMPLETE"], completion_ts=time.time()))
    return get_build_row(build["id"], strict=True)


@export(name="host.moveImageBuildToScratch")
def host_moveImageBuildToScratch(task_id, results):
    """Move scratch images to ``scratch/<owner>/task_<child>/`` (symlinks stay behind)."""
    task = host_task(task_id)
    owner = lookup(s.users, task["owner"], "user", strict=True)["name"]
    pi = context.hub.pathinfo
    for sub in _results(results, task):
        workdir = pi.task(as_int(sub["task_id"], "task_id"))
        destdir = pi.scratch_task(owner, as_int(sub["task_id"], "task_id"))
        for name in list(sub.get("files") or ()) + list(sub.get("logs") or ()):
            src = safe_join(workdir, verify_filename(name))
            if os.path.isfile(src) and not os.path.islink(src):
                _move_and_symlink(src, safe_join(destdir, name))


# ---------------------------------------------------------------------------------------------
# queries


@read_only
def getImageBuild(buildInfo, strict=False):
    """``{build_id}`` if the build is an image build, else None."""
    build = get_build_row(buildInfo, strict=strict)
    if build is None:
        return None
    row = context.conn.execute(select(s.image_builds.c.build_id).where(
        s.image_builds.c.build_id == build["id"])).first()
    if row is None:
        if strict:
            raise koji.GenericError("no such image build: %s" % (buildInfo,))
        return None
    return {"build_id": row.build_id}


@read_only
def getMavenBuild(buildInfo, strict=False):
    """No maven builds here (``koji buildinfo`` asks)."""
    if strict:
        raise koji.GenericError("no such maven build: %s" % (buildInfo,))
    return None


@read_only
def getWinBuild(buildInfo, strict=False):
    if strict:
        raise koji.GenericError("no such win build: %s" % (buildInfo,))
    return None


def _archive_select():
    a, t = s.archiveinfo, s.archivetypes
    return (select(a.c.id, a.c.type_id, a.c.btype_id, s.btype.c.name.label("btype"),
                   a.c.build_id, a.c.buildroot_id, a.c.filename, a.c.size, a.c.checksum,
                   a.c.checksum_type, a.c.metadata_only, a.c.extra, t.c.name.label("type_name"),
                   t.c.description.label("type_description"),
                   t.c.extensions.label("type_extensions"), t.c.compression_type)
            .select_from(a.join(t, t.c.id == a.c.type_id)
                         .outerjoin(s.btype, s.btype.c.id == a.c.btype_id))
            .order_by(a.c.id))


def _archive_row(row):
    d = dict(row._mapping)
    d["extra"] = json.loads(d["extra"]) if d.get("extra") else None
    return d


@read_only
def listArchives(buildID=None, buildrootID=None, componentBuildrootID=None, hostID=None,
                 type=None, filename=None, size=None, checksum=None, checksum_type=None,
                 typeInfo=None, queryOpts=None, imageID=None, archiveID=None, strict=False):
    """Archives filtered as Koji's listArchives; ``type='image'`` adds each one's ``arch``."""
    a = s.archiveinfo
    q = _archive_select()
    for value, col in ((buildID, a.c.build_id), (buildrootID, a.c.buildroot_id),
                       (archiveID, a.c.id)):
        if value is not None:
            q = q.where(col == as_int(value, "id"))
    for value, col in ((filename, a.c.filename), (checksum, a.c.checksum),
                       (size, a.c.size), (checksum_type, a.c.checksum_type)):
        if value is not None:
            q = q.where(col == value)
    if componentBuildrootID is not None or hostID is not None or imageID is not None:
        # buildroot and archive components are not recorded for archives (yet)
        rows = []
    else:
        if type is None:
            pass
        elif type == "image":
            q = q.add_columns(s.image_archives.c.arch).join_from(
                a, s.image_archives, s.image_archives.c.archive_id == a.c.id)
            if typeInfo and typeInfo.get("arch"):
                q = q.where(s.image_archives.c.arch == typeInfo["arch"])
        elif type in ("maven", "win"):
            q = q.where(a.c.id == -1)
        else:
            bt = lookup(s.btype, type, "btype")
            if bt is None:
                raise koji.GenericError("unsupported archive type: %s" % type)
            if typeInfo:
                raise koji.GenericError("typeInfo queries not supported for type %s" % type)
            q = q.where(a.c.btype_id == bt["id"])
        rows = [_archive_row(r) for r in context.conn.execute(q)]
    if strict and not rows:
        raise koji.GenericError("No archives found.")
    from .packages import apply_query_opts

    return apply_query_opts(rows, queryOpts)


@read_only
def getArchive(archive_id, strict=False):
    """One archive; image archives carry their ``arch`` too."""
    rows = listArchives(archiveID=as_int(archive_id, "archive_id"))
    if not rows:
        if strict:
            raise koji.GenericError("No such archive: %s" % archive_id)
        return None
    archive = rows[0]
    img = context.conn.execute(select(s.image_archives.c.arch).where(
        s.image_archives.c.archive_id == archive["id"])).first()
    if img is not None:
        archive["arch"] = img.arch
    return archive


@read_only
def getImageArchive(archive_id, strict=False):
    row = context.conn.execute(select(s.image_archives).where(
        s.image_archives.c.archive_id == as_int(archive_id, "archive_id"))).first()
    if row is None and strict:
        raise koji.GenericError("No such image archive: %s" % archive_id)
    return dict(row._mapping) if row is not None else None


@read_only
def listArchiveFiles(archive_id, queryOpts=None, strict=False):
    """Files inside a tar archive (``{archive_id, name, size}``); other types give []."""
    archive = getArchive(archive_id, strict=True)
    build = get_build_row(archive["build_id"], strict=True)
    if archive["btype"] == "image":
        path = safe_join(context.hub.pathinfo.imagebuild(build), archive["filename"])
    else:
        path = context.hub.pathinfo.build_file(build, *[p for p in (
            "files", archive["btype"], archive["filename"]) if p])
    files = []
    if archive["compression_type"] == "tar":
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    files.append({"archive_id": archive["id"], "name": member.name,
                                  "size": member.size, "mtime": int(member.mtime)})
    elif strict:
        raise koji.GenericError("Unsupported archive type: %s" % archive["type_name"])
    from .packages import apply_query_opts

    return apply_query_opts(files, queryOpts)


def _type_row(row):
    return dict(row._mapping) if row is not None else None


@read_only
def getArchiveTypes():
    return [dict(r._mapping) for r in context.conn.execute(
        select(s.archivetypes).order_by(s.archivetypes.c.id))]


@read_only
def getArchiveType(filename=None, type_name=None, type_id=None, strict=False):
    """An archive type by file name (longest extension), name or id."""
    t = s.archivetypes
    if type_id is not None:
        row = _type_row(context.conn.execute(select(t).where(
            t.c.id == as_int(type_id, "type_id"))).first())
    elif type_name is not None:
        row = _type_row(context.conn.execute(select(t).where(t.c.name == type_name)).first())
    elif filename is not None:
        row = None
        for cand in getArchiveTypes():
            for ext in cand["extensions"].split():
                if filename.endswith("." + ext) and (
                        row is None or len(ext) > row["_len"]):
                    row = dict(cand, _len=len(ext))
        if row is not None:
            del row["_len"]
    else:
        raise koji.GenericError("one of filename, type_name, or type_id must be specified")
    if row is None and strict:
        raise koji.GenericError("Invalid archive type: %s" % (filename or type_name or type_id))
    return row


def image_rpm_ids(image_id):
    """Ids of the RPMs recorded as components of archive ``image_id``."""
    return [r[0] for r in context.conn.execute(
        select(s.archive_rpm_components.c.rpm_id).where(
            s.archive_rpm_components.c.archive_id == as_int(image_id, "imageID"))
        .order_by(s.archive_rpm_components.c.rpm_id))]


def _wrap_list_rpms():
    """listRPMs(imageID=...) answers from archive_rpm_components; every other query goes to
    the rpms module's listRPMs, which this wraps (registered after it)."""
    base = rpms.listRPMs

    def listRPMs(buildID=None, buildrootID=None, imageID=None, componentBuildrootID=None,
                 hostID=None, arches=None, queryOpts=None, draft=None):
        if imageID is None:
            return base(buildID=buildID, buildrootID=buildrootID,
                        componentBuildrootID=componentBuildrootID, hostID=hostID,
                        arches=arches, queryOpts=queryOpts, draft=draft)
        from .rpms import rpm_row_to_info, rpm_select

        ids = image_rpm_ids(imageID)
        q = rpm_select().where(s.rpminfo.c.id.in_(ids)).order_by(s.rpminfo.c.id)
        if buildID is not None:
            q = q.where(s.rpminfo.c.build_id == as_int(buildID, "buildID"))
        if arches:
            q = q.where(s.rpminfo.c.arch.in_(arches if isinstance(arches, list) else [arches]))
        rows = [rpm_row_to_info(x) for x in context.conn.execute(q)]
        for r in rows:
            r["component_archive_id"] = as_int(imageID, "imageID")
        from .packages import apply_query_opts

        return apply_query_opts(rows, queryOpts)

    read_only(listRPMs)


_wrap_list_rpms()
