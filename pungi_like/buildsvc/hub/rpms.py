"""RPMs: importRPM (binary and source), getRPM, listRPMs, listBuildRPMs, queryRPMSigs.

Headers are read with the real RPM library (through koji's helpers over the ``rpm`` module). An
import is atomic: the database rows are written first, then the uploaded file is renamed into
``packages/<n>/<v>/<r>/<arch>/`` (same file system, so the file appears whole or not at all),
and the transaction commits.
"""

from __future__ import annotations

import hashlib
import json
import os

import koji
from sqlalchemy import insert, select

from ..db import schema as s
from ..pathinfo import safe_join
from .builds import get_build_row, new_build
from .common import as_int, assert_admin
from .context import context
from .registry import export, read_only

_RPM_KEYS = ("id", "build_id", "buildroot_id", "name", "version", "release", "epoch", "arch",
             "draft", "external_repo_id", "payloadhash", "size", "buildtime", "metadata_only",
             "extra")


def rpm_select():
    r = s.rpminfo
    return (select(*[r.c[k] for k in _RPM_KEYS], s.external_repo.c.name.label("external_repo_name"))
            .select_from(r.join(s.external_repo, s.external_repo.c.id == r.c.external_repo_id)))


def rpm_row_to_info(row):
    d = dict(row._mapping)
    d["extra"] = json.loads(d["extra"]) if d.get("extra") else None
    return d


@read_only
def getRPM(rpminfo, strict=False, multi=False):
    """An RPM by id, N-V-R.A string, or dict with name/version/release/arch (+location)."""
    r = s.rpminfo
    q = rpm_select()
    if isinstance(rpminfo, bool):
        raise koji.ParameterError("Invalid type for rpminfo: %r" % rpminfo)
    if isinstance(rpminfo, int):
        q = q.where(r.c.id == rpminfo)
    elif isinstance(rpminfo, (str, dict)):
        data = koji.parse_NVRA(rpminfo) if isinstance(rpminfo, str) else dict(rpminfo)
        if data.get("id") is not None:
            q = q.where(r.c.id == data["id"])
        else:
            for k in ("name", "version", "release", "arch"):
                if k not in data:
                    raise koji.GenericError("Invalid rpminfo: %r" % (rpminfo,))
                q = q.where(r.c[k] == data[k])
            loc = data.get("location")
            if loc:
                q = q.where(s.external_repo.c.name == loc)
            elif not multi:
                q = q.where(r.c.external_repo_id == 0)
    else:
        raise koji.ParameterError("Invalid type for rpminfo: %s" % type(rpminfo))
    rows = [rpm_row_to_info(x) for x in context.conn.execute(q.order_by(r.c.id))]
    if multi:
        return rows
    if not rows:
        if strict:
            raise koji.GenericError("No such rpm: %r" % (rpminfo,))
        return None
    return rows[0]


@read_only
def listRPMs(buildID=None, buildrootID=None, imageID=None, componentBuildrootID=None,
             hostID=None, arches=None, queryOpts=None, draft=None):
    r = s.rpminfo
    q = rpm_select().order_by(r.c.id)
    if buildID is not None:
        q = q.where(r.c.build_id == as_int(buildID, "buildID"))
    if buildrootID is not None:
        q = q.where(r.c.buildroot_id == as_int(buildrootID, "buildrootID"))
    if hostID is not None:
        q = q.where(r.c.buildroot_id.in_(select(s.buildroot.c.id).where(
            s.buildroot.c.host_id == as_int(hostID, "hostID"))))
    if componentBuildrootID is not None:
        # the RPMs installed in a buildroot, with the listing's is_update (Koji's keys)
        bl = s.buildroot_listing
        q = (q.add_columns(bl.c.is_update)
             .join(bl, bl.c.rpm_id == r.c.id)
             .where(bl.c.buildroot_id == as_int(componentBuildrootID, "componentBuildrootID")))
    if imageID is not None:
        return []
    if arches:
        q = q.where(r.c.arch.in_(arches if isinstance(arches, list) else [arches]))
    if draft is not None:
        q = q.where(r.c.draft.is_(bool(draft)))
    rows = [rpm_row_to_info(x) for x in context.conn.execute(q)]
    for row in rows:    # Koji's listRPMs gives nvr (koji list-buildroot prints it)
        row.setdefault("nvr", "%(name)s-%(version)s-%(release)s" % row)
    from .packages import apply_query_opts

    return apply_query_opts(rows, queryOpts)


