"""What is inside an RPM the hub stores: getRPMHeaders, getRPMDeps, listRPMFiles, getRPMFile,
getChangelogEntries; and renameRPMSig (a signature's key renamed, files moved with it).

Headers are read from the stored file with koji's helpers over the ``rpm`` module, as Koji's
hub does; results keep Koji's keys and its empty answers (``{}``/``[]``) for a missing RPM
unless ``strict``.
"""

from __future__ import annotations

import calendar
import datetime
import logging
import os

import koji
import koji.util
from sqlalchemy import update

from ..db import schema as s
from ..pathinfo import UnsafePathError
from .builds import get_build_row
from .common import as_int, assert_admin, check_type
from .context import context
from .packages import apply_query_opts
from .registry import export, read_only
from .rpms import getRPM, listRPMs
from .signing import _internal_rpm, _nvra, _sig_row

log = logging.getLogger(__name__)

_FILE_FIELDS = ["filenames", "filemd5s", "filesizes", "fileflags", "fileusername",
                "filegroupname", "filemtimes", "filemodes"]


def _rpm_path(rpm_info, build_info=None):
    build_info = build_info or get_build_row(rpm_info["build_id"], strict=True)
    pi = context.hub.pathinfo
    return os.path.join(pi.build(build_info), pi.rpm(rpm_info))


def _internal_path(rpmID, strict, what):
    """(rpm_info, path) of an internal RPM's file, or None when missing and not strict."""
    rpm_info = getRPM(rpmID, strict=strict)
    if not rpm_info:
        return None
    if not rpm_info["build_id"]:
        if strict:
            raise koji.GenericError("Can not get %s, because RPM: %s is not internal"
                                    % (what, rpmID))
        return None
    path = _rpm_path(rpm_info)
    if not os.path.exists(path):
        if strict:
            raise koji.GenericError("RPM file of %s doesn't exist" % (rpmID,))
        return None
    return rpm_info, path


def _fields(path, names):
    try:
        return koji.get_header_fields(path, names)
    except koji.GenericError:
        raise
    except Exception as exc:   # an unreadable file: say which, not a Python fault
        raise koji.GenericError("Cannot read the header of %s: %s"
                                % (os.path.basename(path), exc)) from None


def _task_path(taskID, filepath):
    if not filepath:
        raise koji.GenericError("filepath must be specified with taskID")
    check_type(filepath, str, "filepath")
    if filepath.startswith("/") or "../" in filepath:
        raise koji.GenericError("Invalid filepath: %s" % filepath)
    try:
        return context.hub.pathinfo.task_file(as_int(taskID, "taskID"), filepath)
    except UnsafePathError:
        raise koji.GenericError("Invalid filepath: %s" % filepath) from None


@read_only
def getRPMHeaders(rpmID=None, taskID=None, filepath=None, headers=None, strict=False):
    """Chosen header fields of a stored RPM (by rpmID) or of one in a task's output."""
    if headers is not None and not (isinstance(headers, list)
                                    and all(isinstance(h, str) for h in headers)):
        raise koji.ParameterError("Invalid type for headers: %r" % (headers,))
    if rpmID:
        rpm_info = getRPM(rpmID, strict=strict)
        if not rpm_info:
            return {}
        if rpm_info["external_repo_id"] != 0:
            if strict:
                raise koji.GenericError("External rpm: %(id)s" % rpm_info)
            return {}
        build_info = get_build_row(rpm_info["build_id"], strict=True)
        if build_info["state"] == koji.BUILD_STATES["DELETED"]:
            if strict:
                raise koji.GenericError("Build %(nvr)s is deleted" % build_info)
            return {}
        path = _rpm_path(rpm_info, build_info)
    elif taskID:
        path = _task_path(taskID, filepath)
    else:
        raise koji.GenericError("either rpmID or taskID and filepath must be specified")
    if not os.path.exists(path):
        if strict:
            raise koji.GenericError("Missing rpm file: %s"
                                    % os.path.relpath(path, context.hub.pathinfo.topdir))
        return {}
    return koji.fixEncodingRecurse(_fields(path, headers or []), remove_nonprintable=True)


@read_only
def getRPMDeps(rpmID, depType=None, queryOpts=None, strict=False):
    """Dependencies of an RPM: ``[{name, version, flags, type}]`` (type: koji.DEP_*)."""
    if depType is not None:
        depType = as_int(depType, "depType")
    found = _internal_path(rpmID, strict, "dependencies")
    if not found:
        return apply_query_opts([], queryOpts)
    path = found[1]
    results = []
    for dep in ("REQUIRE", "PROVIDE", "CONFLICT", "OBSOLETE", "SUGGEST", "ENHANCE",
                "SUPPLEMENT", "RECOMMEND"):
        dep_id = getattr(koji, "DEP_" + dep)
        if depType is None or depType == dep_id:
            f = _fields(path, [dep + "NAME", dep + "VERSION", dep + "FLAGS"])
            for name, version, flags in zip(f[dep + "NAME"], f[dep + "VERSION"],
                                            f[dep + "FLAGS"]):
                results.append({"name": name, "version": version, "flags": flags,
                                "type": dep_id})
    return apply_query_opts(results, queryOpts)


