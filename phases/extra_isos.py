"""extra_isos: extra ISOs carrying the packages of several variants (Pungi's extra_isos).

Each block of ``extra_isos`` (``{variant_regex: [block, ...]}``, plain variants only) makes one
ISO per arch of the variant (``arches`` narrows them, ``src`` is added unless ``skip_src``) in
the variant's ``iso/`` directory. On the ISO every variant of ``[variant] + include_variants``
has its own directory ``<UID>/`` with its ``Packages/`` and ``repodata/`` (and its extra files
with ``inherit_extra_files``); at the top are the block's own ``extra_files`` (with an
``extra_files.json``), a ``.treeinfo`` (the variant's, listing every included variant), a
``.discinfo`` and ``media.repo``; a bootable binary ISO also carries the installer of the
variant's buildinstall. ``filename`` and ``volid`` are formats with the compose keys plus
``variant``, ``arch`` (``src`` for source ISOs), ``disc_type``, ``disc_num``, ``suffix``,
``filename`` (the normal DVD name) and, for ``volid``, ``volid`` (the normal volume id). The
ISO is recorded in images.json as a ``dvd`` (unified, with ``additional_variants``). Arches in
``failable_arches`` may fail without dooming the compose (deliverable ``extra_iso``); an ISO
over ``max_size`` is a warning, an error where ``createiso_max_size_is_strict`` says so.
"""

import io
import os
import shutil

import productmd.treeinfo

from phases.base import PhaseBase
from phases.createiso import is_bootable, record_image
from phases.extra_files import (EXTRA_FILE_SCHEMA, add_files, new_extra_files,
                                resolve_rpm_sources, tree_metadata_text)
from pungi_like import metadata, scm
from pungi_like.config.options import Option, str_or_list, variant_mapping
from pungi_like.errors import PhaseError
from pungi_like.fileutil import write_atomic
from pungi_like.lazyimport import lazy_module
from pungi_like.media import naming
from pungi_like.paths import arch_dirname

isomod = lazy_module("pungi_like.media.iso", globals(), "isomod")

STRINGS = {"type": "array", "items": {"type": "string"}}

EXTRA_ISO_SCHEMA = {
    "type": "object",
    "properties": {
        "include_variants": str_or_list(),
        "extra_files": {"anyOf": [EXTRA_FILE_SCHEMA,
                                  {"type": "array", "items": EXTRA_FILE_SCHEMA}]},
        "filename": {"type": "string"},
        "volid": str_or_list(),
        "arches": STRINGS,
        "failable_arches": STRINGS,
        "skip_src": {"type": "boolean"},
        "inherit_extra_files": {"type": "boolean"},
        "max_size": {"type": "number", "minimum": 0},
    },
    "required": ["include_variants"],
    "additionalProperties": False,
}

OPTIONS = [
    Option("extra_isos", variant_mapping({"type": "array", "items": EXTRA_ISO_SCHEMA}),
           default={}, mapping="variant",
           help="Extra ISOs per variant: `{variant_regex: [block, ...]}`; a block has "
                "`include_variants` (required), `extra_files` (scm dicts as in "
                "`extra_files`), `filename` and `volid` (formats), `arches`, "
                "`failable_arches`, `skip_src`, `inherit_extra_files` and `max_size`."),
]


def _as_list(value):
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _fill(fmt, values, what):
    try:
        return (fmt % values if "%(" in fmt else fmt).format(**values)
    except (KeyError, ValueError, IndexError) as exc:
        raise PhaseError(f"extra_isos {what} {fmt!r}: unknown format key {exc} (known: "
                         f"{', '.join(sorted(values))})") from None


