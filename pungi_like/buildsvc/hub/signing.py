"""RPM signatures: addRPMSig (alias addRPMSignature), queryRPMSigs, writeSignedRPM, deleteRPMSig.

A signature is the RPM's *signature header* alone (what ``koji import-sig`` sends, ripped with
``koji.rip_rpm_sighdr`` from a copy signed by rpmsign or a signing server). The hub checks that
the header belongs to the RPM it names (its MD5/digest is the one recorded at import), stores the
key id (last 8 hex digits, lower case) and the header's MD5 in ``rpmsigs`` and the header itself
in ``<build>/data/sigcache/<key>/<arch>/<file>.sig``. ``writeSignedRPM`` splices that header onto
the unsigned RPM and writes ``<build>/data/signed/<key>/<arch>/<file>`` atomically, which is
where Pungi's pkgset (and ours) looks for signed copies.

As in Koji, signatures carry no events (they are not versioned data): a compose pinned to an
event still sees signed copies written later. Adding and writing need the ``sign`` permission
(or admin); deleting needs admin.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import tempfile

import koji
from sqlalchemy import delete, insert, select

from ..db import schema as s
from .builds import get_build_row
from .common import assert_admin, assert_perm
from .context import context
from .packages import apply_query_opts
from .registry import export, read_only
from .rpms import getRPM

log = logging.getLogger(__name__)


def _nvra(rinfo):
    return "%(name)s-%(version)s-%(release)s.%(arch)s" % rinfo


def _internal_rpm(an_rpm):
    rinfo = getRPM(an_rpm, strict=True)
    if rinfo["external_repo_id"]:
        raise koji.GenericError("Not an internal rpm: %s (from %s)"
                                % (an_rpm, rinfo["external_repo_name"]))
    return rinfo, get_build_row(rinfo["build_id"], strict=True)


def _spliced_ident(sighdr, rpm_path):
    """The digest ident of ``rpm_path`` with ``sighdr`` spliced in (rpm reads the result)."""
    if not os.path.isfile(rpm_path):
        raise koji.GenericError("No such path: %s" % rpm_path)
    fd, tmp = tempfile.mkstemp(prefix=".sigcheck-", dir=os.path.dirname(rpm_path))
    os.close(fd)
    try:
        koji.splice_rpm_sighdr(sighdr, rpm_path, dst=tmp)
        return koji.get_rpm_ident(koji.get_rpm_header(tmp))
    except koji.GenericError:
        raise
    except Exception as exc:
        raise koji.GenericError("cannot read %s with the signature header spliced in: %s"
                                % (os.path.basename(rpm_path), exc)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _check_sighdr(sighdr, rinfo, rpm_path):
    """Raise unless ``sighdr`` is a signature header of this very RPM."""
    try:
        raw = koji.RawHeader(sighdr)
    except Exception as exc:
        raise koji.GenericError("Invalid signature header for %s: %s" % (_nvra(rinfo), exc)) \
            from None
    md5 = raw.get(koji.RPM_SIGTAG_MD5)
    if md5 is not None and koji.hex_string(md5) == rinfo["payloadhash"]:
        return
    # Not the plain MD5 form: let rpm read the header with this signature spliced in.
    ident = _spliced_ident(sighdr, rpm_path)
    if ident != rinfo["payloadhash"]:
        raise koji.GenericError("wrong md5 for %s: %s" % (_nvra(rinfo), ident))


def _sig_row(rpm_id, sigkey):
    return context.conn.execute(select(s.rpmsigs.c.sighash).where(
        s.rpmsigs.c.rpm_id == rpm_id, s.rpmsigs.c.sigkey == sigkey)).first()


def _write_atomic(path, chunks):
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fo:
            for chunk in chunks:
                fo.write(chunk)
            fo.flush()
            os.fsync(fo.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@export(aliases=("addRPMSignature",))
def addRPMSig(an_rpm, data, sigkey=None):
    """Store a signature header (base64) for an RPM; ``sigkey`` overrides the header's key id."""
    assert_perm("sign")
    try:
        sighdr = base64.b64decode(data)
    except (TypeError, ValueError) as exc:
        raise koji.GenericError("Invalid signature data: %s" % exc) from None
    rinfo, binfo = _internal_rpm(an_rpm)
    pi = context.hub.pathinfo
    builddir = pi.build(binfo)
    if not os.path.isdir(builddir):
        raise koji.GenericError("No such directory: %s" % builddir)
    _check_sighdr(sighdr, rinfo, os.path.join(builddir, pi.rpm(rinfo)))
    if sigkey:
        key = str(sigkey).lower()
    else:
        # '' stands for "unsigned" in rpmsigs, so uniqueness works as in Koji
        key = (koji.get_sighdr_key(sighdr) or "").lower()
    sighash = hashlib.md5(sighdr).hexdigest()
    if _sig_row(rinfo["id"], key) is not None:
        raise koji.GenericError("Signature already exists for package %s, key %s"
                                % (_nvra(rinfo), key))
    context.conn.execute(insert(s.rpmsigs).values(rpm_id=rinfo["id"], sigkey=key,
                                                  sighash=sighash))
    _write_atomic(os.path.join(builddir, pi.sighdr(rinfo, key)), [sighdr])
    log.info("signature %s added to %s by %s", key, _nvra(rinfo),
             context.user["name"] if context.user else "?")