def _file_entries(path):
    hdr = koji.get_rpm_header(path)
    f = koji.get_header_fields(hdr, _FILE_FIELDS)
    algo = koji.util.filedigestAlgo(hdr)
    for name, digest, size, flags, user, group, mtime, mode in zip(*[f[k] for k in _FILE_FIELDS]):
        yield {"name": name, "digest": digest, "digest_algo": algo, "md5": digest, "size": size,
               "flags": flags, "user": user, "group": group, "mtime": mtime, "mode": mode}


@read_only
def listRPMFiles(rpmID, queryOpts=None):
    """Files of an RPM with digest, size, flags, owner, mtime and mode."""
    found = _internal_path(rpmID, False, "files")
    if not found:
        return apply_query_opts([], queryOpts)
    return apply_query_opts(list(_file_entries(found[1])), queryOpts)


@read_only
def getRPMFile(rpmID, filename, strict=False):
    """One file of an RPM (``listRPMFiles``' keys plus rpm_id), ``{}`` when absent."""
    check_type(filename, str, "filename")
    found = _internal_path(rpmID, strict, "RPM file")
    if not found:
        return {}
    rpm_info, path = found
    for entry in _file_entries(path):
        if entry["name"] == filename:
            return dict(entry, rpm_id=rpm_info["id"])
    if strict:
        raise koji.GenericError("No file: %s found in RPM: %s" % (filename, rpmID))
    return {}


def _as_ts(value, what):
    if isinstance(value, datetime.datetime):
        return calendar.timegm(value.utctimetuple())
    if isinstance(value, str):
        try:
            return koji.util.parseTime(value)
        except Exception:
            raise koji.GenericError("Invalid time for %s: %s" % (what, value)) from None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise koji.GenericError("Invalid type for %s: %s" % (what, type(value)))


@read_only
def getChangelogEntries(buildID=None, taskID=None, filepath=None, author=None, before=None,
                        after=None, queryOpts=None, strict=False):
    """Changelog of a build's SRPM (or of an SRPM in a task's output), newest first:
    ``[{date, date_ts, author, text}]``."""
    queryOpts = dict(check_type(queryOpts, dict, "queryOpts")) if queryOpts else {}
    if queryOpts.get("order") in ("date", "-date"):
        queryOpts["order"] = queryOpts["order"].replace("date", "date_ts")
    if buildID:
        build_info = get_build_row(buildID)
        if not build_info:
            if strict:
                raise koji.GenericError("No such build: %s" % buildID)
            return apply_query_opts([], queryOpts)
        srpms = listRPMs(buildID=build_info["id"], arches="src")
        if not srpms:
            if strict:
                raise koji.GenericError("Build %s doesn't have srpms" % buildID)
            return apply_query_opts([], queryOpts)
        path = _rpm_path(srpms[0], build_info)
    elif taskID:
        path = _task_path(taskID, filepath)
    else:
        raise koji.GenericError("either buildID or taskID and filepath must be specified")
    if not os.path.exists(path):
        if strict:
            raise koji.GenericError("SRPM %s doesn't exist"
                                    % os.path.relpath(path, context.hub.pathinfo.topdir))
        return apply_query_opts([], queryOpts)
    before = _as_ts(before, "before") if before else None
    after = _as_ts(after, "after") if after else None
    f = _fields(path, ["changelogtime", "changelogname", "changelogtext"])
    results = []
    for cltime, clname, cltext in zip(f["changelogtime"], f["changelogname"],
                                      f["changelogtext"]):
        if author and author != clname:
            continue
        if before and not cltime < before:
            continue
        if after and not cltime > after:
            continue
        date = datetime.datetime.fromtimestamp(cltime, datetime.timezone.utc)
        results.append({"date": date.replace(tzinfo=None).isoformat(" "), "date_ts": cltime,
                        "author": koji.fixEncoding(clname), "text": koji.fixEncoding(cltext)})
    return apply_query_opts(results, queryOpts)


@export
def renameRPMSig(rpminfo, oldkey, newkey):
    """Rename the key of an RPM's signature (admin): the row, its header and signed copy."""
    assert_admin()
    check_type(oldkey, str, "oldkey")
    check_type(newkey, str, "newkey")
    from ..pathinfo import component

    for key in (oldkey, newkey):
        try:
            component(key, "signing key")
        except UnsafePathError as exc:
            raise koji.GenericError(str(exc)) from None
    newkey_l = newkey.lower()
    rinfo, binfo = _internal_rpm(rpminfo)
    if not _sig_row(rinfo["id"], oldkey):
        raise koji.GenericError("%s has no matching signatures to rename" % _nvra(rinfo))
    if _sig_row(rinfo["id"], newkey_l):
        raise koji.GenericError("%s already has a signature with key %s"
                                % (_nvra(rinfo), newkey_l))
    context.conn.execute(update(s.rpmsigs).where(s.rpmsigs.c.rpm_id == rinfo["id"],
                                                 s.rpmsigs.c.sigkey == oldkey)
                         .values(sigkey=newkey_l))
    pi = context.hub.pathinfo
    builddir = pi.build(binfo)
    for relfunc in (pi.sighdr, pi.signed):
        old = os.path.join(builddir, relfunc(rinfo, oldkey))
        new = os.path.join(builddir, relfunc(rinfo, newkey_l))
        if os.path.exists(old):
            os.makedirs(os.path.dirname(new), exist_ok=True)
            os.replace(old, new)
    log.warning("Signature %s of rpm %s renamed to %s", oldkey, rinfo["id"], newkey_l)
