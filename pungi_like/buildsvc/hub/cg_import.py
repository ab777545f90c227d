"""CGImport: one content generator import (metadata version 0), in Koji's order: read and
check the metadata, the generator access, the build (reserved or new), the buildroots and the
outputs (each uploaded file's size and checksum), the ``cg_import`` policy; then write: the
build, its buildroots, its outputs, ``metadata.json``. Every check happens before the first
write; if a write fails, the database rolls back and the files moved so far go back to the
upload directory, so nothing uploaded is lost. See cgen.py for the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

import koji
from sqlalchemy import delete, insert, select, update

from ..db import schema as s
from .builds import get_build_row, new_build
from .cgen import _build_cg_id, _token, build_log_path, file_digest, to_json, work_file
from .common import as_int, get_user_row, lookup
from .context import context
from .uploads import assert_upload_owner

_LEGACY_BTYPES = ("maven", "win", "image")
#: Bounds of one import, so no caller makes the hub do unbounded work (Koji has none; real
#: metadata is a few MiB at most): the metadata file read, the outputs, the components listed
#: (each one a database look-up).
MAX_METADATA_BYTES = 64 * 1024 * 1024
MAX_OUTPUTS = 10000
MAX_COMPONENTS = 200000


def _need(mapping, key, types, where):
    if not isinstance(mapping, dict) or key not in mapping:
        raise koji.GenericError("Invalid metadata: %s has no %r" % (where, key))
    value = mapping[key]
    if not isinstance(value, types) or isinstance(value, bool) and bool not in (
            types if isinstance(types, tuple) else (types,)):
        raise koji.GenericError("Invalid metadata: %s %r has the wrong type" % (where, key))
    return value


class CGImporter:
    def __init__(self, metadata, directory, token=None):
        self.directory = directory
        self.token = token
        self.moved = []          # (upload path, destination) of files moved so far
        self.metadata, self.raw = self._load(metadata)

    # -- reading and checking ----------------------------------------------------------------

    def _load(self, metadata):
        if isinstance(metadata, dict):
            return metadata, json.dumps(metadata, indent=2)
        if metadata is None:
            metadata = "metadata.json"
        if not isinstance(metadata, str):
            raise koji.ParameterError("Invalid type for metadata: %s" % type(metadata).__name__)
        if metadata.endswith(".json"):
            path = work_file(self.directory, "", metadata)
            if not os.path.isfile(path) or os.path.islink(path):
                raise koji.GenericError("No such file: %s" % metadata)
            assert_upload_owner(os.path.dirname(path), "CGImport")
            if os.path.getsize(path) > MAX_METADATA_BYTES:
                raise koji.GenericError("Invalid metadata: %s is larger than %d bytes"
                                        % (metadata, MAX_METADATA_BYTES))
            try:
                with open(path, encoding="utf-8") as fh:
                    metadata = fh.read()
            except UnicodeDecodeError:
                raise koji.GenericError("Invalid metadata: %s is not UTF-8 text"
                                        % metadata) from None
        try:
            parsed = json.loads(metadata)
        except ValueError as exc:
            raise koji.GenericError("Invalid metadata: %s" % exc) from None
        except RecursionError:
            raise koji.GenericError("Invalid metadata: nested too deeply") from None
        if not isinstance(parsed, dict):
            raise koji.GenericError("Invalid metadata: a JSON object expected")
        return parsed, metadata

    def run(self):
        md = self.metadata
        version = md.get("metadata_version")
        if version != 0 or isinstance(version, bool):
            raise koji.GenericError("No such metadata version: %r" % (version,))
        _need(md, "build", dict, "metadata")
        _need(md, "buildroots", list, "metadata")
        _need(md, "output", list, "metadata")
        if len(md["output"]) > MAX_OUTPUTS:
            raise koji.GenericError("Invalid metadata: %d outputs, more than this hub's limit "
                                    "of %d" % (len(md["output"]), MAX_OUTPUTS))
        ncomps = sum(len(x["components"]) for x in md["buildroots"] + md["output"]
                     if isinstance(x, dict) and isinstance(x.get("components"), list))
        if ncomps > MAX_COMPONENTS:
            raise koji.GenericError("Invalid metadata: %d components, more than this hub's "
                                    "limit of %d" % (ncomps, MAX_COMPONENTS))
        self.cg = self._assert_cg_access()
        self._prep_build()
        self._prep_buildroots()
        self._prep_outputs()
        self._assert_policy()
        self.builddir_existed = os.path.lexists(context.hub.pathinfo.build(self._path_build()))
        if self.builddir_existed:
            raise koji.GenericError("Destination directory already exists for build %s-%s-%s"
                                    % (self.binfo["name"], self.binfo["version"],
                                       self.binfo["release"]))
        try:
            build = self._write_build()
            brmap = self._write_buildroots()
            self._write_outputs(build, brmap)
            path = context.hub.pathinfo.build_file(build, "metadata.json")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(self.raw)
        except BaseException:
            self._undo()
            raise
        return get_build_row(build["id"], strict=True)

    def _undo(self):
        for src, dest in reversed(self.moved):
            try:
                if os.path.islink(src):
                    os.unlink(src)
                os.rename(dest, src)
            except OSError:
                pass
        path = context.hub.pathinfo.build(self._path_build())
        if not self.builddir_existed and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)

    def _assert_cg_access(self):
        from .cgen import _cg_row, assert_cg

        cg_id = None
        for i, br in enumerate(self.metadata["buildroots"]):
            cginfo = _need(br, "content_generator", dict, "buildroot %d" % i)
            row = _cg_row(_need(cginfo, "name", str, "content_generator"))
            if cg_id is not None and cg_id != row["id"]:
                raise koji.GenericError("Koji now support only one content-generator per import")
            cg_id = row["id"]
        if cg_id is None:
            raise koji.GenericError("Invalid metadata: no buildroots")
        return assert_cg(cg_id)

    def _prep_build(self):
        b = self.metadata["build"]
        for key in ("name", "version", "release"):
            _need(b, key, str, "build")
        for key in ("start_time", "end_time"):
            _need(b, key, (int, float), "build")
        if b.get("draft"):
            raise koji.GenericError("Draft builds are not supported by content generator "
                                    "imports on this hub")
        self.reserved = None
        if b.get("build_id"):
            build_id = as_int(b["build_id"], "build_id")
            old = get_build_row(build_id, strict=True)
            if _token(build_id) is None or _token(build_id) != self.token:
                raise koji.GenericError("Token doesn't match build ID %s" % build_id)
            if _build_cg_id(build_id) != self.cg["id"]:
                raise koji.GenericError("Build ID %s is not reserved by this CG" % build_id)
            if old["state"] != koji.BUILD_STATES["BUILDING"]:
                raise koji.GenericError("Build ID %s is not in BUILDING state" % build_id)
            if (old["name"], old["version"], old["release"]) != (b["name"], b["version"],
                                                                 b["release"]):
                raise koji.GenericError("Build (%i) NVR is different" % build_id)
            if "epoch" in b and old["epoch"] != b["epoch"]:
                raise koji.GenericError("Build (%i) epoch is different" % build_id)
            self.reserved = old
        elif self.token is not None:
            raise koji.GenericError("Reservation token given, but no build_id in metadata")
        else:
            old = get_build_row({k: b[k] for k in ("name", "version", "release")})
            if old and koji.BUILD_STATES[old["state"]] not in ("CANCELED", "FAILED"):
                raise koji.GenericError("Build already exists: %(nvr)s (id=%(id)s)" % old)
        koji.check_NVR(b, strict=True)
        owner = b.get("owner")
        owner_id = context.user["id"]
        if owner:
            if not isinstance(owner, str):
                raise koji.GenericError("Invalid owner format (expected username): %s" % owner)
            owner_id = get_user_row(owner, strict=True)["id"]
        extra = b.get("extra") or {}
        if not isinstance(extra, dict):
            raise koji.GenericError("Invalid metadata: build extra must be a map")
        typeinfo = extra.setdefault("typeinfo", {})
        if not isinstance(typeinfo, dict):
            raise koji.GenericError("Invalid metadata: build typeinfo must be a map")
        for btype in _LEGACY_BTYPES:
            if btype in extra:
                if btype in typeinfo:
                    raise koji.GenericError("Duplicate typeinfo for %r" % btype)
                typeinfo[btype] = extra[btype]
        for btype in typeinfo:
            if btype == "maven":
                raise koji.GenericError("Maven support not enabled")
            if btype == "win":
                raise koji.GenericError("Windows support not enabled")
            if lookup(s.btype, btype, "btype") is None:
                raise koji.GenericError("No such entry in table btype: %s" % btype)
        epoch = b.get("epoch")
        if epoch is not None:
            epoch = as_int(epoch, "epoch")
        source = b.get("source")
        if source is not None and not isinstance(source, str):
            raise koji.GenericError("Invalid metadata: build source must be a string")
        self.typeinfo = typeinfo
        self.binfo = {"name": b["name"], "version": b["version"], "release": b["release"],
                      "epoch": epoch, "source": source, "extra": extra, "owner": owner_id,
                      "start_ts": float(b["start_time"]), "completion_ts": float(b["end_time"])}

    def _path_build(self):
        return {"name": self.binfo["name"], "version": self.binfo["version"],
                "release": self.binfo["release"], "volume_name": "DEFAULT"}

    def _prep_buildroots(self):
        used = set()
        for i, out in enumerate(self.metadata["output"]):
            used.add(_need(out, "buildroot_id", (int, str), "output %d" % i))
        self.brs = {}
        for i, br in enumerate(self.metadata["buildroots"]):
            where = "buildroot %d" % i
            fake = _need(br, "id", (int, str), where)
            if fake not in used:
                raise koji.GenericError("Buildroot id not used in output: %r" % (fake,))
            if fake in self.brs:
                raise koji.GenericError("Duplicate buildroot id in metadata: %r" % (fake,))
            cgv = _need(br["content_generator"], "version", str, "content_generator")
            cont = _need(br, "container", dict, where)
            host = _need(br, "host", dict, where)
            comps = _need(br, "components", list, where)
            _need(br, "tools", list, where)
            rpm_ids = []
            for comp in comps:
                ctype = _need(comp, "type", str, "component")
                if ctype == "rpm":
                    rid = self._match_rpm(comp)
                    if rid:
                        rpm_ids.append(rid)
                elif ctype not in ("file", "kojifile"):
                    raise koji.GenericError("No such component type: %s" % ctype)
            self.brs[fake] = {
                "cg_version": cgv, "container_type": _need(cont, "type", str, "container"),
                "container_arch": _need(cont, "arch", str, "container"),
                "host_os": _need(host, "os", str, "host"),
                "host_arch": _need(host, "arch", str, "host"),
                "extra": br.get("extra"), "rpm_ids": sorted(set(rpm_ids))}

    def _match_rpm(self, comp):
        """The id of a known RPM the component names (unknown ones are skipped, as Koji)."""
        if "location" in comp:
            raise koji.GenericError("External rpms not allowed")
        if "id" in comp:
            raise koji.GenericError("Unexpected 'id' field in component")
        key = {}
        for k in ("name", "version", "release", "arch"):
            key[k] = _need(comp, k, str, "rpm component")
        r = s.rpminfo
        row = context.conn.execute(select(r.c.id).where(
            *[r.c[k] == v for k, v in key.items()], r.c.external_repo_id == 0)).first()
        return row[0] if row else None

    def _prep_outputs(self):
        self.outputs = []
        for i, out in enumerate(self.metadata["output"]):
            where = "output %d" % i
            fname = _need(out, "filename", str, where)
            size = _need(out, "filesize", int, where)
            ctype = _need(out, "checksum_type", str, where)
            checksum = _need(out, "checksum", str, where)
            otype = _need(out, "type", str, where)
            if out.get("metadata_only"):
                raise koji.GenericError("Metadata-only outputs are not supported by this hub")
            path = work_file(self.directory, out.get("relpath", ""), fname)
            if not os.path.isfile(path) or os.path.islink(path):
                raise koji.GenericError("No such file: %s" % fname)
            # only the importer's own uploads move into the build (not another user's
            # upload directory nor a task's output)
            assert_upload_owner(os.path.dirname(path), "CGImport")
            actual = os.path.getsize(path)
            if actual != size:
                raise koji.GenericError("File size %s for %s (expected %s) doesn't match. "
                                        "Corrupted upload?" % (actual, fname, size))
            digest = file_digest(path, ctype)
            if digest != checksum:
                raise koji.GenericError("File checksum mismatch for %s: %s != %s"
                                        % (fname, checksum, digest))
            if out["buildroot_id"] not in self.brs:
                raise koji.GenericError("Missing buildroot metadata for id %r"
                                        % (out["buildroot_id"],))
            entry = {"path": path, "filename": fname, "size": size, "checksum": checksum,
                     "checksum_type": ctype, "type": otype, "br": out["buildroot_id"],
                     "subdir": out.get("subdir"), "arch": out.get("arch"),
                     "extra": out.get("extra") or {}}
            if otype == "rpm":
                if out.get("subdir"):
                    raise koji.GenericError("subdir field not allowed for rpm outputs")
                koji.check_NVRA(fname, strict=True)
            elif otype != "log":
                self._prep_archive(entry, out)
            self.outputs.append(entry)

    def _prep_archive(self, entry, out):
        extra = entry["extra"]
        if not isinstance(extra, dict):
            raise koji.GenericError("Invalid metadata: output extra must be a map")
        btype, type_info = None, None
        for key in extra:
            if key in _LEGACY_BTYPES:
                if btype is not None:
                    raise koji.GenericError("Output file has multiple types: %s"
                                            % entry["filename"])
                btype, type_info = key, extra[key]
        for key, value in (extra.get("typeinfo") or {}).items():
            if btype == key:
                raise koji.GenericError("Duplicate typeinfo for: %r" % btype)
            if btype is not None:
                raise koji.GenericError("Output file has multiple types: %s"
                                        % entry["filename"])
            btype, type_info = key, value
        if btype is None:
            raise koji.GenericError("No typeinfo for: %s" % entry["filename"])
        if btype not in self.typeinfo:
            raise koji.GenericError("Output type %s not listed in build types" % btype)
        from .images import archive_type_for

        atype = archive_type_for(entry["filename"], strict=False)
        if atype is None:
            raise koji.GenericError("Unsupported file type: %s" % entry["filename"])
        if btype == "image":
            arch = (type_info or {}).get("arch") if isinstance(type_info, dict) else None
            arch = arch or entry["arch"]
            if not isinstance(arch, str) or not arch:
                raise koji.GenericError("No arch for image output: %s" % entry["filename"])
            entry["image_arch"] = arch
        entry["btype"], entry["type_info"], entry["atype"] = btype, type_info, atype
        entry["rpm_ids"] = []
        for comp in out.get("components") or ():
            if _need(comp, "type", str, "component") == "rpm":
                rid = self._match_rpm(comp)
                if rid:
                    entry["rpm_ids"].append(rid)

    def _assert_policy(self):
        from .policy import assert_policy

        btypes = set(self.typeinfo)
        if any(o["type"] == "rpm" for o in self.outputs):
            btypes.add("rpm")
        assert_policy("cg_import", {
            "package": self.binfo["name"], "version": self.binfo["version"],
            "release": self.binfo["release"], "btypes": sorted(btypes),
            "source": self.binfo["source"], "draft": False, "metadata_only": False,
            "cg_list": [self.cg["id"]]})

    # -- writing -------------------------------------------------------------------------------

    def _write_build(self):
        b = self.binfo
        states = koji.BUILD_STATES
        if self.reserved:
            build_id = self.reserved["id"]
            context.conn.execute(delete(s.build_reservations).where(
                s.build_reservations.c.build_id == build_id))
        else:
            old = get_build_row({k: b[k] for k in ("name", "version", "release")})
            if old:    # a FAILED or CANCELED build of the NVR is reused (Koji's recycle_build)
                build_id = old["id"]
            else:
                build_id = new_build(b["name"], b["version"], b["release"], b["epoch"],
                                     state=states["BUILDING"], owner=b["owner"])
        context.conn.execute(update(s.build).where(s.build.c.id == build_id).values(
            state=states["COMPLETE"], owner=b["owner"], source=b["source"],
            extra=to_json(b["extra"]), cg_id=self.cg["id"], epoch=b["epoch"],
            start_ts=b["start_ts"], completion_ts=b["completion_ts"] or time.time()))
        from .images import mark_build_type

        for btype in sorted(self.typeinfo):
            mark_build_type(build_id, btype)
            if btype == "image" and not context.conn.execute(select(
                    s.image_builds.c.build_id).where(
                    s.image_builds.c.build_id == build_id)).first():
                context.conn.execute(insert(s.image_builds).values(build_id=build_id))
        if any(o["type"] == "rpm" for o in self.outputs):
            mark_build_type(build_id, "rpm")
        return get_build_row(build_id, strict=True)

    def _write_buildroots(self):
        brmap = {}
        for fake, br in self.brs.items():
            br_id = context.conn.execute(insert(s.buildroot).values(
                br_type=koji.BR_TYPES["EXTERNAL"], cg_id=self.cg["id"],
                cg_version=br["cg_version"], container_type=br["container_type"],
                container_arch=br["container_arch"], host_os=br["host_os"],
                host_arch=br["host_arch"], extra=to_json(br["extra"]))
                .returning(s.buildroot.c.id)).scalar_one()
            for rid in br["rpm_ids"]:
                context.conn.execute(insert(s.buildroot_listing).values(
                    buildroot_id=br_id, rpm_id=rid, is_update=False))
            brmap[fake] = br_id
        return brmap

    def _move(self, src, dest):
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.lexists(dest):
            raise koji.GenericError("Destination already exists: %s" % os.path.basename(dest))
        os.rename(src, dest)
        self.moved.append((src, dest))
        os.symlink(dest, src)

    def _write_outputs(self, build, brmap):
        for out in self.outputs:
            br_id = brmap[out["br"]]
            if out["type"] == "rpm":
                self._import_rpm(build, out, br_id)
            elif out["type"] == "log":
                self._move(out["path"], build_log_path(build, out["subdir"], out["filename"]))
            else:
                self._import_archive(build, out, br_id)

    def _import_rpm(self, build, out, br_id):
        from .rpms import getRPM, read_rpm

        data = read_rpm(out["path"])
        expected = "%(name)s-%(version)s-%(release)s.%(arch)s.rpm" % data
        if out["filename"] != expected:
            raise koji.GenericError("bad filename: %s (expected %s)" % (out["filename"],
                                                                          expected))
        srpm = data if data["arch"] == "src" else koji.parse_NVRA(data["sourcerpm"])
        if (srpm["name"], srpm["version"], srpm["release"]) != (
                build["name"], build["version"], build["release"]):
            raise koji.GenericError("%s does not belong to build %s"
                                    % (out["filename"], build["nvr"]))
        if getRPM({k: data[k] for k in ("name", "version", "release", "arch")}):
            raise koji.GenericError("RPM already exists: %s" % out["filename"])
        rpm_id = context.conn.execute(insert(s.rpminfo).values(
            build_id=build["id"], buildroot_id=br_id, name=data["name"],
            version=data["version"], release=data["release"], epoch=data["epoch"],
            arch=data["arch"], draft=False, external_repo_id=0,
            payloadhash=data["payloadhash"], size=out["size"], buildtime=data["buildtime"],
            metadata_only=False, extra=None).returning(s.rpminfo.c.id)).scalar_one()
        context.conn.execute(insert(s.rpmsigs).values(
            rpm_id=rpm_id, sigkey=data["sigkey"],
            sighash=hashlib.md5(data["sighdr"]).hexdigest()))
        pi = context.hub.pathinfo
        rinfo = getRPM(rpm_id, strict=True)
        sigpath = os.path.join(pi.build(build), pi.sighdr(rinfo, data["sigkey"]))
        os.makedirs(os.path.dirname(sigpath), exist_ok=True)
        with open(sigpath, "wb") as fh:
            fh.write(data["sighdr"])
        self._move(out["path"], os.path.join(pi.build(build), pi.rpm(rinfo)))

    def _import_archive(self, build, out, br_id):
        btype_id = lookup(s.btype, out["btype"], "btype", strict=True)["id"]
        extra = dict(out["extra"])
        archive_id = context.conn.execute(insert(s.archiveinfo).values(
            type_id=out["atype"]["id"], btype_id=btype_id, build_id=build["id"],
            buildroot_id=br_id, filename=out["filename"], size=out["size"],
            checksum=out["checksum"], checksum_type=koji.CHECKSUM_TYPES[out["checksum_type"]],
            metadata_only=False, extra=to_json(extra)).returning(s.archiveinfo.c.id)) \
            .scalar_one()
        pi = context.hub.pathinfo
        if out["btype"] == "image":
            context.conn.execute(insert(s.image_archives).values(archive_id=archive_id,
                                                                  arch=out["image_arch"]))
            dest = os.path.join(pi.imagebuild(build), out["filename"])
        else:
            dest = pi.build_file(build, "files", out["btype"], out["filename"])
        for rid in sorted(set(out["rpm_ids"])):
            context.conn.execute(insert(s.archive_rpm_components).values(archive_id=archive_id,
                                                                          rpm_id=rid))
        self._move(out["path"], dest)
