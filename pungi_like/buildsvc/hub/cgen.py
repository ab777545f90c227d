"""Content generators, as Koji's: who may import as which generator (grantCGAccess,
revokeCGAccess, listCGs), build reservations (CGInitBuild, CGRefundBuild) and the import of a
build made elsewhere from its metadata (CGImport, metadata version 0).

An import names its build, the buildroots the outputs were made in, and the outputs, which the
client uploaded first under ``work/<directory>/`` (``koji import-cg``). Each output's size and
checksum are checked before anything is written; RPMs are imported into the build (and must
belong to it), logs go to ``data/logs/[subdir]``, other files become archives of the build
type their ``extra.typeinfo`` names (e.g. ``image``, with the image's ``arch``). Buildroots
become external buildroots (``br_type`` EXTERNAL) with their content generator and version,
host and container; their RPM components known to the hub are listed with them. The metadata
is kept as ``metadata.json`` in the build directory. The ``cg_import`` policy decides (Koji's
default allows). Tables: ``content_generator``, ``cg_users``, ``build_reservations``,
``build.cg_id``, ``buildroot.cg_id``/``cg_version`` (schema version 5).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time

import koji
from sqlalchemy import delete, insert, select, update

from ..db import schema as s
from ..pathinfo import component, safe_join
from .builds import get_build_row, new_build
from .common import (
    as_int, assert_admin, check_type, get_user_row, insert_versioned, lock_rows, lookup, revoke,
)
from .context import context
from .names import verify_filename
from .registry import export, read_only

_HASHES = {"md5": hashlib.md5, "sha1": hashlib.sha1, "sha256": hashlib.sha256}


def _cg_row(cg, strict=True, create=False):
    if isinstance(cg, bool) or not isinstance(cg, (int, str)):
        raise koji.ParameterError("Invalid type for content generator: %s" % type(cg).__name__)
    row = lookup(s.content_generator, cg, "content_generator", create=create)
    if row is None and strict:
        raise koji.GenericError("No such entry in table content_generator: %s" % (cg,))
    return row


def assert_cg(cg, user_id=None):
    """Fault unless the user (default: the caller) may import as content generator ``cg``."""
    row = _cg_row(cg)
    if user_id is None:
        if not context.user:
            raise koji.AuthError("Not logged-in")
        user_id = context.user["id"]
    cu = s.cg_users
    if not context.conn.execute(select(cu.c.cg_id).where(
            cu.c.cg_id == row["id"], cu.c.user_id == user_id, cu.c.active.is_(True))).first():
        raise koji.AuthError("Content generator access required (%s)" % row["name"])
    return row


@read_only
def listCGs():
    """``{name: {id, users: [user names]}}`` of the generators anyone may import as."""
    cu, cg, u = s.cg_users, s.content_generator, s.users
    q = (select(cg.c.id, cg.c.name, u.c.name.label("user_name"))
         .select_from(cu.join(cg, cg.c.id == cu.c.cg_id).join(u, u.c.id == cu.c.user_id))
         .where(cu.c.active.is_(True)).order_by(cg.c.id, u.c.id))
    out = {}
    for r in context.conn.execute(q):
        out.setdefault(r.name, {"id": r.id, "users": []})["users"].append(r.user_name)
    return out


@export
def grantCGAccess(user, cg, create=False):
    """Let ``user`` import as content generator ``cg`` (admin; ``create`` makes the cg)."""
    assert_admin()
    uinfo = get_user_row(user, strict=True)
    row = _cg_row(cg, create=bool(create) and isinstance(cg, str))
    lock_rows(s.content_generator, row["id"])
    cu = s.cg_users
    if context.conn.execute(select(cu.c.cg_id).where(
            cu.c.cg_id == row["id"], cu.c.user_id == uinfo["id"],
            cu.c.active.is_(True))).first():
        raise koji.GenericError("User already has access to content generator %s" % row["name"])
    insert_versioned(cu, cg_id=row["id"], user_id=uinfo["id"])


@export
def revokeCGAccess(user, cg):
    """End ``user``'s access to content generator ``cg`` (admin)."""
    assert_admin()
    uinfo = get_user_row(user, strict=True)
    row = _cg_row(cg)
    revoke(s.cg_users, s.cg_users.c.cg_id == row["id"], s.cg_users.c.user_id == uinfo["id"])