class ExtraIsosPhase(PhaseBase):
    name = "extra_isos"

    def skip_reason(self):
        if not self.conf.extra_isos:
            return "not configured (extra_isos is not set)"
        return None

    def variants(self):
        return [v for v in self.compose.all_variants if v.type == "variant" and not v.is_empty]

    def blocks(self, variant):
        found = []
        for value in self.conf.variant_values("extra_isos", variant.uid):
            found.extend(value if isinstance(value, list) else [value])
        return found

    def validate(self):
        errors = []
        uids = {v.uid for v in self.compose.all_variants}
        for variant in self.variants():
            for block in self.blocks(variant):
                missing = [u for u in _as_list(block["include_variants"]) if u not in uids]
                if missing:
                    errors.append(f"extra_isos of {variant.uid}: include_variants names "
                                  f"{', '.join(missing)}, which the variants file does not "
                                  f"have (variants: {', '.join(sorted(uids))})")
                extra = set(block.get("arches") or []) - set(variant.arches)
                if extra:
                    self.log.warning("Extra iso config for %s mentions non-existing arches: "
                                     "%s", variant.uid, ", ".join(sorted(extra)))
        return errors

    def arches(self, variant, block):
        arches = set(variant.arches)
        if block.get("arches"):
            arches &= set(block["arches"])
        if not block.get("skip_src", False):
            arches.add("src")
        return sorted(arches)

    def units(self):
        units = []
        for variant in self.variants():
            for index, block in enumerate(self.blocks(variant)):
                included = [variant] + [self.compose.get_variant(u)
                                        for u in _as_list(block["include_variants"])]
                for arch in self.arches(variant, block):
                    deliverable = ("extra_iso", variant.uid, arch, None)
                    if arch in (block.get("failable_arches") or []):
                        self.compose.mark_failable(*deliverable)
                    needs = [f"createrepo.{v.uid}.{arch}" for v in included
                             if not v.is_empty and (arch == "src" or arch in v.arches)]
                    if is_bootable(self.compose, variant, arch):
                        needs.append(f"buildinstall.{variant.uid}.{arch}")
                    units.append(self.unit(
                        f"{variant.uid}.{arch}.{index}", self._run, variant=variant, arch=arch,
                        needs=needs, after=[f"extra_files.*.{arch}"], deliverable=deliverable,
                        inputs=dict(self.default_inputs(variant, arch), block=block),
                        log_path=self.paths.log_file(
                            arch, f"extraiso-{variant.uid}-{index}")))
        return units

    # ---- names --------------------------------------------------------------------------
    def filename(self, variant, arch, block):
        base = naming.compose_image_name(self.compose, variant, arch, "dvd", disc_num=1)
        fmt = block.get("filename")
        if not fmt:
            return base
        values = naming.compose_values(self.compose, variant, arch, "dvd")
        values.update(arch=arch, disc_num=1, suffix=".iso", filename=base, variant=variant.uid)
        name = _fill(fmt, values, "filename")
        if "/" in name or not name:
            raise PhaseError(f"extra_isos filename {fmt!r} gives {name!r}, not a file name")
        return name

    def volume_id(self, variant, arch, block):
        regular = naming.compose_volume_id(self.compose, variant, arch, "dvd")
        formats = _as_list(block.get("volid"))
        if not formats:
            return regular
        conf = self.conf
        values = naming.compose_values(self.compose, variant, arch, "dvd", for_volid=True)
        values["volid"] = regular
        return naming.volume_id(values, formats, substitutions=conf.volume_id_substitutions,
                                restricted=conf.restricted_volid)

    # ---- one ISO ------------------------------------------------------------------------
    def _run(self, unit):
        variant, arch = unit.variant, unit.arch
        block = unit.inputs["block"]
        filename = self.filename(variant, arch, block)
        volid = self.volume_id(variant, arch, block)
        stage = os.path.join(self.paths.extra_iso_extra_files_dir(arch, variant), filename)
        shutil.rmtree(stage, ignore_errors=True)
        os.makedirs(stage)
        self._media_files(stage, variant, arch)
        self._extra_files(unit, stage, variant, arch, block)
        included = [variant] + [self.compose.get_variant(u)
                                for u in _as_list(block["include_variants"])]
        self._treeinfo(stage, variant, arch, included[1:])
        bootable = is_bootable(self.compose, variant, arch)
        graft = self._graft(unit, variant, arch, included, stage, block, bootable)
        regular = naming.compose_volume_id(self.compose, variant, arch, "dvd")
        if bootable and volid != regular:
            # the installer's menus and GRUB find the medium by the DVD's volume id
            from pungi_like.media.installer import retarget_boot_files

            boot = stage.rstrip("/") + ".boot"
            shutil.rmtree(boot, ignore_errors=True)
            graft.update(retarget_boot_files(
                boot, f"{self.conf.release_name} {self.conf.release_version}", volid,
                log_path=unit.log_path, source_date_epoch=metadata.source_date_epoch()))
        iso_dir = self.paths.iso_dir(arch, variant, create=True)
        target = os.path.join(iso_dir, filename)
        tmp = target + ".part"
        try:
            written = isomod.write_iso(
                None, tmp, volid, boot="bios+uefi" if bootable else None, graft=graft,
                excludes=("*/lost+found", "*/boot.iso"),
                application_id=f"{self.conf.release_name} {self.conf.release_version}",
                log_path=unit.log_path, implant=bool(self.compose.supported))
            # the native writer implants it as it writes; implantisomd5 for the others
            md5 = written.implanted_md5 or isomod.implant_md5(
                tmp, supported=bool(self.compose.supported), log_path=unit.log_path)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        isomod.write_manifest(target, paths=written.manifest)
        self._check_size(variant, arch, target, block)
        extra = [v.uid for v in included[1:]]
        record_image(self.compose, variant, arch, target, type="dvd", format="iso",
                     bootable=bootable, implant_md5=md5, volume_id=volid,
                     subvariant=variant.uid, unified=bool(extra), additional_variants=extra)
        return {"iso": self.paths.relative(target), "volume_id": volid,
                "variants": [v.uid for v in included]}

    def _media_files(self, stage, variant, arch):
        """.discinfo and media.repo (the block's extra files may replace them)."""
        description = metadata.discinfo_description(self.conf, variant, arch)
        metadata.write_discinfo(stage, description, arch)
        metadata.write_media_repo(stage, description)

    def _extra_files(self, unit, stage, variant, arch, block):
        items = block.get("extra_files") or []
        items = [items] if isinstance(items, dict) else items
        files = []
        for item in items:
            if item["scm"] == "rpm":
                item = resolve_rpm_sources(self.compose, item, variant, arch)
            target = item.get("target", "").lstrip("/")
            copied = scm.fetch(item, os.path.join(stage, target),
                               base_dir=self.conf.config_dir, log_path=unit.log_path)
            files.extend(os.path.join(target, f) for f in copied)
        if files:
            extra = new_extra_files(self.compose)
            add_files(extra, variant.uid, arch, stage, sorted(set(files)),
                      list(self.conf.media_checksums))
            write_atomic(os.path.join(stage, "extra_files.json"),
                         tree_metadata_text(extra, variant.uid, arch, ""))

    def _treeinfo(self, stage, variant, arch, others):
        """The variant's .treeinfo for one disc, listing the included variants, each with its
        packages and repository in its own directory."""
        source = os.path.join(self.paths.os_tree(arch, variant), ".treeinfo")
        if not os.path.exists(source):
            self.log.warning("[extra_isos] %s has no .treeinfo; the ISO gets none", source)
            return
        ti = productmd.treeinfo.TreeInfo()
        ti.load(source)
        ti.media.discnum, ti.media.totaldiscs = 1, 1
        for platform in list(ti.images.images):
            path = ti.images.images[platform].pop("boot.iso", None)
            if path:
                ti.checksums.checksums.pop(path, None)
        for other in others:
            var = productmd.treeinfo.Variant(ti)
            var.id, var.uid, var.name, var.type = other.id, other.uid, other.name, other.type
            ti.variants.add(var)
        for uid in ti.variants:
            var = ti.variants[uid]
            var.paths.packages = os.path.join(var.uid, "Packages")
            var.paths.repository = var.uid
        buf = io.StringIO()
        ti.dump(buf)
        write_atomic(os.path.join(stage, ".treeinfo"), buf.getvalue())

    def _graft(self, unit, variant, arch, included, stage, block, bootable):
        """{path on the ISO: source}: installer files, each variant's packages, repodata and
        (inherited) extra files, then the ISO's own top-level files."""
        graft = {}
        if bootable:
            installer = self.paths.buildinstall_dir(arch_dirname(arch), variant)
            if not os.path.isdir(installer):
                raise PhaseError(f"{variant.uid}.{arch} should be bootable but buildinstall "
                                 f"left no installer tree in {installer}")
            for name in sorted(os.listdir(installer)):
                graft[name] = os.path.join(installer, name)
            # buildinstall updated efiboot.img in the compose tree (its checksum is there)
            efiboot = os.path.join(self.paths.os_tree(arch, variant), "images", "efiboot.img")
            if os.path.exists(efiboot):
                graft["images/efiboot.img"] = efiboot
        for var in included:
            tree = self.paths.os_tree(arch, var)
            if not os.path.isdir(os.path.join(tree, "repodata")):
                self.log.warning("[extra_isos] %s.%s has no repository: not on %s", var.uid,
                                 arch, unit.name)
                continue
            packages = os.path.join(tree, "Packages")
            if os.path.isdir(packages):
                graft[f"{var.uid}/Packages"] = packages
            graft[f"{var.uid}/repodata"] = os.path.join(tree, "repodata")
            if block.get("inherit_extra_files"):
                extra = self.paths.extra_files_dir(arch, var, create=False)
                if os.path.isdir(extra):
                    for name in sorted(os.listdir(extra)):
                        graft[f"{var.uid}/{name}"] = os.path.join(extra, name)
        for name in sorted(os.listdir(stage)):
            graft[name] = os.path.join(stage, name)
        return graft

    def _check_size(self, variant, arch, path, block):
        limit = block.get("max_size")
        if not limit:
            return
        size = os.path.getsize(path)
        if size <= limit:
            return
        message = f"ISO {self.paths.relative(path)} is too big. Expected max {int(limit)}B, " \
                  f"got {size}B"
        strict = self.conf.variant_arch_values("createiso_max_size_is_strict", variant.uid, arch)
        if any(strict):
            raise PhaseError(message)
        self.log.warning("[extra_isos] %s", message)