@read_only
def listBuildRPMs(build):
    b = get_build_row(build, strict=True)
    return listRPMs(buildID=b["id"])


def read_rpm(path):
    """Header fields of an RPM file: NEVRA, sourcepackage, sourcerpm, buildtime, ident, sigkey."""
    try:
        hdr = koji.get_rpm_header(path)
    except Exception as exc:
        raise koji.GenericError("cannot read RPM header of %s: %s"
                                % (os.path.basename(path), exc)) from None
    data = koji.get_header_fields(hdr, ("name", "version", "release", "epoch", "arch",
                                        "sourcepackage", "sourcerpm", "buildtime"))
    data["payloadhash"] = koji.get_rpm_ident(hdr)
    if data["sourcepackage"]:
        data["arch"] = "src"
    sighdr = koji.rip_rpm_sighdr(path)
    key = koji.get_sighdr_key(sighdr)
    data["sigkey"] = (key or "").lower()[-8:]
    data["sighdr"] = sighdr
    return data


@export
def importRPM(path, basename, sigkey=None):
    """Import an uploaded RPM (admin) from ``work/<path>/<basename>``; returns its rpminfo."""
    assert_admin()
    if not isinstance(path, str) or not isinstance(basename, str) or "/" in basename:
        raise koji.ParameterError("Invalid upload path/name: %r, %r" % (path, basename))
    pi = context.hub.pathinfo
    try:
        src = safe_join(pi.upload_dir(path), basename)
    except ValueError as exc:
        raise koji.GenericError(str(exc)) from None
    if not os.path.isfile(src):
        raise koji.GenericError("No such file: %s/%s" % (path, basename))
    data = read_rpm(src)
    expected = "%(name)s-%(version)s-%(release)s.%(arch)s.rpm" % data
    if basename != expected:
        raise koji.GenericError("bad filename: %s (expected %s)" % (basename, expected))
    if data["arch"] == "src":
        build = get_build_row({"name": data["name"], "version": data["version"],
                               "release": data["release"]})
        if build is None:
            new_build(data["name"], data["version"], data["release"], data["epoch"])
            build = get_build_row({"name": data["name"], "version": data["version"],
                                   "release": data["release"]}, strict=True)
    else:
        srpm = koji.parse_NVRA(data["sourcerpm"])
        build = get_build_row({"name": srpm["name"], "version": srpm["version"],
                               "release": srpm["release"]})
        if build is None:
            raise koji.GenericError("No such build: %(name)s-%(version)s-%(release)s" % srpm)
    if build["state"] != koji.BUILD_STATES["COMPLETE"]:
        raise koji.GenericError("Build is %s: %s" % (koji.BUILD_STATES[build["state"]],
                                                     build["nvr"]))
    if getRPM({k: data[k] for k in ("name", "version", "release", "arch")}):
        raise koji.GenericError("RPM already imported: %s" % basename)
    size = os.path.getsize(src)
    rpm_id = context.conn.execute(insert(s.rpminfo).values(
        build_id=build["id"], name=data["name"], version=data["version"],
        release=data["release"], epoch=data["epoch"], arch=data["arch"], draft=False,
        external_repo_id=0, payloadhash=data["payloadhash"], size=size,
        buildtime=data["buildtime"], metadata_only=False).returning(s.rpminfo.c.id)).scalar_one()
    key = data["sigkey"] if sigkey is None else sigkey
    sighash = hashlib.md5(data["sighdr"]).hexdigest()
    context.conn.execute(insert(s.rpmsigs).values(rpm_id=rpm_id, sigkey=key, sighash=sighash))
    rinfo = getRPM(rpm_id, strict=True)
    builddir = pi.build(build)
    sigpath = os.path.join(builddir, pi.sighdr(rinfo, key))
    os.makedirs(os.path.dirname(sigpath), exist_ok=True)
    with open(sigpath + ".tmp", "wb") as f:
        f.write(data["sighdr"])
    os.replace(sigpath + ".tmp", sigpath)
    dest = os.path.join(builddir, pi.rpm(rinfo))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.exists(dest):
        raise koji.GenericError("Error importing RPM file. %s already exists." % dest)
    os.rename(src, dest)
    return rinfo