def _token(build_id):
    row = context.conn.execute(select(s.build_reservations.c.token).where(
        s.build_reservations.c.build_id == build_id)).first()
    return row[0] if row else None


@export
def CGInitBuild(cg, data):
    """Reserve a BUILDING build for a later CGImport; returns ``{build_id, token}``."""
    cgrow = assert_cg(cg)
    check_type(data, dict, "data")
    if data.get("draft"):
        raise koji.GenericError("Draft builds are not supported by content generator imports "
                                "on this hub")
    for key in ("name", "version", "release"):
        if not isinstance(data.get(key), str):
            raise koji.GenericError("Invalid build data: %s missing or not a string" % key)
    koji.check_NVR(data, strict=True)
    old = get_build_row({k: data[k] for k in ("name", "version", "release")})
    states = koji.BUILD_STATES
    if old is None:
        build_id = new_build(data["name"], data["version"], data["release"], data.get("epoch"),
                             state=states["BUILDING"], owner=context.user["id"])
    elif old["state"] in (states["FAILED"], states["CANCELED"]):
        # a failed or canceled NVR may be built again (Koji's recycle_build)
        build_id = old["id"]
        context.conn.execute(update(s.build).where(s.build.c.id == build_id).values(
            state=states["BUILDING"], owner=context.user["id"], task_id=None,
            start_ts=time.time(), completion_ts=None))
    else:
        raise koji.GenericError("Build already exists (id=%d, state=%s): %s"
                                % (old["id"], states[old["state"]], old["nvr"]))
    context.conn.execute(update(s.build).where(s.build.c.id == build_id)
                         .values(cg_id=cgrow["id"]))
    if _token(build_id):
        raise koji.GenericError("Build is already reserved")
    token = secrets.token_hex(32)
    context.conn.execute(insert(s.build_reservations).values(build_id=build_id, token=token,
                                                             created=time.time()))
    return {"build_id": build_id, "token": token}


def _build_cg_id(build_id):
    return context.conn.execute(select(s.build.c.cg_id).where(s.build.c.id == build_id)) \
        .scalar_one()


@export
def CGRefundBuild(cg, build_id, token, state=koji.BUILD_STATES["FAILED"]):
    """Give back a reserved build: it becomes FAILED or CANCELED and its NVR free again."""
    if state not in (koji.BUILD_STATES["FAILED"], koji.BUILD_STATES["CANCELED"]):
        raise koji.GenericError("Only FAILED/CANCELED build states are allowed")
    cgrow = assert_cg(cg)
    build = get_build_row(as_int(build_id, "build_id"), strict=True)
    if build["state"] != koji.BUILD_STATES["BUILDING"]:
        raise koji.GenericError("Build ID %s is not in BUILDING state" % build_id)
    if _token(build["id"]) != token or token is None:
        raise koji.GenericError("Token doesn't match build ID %s" % build_id)
    if _build_cg_id(build["id"]) != cgrow["id"]:
        raise koji.GenericError("Build ID %s is not reserved by this CG" % build_id)
    context.conn.execute(update(s.build).where(s.build.c.id == build["id"]).values(
        state=state, completion_ts=time.time()))
    context.conn.execute(delete(s.build_reservations).where(
        s.build_reservations.c.build_id == build["id"]))


@export
def CGImport(metadata, directory, token=None):
    """Import a build from a content generator's metadata (a dict, JSON text, or the name of
    an uploaded ``.json`` file in ``directory``); the outputs were uploaded to ``directory``
    (below ``work/``). Returns the build dict, as Koji's (with ``build_id``)."""
    from .cg_import import CGImporter

    return CGImporter(metadata, directory, token).run()


# ---------------------------------------------------------------------------------------------
# shared with cg_import.py


def file_digest(path, checksum_type):
    algo = _HASHES.get(checksum_type)
    if algo is None:
        raise koji.GenericError("Unsupported checksum type: %s" % (checksum_type,))
    h = algo()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def work_file(directory, relpath, filename):
    """The uploaded file ``work/<directory>/<relpath>/<filename>`` (names checked)."""
    pi = context.hub.pathinfo
    try:
        base = pi.upload_dir(check_type(directory, str, "directory"))
        parts = [p for p in (relpath or "").split("/") if p]
        return safe_join(base, *[component(p, "relpath") for p in parts],
                         verify_filename(filename, "output file name"))
    except ValueError as exc:
        raise koji.GenericError(str(exc)) from None