@read_only
def queryRPMSigs(rpm_id=None, sigkey=None, queryOpts=None):
    """``[{rpm_id, sigkey, sighash}]``; ``rpm_id`` may be an id, N-V-R.A or rpminfo dict."""
    q = select(s.rpmsigs.c.rpm_id, s.rpmsigs.c.sigkey, s.rpmsigs.c.sighash)
    if rpm_id is not None and not isinstance(rpm_id, int):
        rinfo = getRPM(rpm_id)
        if not rinfo:
            return []
        rpm_id = rinfo["id"]
    if rpm_id is not None:
        q = q.where(s.rpmsigs.c.rpm_id == rpm_id)
    if sigkey is not None:
        q = q.where(s.rpmsigs.c.sigkey == str(sigkey).lower())
    rows = [dict(r._mapping) for r in context.conn.execute(
        q.order_by(s.rpmsigs.c.rpm_id, s.rpmsigs.c.sigkey))]
    return apply_query_opts(rows, queryOpts)


@export
def writeSignedRPM(an_rpm, sigkey, force=False):
    """Write ``data/signed/<key>/<arch>/<file>``: the stored signature header on the RPM."""
    assert_perm("sign")
    return write_signed_rpm(an_rpm, sigkey, force)


def write_signed_rpm(an_rpm, sigkey, force=False):
    """writeSignedRPM without the permission check (host.writeSignedRPM checks the host)."""
    if not isinstance(sigkey, str):
        raise koji.ParameterError("Invalid type for sigkey: %s" % type(sigkey))
    sigkey = sigkey.lower()
    rinfo, binfo = _internal_rpm(an_rpm)
    pi = context.hub.pathinfo
    builddir = pi.build(binfo)
    rpm_path = os.path.join(builddir, pi.rpm(rinfo))
    if not os.path.exists(rpm_path):
        raise koji.GenericError("No such path: %s" % rpm_path)
    if not os.path.isfile(rpm_path):
        raise koji.GenericError("Not a regular file: %s" % rpm_path)
    if _sig_row(rinfo["id"], sigkey) is None:
        raise koji.GenericError("No cached signature for package %s, key %s"
                                % (_nvra(rinfo), sigkey))
    signed = os.path.join(builddir, pi.signed(rinfo, sigkey))
    if os.path.exists(signed) and not force:
        return None
    with open(os.path.join(builddir, pi.sighdr(rinfo, sigkey)), "rb") as fo:
        sighdr = fo.read()
    _write_atomic(signed, koji.spliced_sig_reader(rpm_path, sighdr))
    return None


@export
def deleteRPMSig(rpminfo, sigkey=None, all_sigs=False):
    """Delete signatures of an RPM (admin): rows, signed copies; headers kept as ``.save``."""
    assert_admin()
    if all_sigs:
        sigkey = None
    elif not sigkey:
        raise koji.GenericError("No signature specified")
    rinfo, binfo = _internal_rpm(rpminfo)
    found = queryRPMSigs(rpm_id=rinfo["id"], sigkey=sigkey)
    if not found:
        raise koji.GenericError("%s has no matching signatures to delete" % _nvra(rinfo))
    keys = [r["sigkey"] for r in found]
    context.conn.execute(delete(s.rpmsigs).where(s.rpmsigs.c.rpm_id == rinfo["id"],
                                                 s.rpmsigs.c.sigkey.in_(keys)))
    pi = context.hub.pathinfo
    builddir = pi.build(binfo)
    for row in found:
        signed = os.path.join(builddir, pi.signed(rinfo, row["sigkey"]))
        if os.path.exists(signed):
            os.remove(signed)
        hdr = os.path.join(builddir, pi.sighdr(rinfo, row["sigkey"]))
        backup = "%s.%s.save" % (hdr, row["sighash"])
        if os.path.isfile(hdr):
            # the header is kept aside, as Koji does, for the audit trail
            os.replace(hdr, backup)
    log.warning("Deleted signatures %s for rpm %s", keys, rinfo["id"])