def build_log_path(build, subdir, filename):
    parts = [component(p, "log subdir") for p in (subdir or "").split("/") if p]
    return context.hub.pathinfo.build_file(build, "data", "logs", *parts,
                                           verify_filename(filename, "log file name"))


def to_json(value):
    return json.dumps(value) if value else None


def move_into(src, dest):
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.lexists(dest):
        raise koji.GenericError("Destination already exists: %s" % os.path.basename(dest))
    os.rename(src, dest)
    os.symlink(dest, src)


# ---------------------------------------------------------------------------------------------
# archives imported by hand (koji import-archive --type image)


@export
def createImageBuild(build_info):
    """Make a build an image build (``image-import``); a missing build given as a dict
    ``{name, version, release[, epoch]}`` is created."""
    from .common import assert_perm
    from .images import mark_build_type

    assert_perm("image-import")
    build = get_build_row(build_info) if not isinstance(build_info, (list, float)) else None
    if build is None:
        if not isinstance(build_info, dict):
            raise koji.GenericError("Invalid type for build_info: %s" % type(build_info))
        if build_info.get("draft"):
            raise koji.GenericError("Draft builds are not supported here")
        for key in ("name", "version", "release"):
            if not isinstance(build_info.get(key), str):
                raise koji.GenericError("Build info must contain name, version and release")
        new_build(build_info["name"], build_info["version"], build_info["release"],
                  build_info.get("epoch"))
        build = get_build_row({k: build_info[k] for k in ("name", "version", "release")},
                              strict=True)
    if context.conn.execute(select(s.image_builds.c.build_id).where(
            s.image_builds.c.build_id == build["id"])).first():
        raise koji.GenericError("Build %s already exists and is an image build" % build["nvr"])
    context.conn.execute(insert(s.image_builds).values(build_id=build["id"]))
    mark_build_type(build["id"], "image")


@export
def importArchive(filepath, buildinfo, type, typeInfo):
    """Import an uploaded file (``filepath`` below ``work/``) as an archive of a build.
    Only ``image`` archives here (``image-import``; typeInfo ``{'arch': ARCH}``); Maven and
    Windows are disabled on this hub."""
    from .common import assert_perm
    from .images import archive_type_for

    if type == "maven":
        raise koji.GenericError("Maven support not enabled")
    if type == "win":
        raise koji.GenericError("Windows support not enabled")
    if type != "image":
        raise koji.GenericError("unsupported archive type: %s" % (type,))
    assert_perm("image-import")
    build = get_build_row(buildinfo, strict=True)
    if build["draft"]:
        raise koji.GenericError("Cannot import archives into a draft build")
    if not context.conn.execute(select(s.image_builds.c.build_id).where(
            s.image_builds.c.build_id == build["id"])).first():
        raise koji.ImportError("Build does not have type image")
    check_type(typeInfo, dict, "typeInfo")
    arch = typeInfo.get("arch")
    if not isinstance(arch, str) or not arch:
        raise koji.GenericError("typeInfo must give the image's arch")
    check_type(filepath, str, "filepath")
    directory, _sep, filename = filepath.rpartition("/")
    src = work_file(directory, "", filename)
    if not os.path.isfile(src) or os.path.islink(src):
        raise koji.GenericError("No such file: %s" % filename)
    from .uploads import assert_upload_owner

    assert_upload_owner(os.path.dirname(src), "importArchive")
    atype = archive_type_for(filename, strict=False)
    if atype is None:
        raise koji.GenericError("Unsupported file type: %s" % filename)
    btype_id = lookup(s.btype, "image", "btype", strict=True)["id"]
    archive_id = context.conn.execute(insert(s.archiveinfo).values(
        type_id=atype["id"], btype_id=btype_id, build_id=build["id"], buildroot_id=None,
        filename=filename, size=os.path.getsize(src), checksum=file_digest(src, "sha256"),
        checksum_type=koji.CHECKSUM_TYPES["sha256"], metadata_only=False,
        extra=json.dumps({"image": {"arch": arch}})).returning(s.archiveinfo.c.id)).scalar_one()
    context.conn.execute(insert(s.image_archives).values(archive_id=archive_id, arch=arch))
    move_into(src, os.path.join(context.hub.pathinfo.imagebuild(build), filename))
    from .images import getArchive

    return getArchive(archive_id)
