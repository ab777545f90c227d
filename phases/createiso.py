"""createiso: DVD-style ISOs per variant.arch (bootable when buildinstall ran).

Each ISO is written with pycdlib (Rock Ridge + Joliet), bootable from the installer tree that
buildinstall copied into the variant's os tree (El Torito BIOS + UEFI, isohybrid), split over
several discs when a non-bootable tree is larger than ``iso_size`` (per-disc repodata, sticky
files on every disc), with an implanted MD5, a ``.manifest`` listing, and an images.json entry.
"""

import os
import re
import shutil

import productmd.treeinfo

from phases.base import PhaseBase
from phases.imagechecksum import note_image
from pungi_like import metadata, reuse, reuse_differs
from pungi_like.config.options import (Option, variant_arch_mapping, variant_mapping)
from pungi_like.errors import PhaseError
from pungi_like.fileutil import write_atomic
from pungi_like.lazyimport import lazy_module
from pungi_like.media import naming
from pungi_like.paths import arch_dirname

isomod = lazy_module("pungi_like.media.iso", globals(), "isomod")

MEDIA_SIZE_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 0},
        {"type": "string", "pattern": "^[0-9]+[kKMG]?$"},
    ]
}

# the media size itself must be positive (Pungi: "Media size must be a positive number"); the
# reserve may be 0, which Pungi 4.3.2 dooms on (see doc/pungi-differences.md)
POSITIVE_MEDIA_SIZE_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 1},
        {"type": "string", "pattern": "^0*[1-9][0-9]*[kKMG]?$"},
    ]
}

ISO_LEVEL_SCHEMA = {"enum": [1, 2, 3, 4]}

OPTIONS = [
    Option("createiso_skip", variant_arch_mapping({"type": "boolean"}), default=[],
           mapping="variant_arch",
           help="Skip the ISO of a variant.arch when the look-up gives exactly `[True]`; "
                "`src` must be named explicitly."),
    Option("createiso_max_size", variant_arch_mapping({"type": "integer", "minimum": 0}),
           default=[], mapping="variant_arch",
           help="Maximum ISO size in bytes per variant.arch; checked by the test phase."),
    Option("createiso_max_size_is_strict", variant_arch_mapping({"type": "boolean"}),
           default=[], mapping="variant_arch",
           help="An ISO over `createiso_max_size` is an error instead of a warning."),
    Option("create_optional_isos", {"type": "boolean"}, default=False,
           help="Also make ISOs for optional variants."),
    Option("iso_size", POSITIVE_MEDIA_SIZE_SCHEMA, default=4700000000,
           help="Media size for splitting: bytes, or a number with `k`, `M` or `G` "
                "(powers of 1024)."),
    Option("split_iso_reserve", MEDIA_SIZE_SCHEMA, default=10 * 1024 * 1024,
           help="Space kept free on each disc (same units as `iso_size`)."),
    Option("iso_level",
           {"anyOf": [ISO_LEVEL_SCHEMA, variant_arch_mapping(ISO_LEVEL_SCHEMA)]},
           mapping="variant_arch",
           help="ISO 9660 interchange level (1-4), globally or per variant.arch."),
    Option("createiso_use_xorrisofs", {"type": "boolean"}, default=False,
           help="Accepted for compatibility with Pungi (pungi_like writes ISOs itself)."),
    Option("createiso_break_hardlinks", {"type": "boolean"}, default=False,
           help="Accepted for compatibility with Pungi."),
    Option("iso_hfs_ppc64le_compatible", {"type": "boolean"}, default=True,
           help="HFS boot arguments on ppc64le ISOs."),
    Option("create_jigdo", {"type": "boolean"}, default=False,
           help="Write jigdo files beside the ISOs."),
    Option("createiso_allow_reuse", {"type": "boolean"}, default=True,
           help="Reuse ISOs of an old compose when their content is unchanged."),
    Option("image_name_format",
           {"anyOf": [{"type": "string"}, variant_mapping({"type": "string"})]},
           default="{compose_id}-{variant}-{arch}-{disc_type}{disc_num}{suffix}",
           mapping="variant",
           help="File name of images; a string or `{variant_regex: format}`. Both `{key}` and "
                "`%(key)s` styles are expanded. Keys: compose_id, release_short, version, date, "
                "respin, type, type_suffix, label, label_major_version, variant, arch, "
                "disc_type, disc_num, suffix."),
    Option("image_volid_formats", {"type": "array", "items": {"type": "string"}},
           default=["{release_short}-{version} {variant}.{arch}",
                    "{release_short}-{version} {arch}"],
           help="Volume ID candidates, tried in order until one fits in 32 characters."),
    Option("image_volid_layered_product_formats",
           {"type": "array", "items": {"type": "string"}},
           default=["{release_short}-{version} {base_product_short}-{base_product_version} "
                    "{variant}.{arch}",
                    "{release_short}-{version} {base_product_short}-{base_product_version} "
                    "{arch}"],
           help="Volume ID candidates tried first for layered products."),
    Option("volume_id_substitutions", {"type": "object", "additionalProperties":
                                       {"type": "string"}}, default={},
           help="Replacements applied to volume IDs, longest key first."),
    Option("restricted_volid", {"type": "boolean"}, default=False,
           help="Replace every non-word character of volume IDs with `-`."),
    Option("disc_types", {"type": "object",
                          "propertyNames": {"enum": ["boot", "live", "dvd", "ostree"]},
                          "additionalProperties": {"type": "string"}}, default={},
           help="Rename the disc types used in image names and volume IDs "
                "(`boot`, `live`, `dvd`, `ostree`)."),
    Option("symlink_isos_to", {"type": "string"},
           help="Write ISOs to this directory and symlink them into the compose."),
]


class _Listed:
    """A file or directory :func:`_find_listing` found, answering as the ``os.DirEntry`` of
    it (no link, so the stat with and without following links is the same)."""
    __slots__ = ("name", "path", "_dir", "_stat")

    def __init__(self, name, path, is_dir, size, mode):
        self.name, self.path, self._dir = name, path, is_dir
        self._stat = os.stat_result((mode, 0, 0, 0, 0, 0, size, 0, 0, 0))

    def is_symlink(self):
        return False

    def is_dir(self):
        return self._dir

    def stat(self, follow_symlinks=True):
        return self._stat


def _find_listing(root):
    """``{directory relative to root + "/" ("" for root): [_Listed, ...] by name}`` of every
    file and directory under ``root``, from one ``find`` run: the DVD tree's 5,400 stats
    outside this process (in it each gave the interpreter lock up and waited to take it back
    behind the other units: 1.3-1.5 s of wall for 0.04 s of CPU at load 10). None, for the
    walk to stat the tree itself, when find cannot run or fails (an unreadable directory) or
    the tree holds anything but regular files and directories (a link: the walk handles it)."""
    from pungi_like.fileutil import output_of

    try:
        code, output = output_of(["find", root, "-mindepth", "1", "-printf", r"%y %s %m %P\0"])
    except OSError:
        return None
    if code != 0:
        return None
    listing = {}
    top = os.path.join(root, "")
    for item in output.split(b"\0")[:-1]:
        kind, size, mode, rel = item.split(b" ", 3)
        if kind not in (b"f", b"d") or not rel:
            return None
        rel = os.fsdecode(rel)
        parent, _, name = rel.rpartition("/")
        listing.setdefault(parent + "/" if parent else "", []).append(
            _Listed(name, top + rel, kind == b"d", int(size), int(mode, 8)))
    for children in listing.values():
        children.sort(key=lambda e: e.name)
    return listing


def parse_size(value):
    """Bytes from an int or a ``"4G"``-style string (k, M, G = powers of 1024)."""
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"(\d+)([kKMG]?)", str(value))
    if not m:
        raise PhaseError(f"invalid media size {value!r}: expected bytes or a number with k, M, G")
    return int(m.group(1)) * {"": 1, "k": 1024, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}[m.group(2)]


# naming lives in pungi_like.media.naming; these names stay for the phases that imported them here
image_values = naming.compose_values
volume_id_for = naming.compose_volume_id
image_name_for = naming.compose_image_name


def is_bootable(compose, variant, arch):
    """Pungi's rule: a binary arch of a plain variant of a compose with buildinstall."""
    conf = compose.conf
    return (arch != "src" and variant.type == "variant" and bool(conf.buildinstall_method)
            and "buildinstall" not in compose.skipped_phases
            and conf.variant_arch_values("buildinstall_skip", variant.uid, arch) != [True])


def record_image(compose, variant, arch, path, **fields):
    """Add an images.json entry; source images go under every binary arch of the variant."""
    image = metadata.make_image(path, compose.paths.compose_dir(), arch=arch, **fields)
    for key_arch in (variant.arches if arch == "src" else [arch]):
        compose.images.add(variant.uid, key_arch, image)
    return image


class CreateisoPhase(PhaseBase):
    name = "createiso"

    def validate(self):
        errors = []
        if self.conf.create_jigdo:
            errors.append("create_jigdo is not implemented by pungi_like; set it to False")
        if self.conf.symlink_isos_to:
            errors.append("symlink_isos_to is not implemented by pungi_like yet; remove it")
        for value in (self.conf.iso_size, self.conf.split_iso_reserve):
            try:
                parse_size(value)
            except PhaseError as exc:
                errors.append(str(exc))
        return errors

    def variants(self):
        types = {"variant", "layered-product"}
        if self.conf.create_optional_isos:
            types.add("optional")
        return [v for v in self.compose.all_variants if v.type in types and not v.is_empty]

    def units(self):
        units = []
        targets = []
        for variant in self.variants():
            for arch in variant.arches + ["src"]:
                skip = self.conf.variant_arch_values("createiso_skip", variant.uid, arch)
                if skip == [True]:
                    self.log.info("[createiso] skipping %s.%s (createiso_skip)", variant.uid, arch)
                    continue
                # the DVD carries the addons, whose trees live inside the variant's
                needs = [f"createrepo.{variant.uid}.{arch}"] + [
                    f"createrepo.{child.uid}.{arch}" for child in variant.children
                    if child.type == "addon" and not child.is_empty]
                bootable = is_bootable(self.compose, variant, arch)
                if bootable:
                    # a failed (failable) buildinstall skips the DVD, as in Pungi
                    needs.append(f"buildinstall.{variant.uid}.{arch}")
                targets.append(os.path.join(self.paths.iso_dir(arch, variant),
                                            naming.compose_image_name(self.compose, variant,
                                                                      arch, "dvd")))
                units.append(self.unit(
                    f"{variant.uid}.{arch}", self._run, variant=variant, arch=arch, needs=needs,
                    # extra files (of the variant and its addons) are in the tree by then
                    after=[f"extra_files.*.{arch}"],
                    deliverable=("iso", variant.uid, arch, None),
                    log_path=self.paths.log_file(arch, f"createiso-{variant.uid}")))
        self._targets = targets
        return units

    # ---- one variant.arch -----------------------------------------------------------------
    def _tree(self, variant, arch):
        return self.paths.os_tree(arch, variant)

    def _run(self, unit):
        variant, arch = unit.variant, unit.arch
        compose, conf = self.compose, self.conf
        if not getattr(self, "_announced", False):
            self._announced = True
            compose.notify("createiso-targets", deliverables=sorted(
                self.paths.relative(t) for t in self._targets))
        tree = self._tree(variant, arch)
        # one walk of the tree gives every file with its size (the DVD of 10,000 RPMs took a
        # second of os.walk, relpath and getsize when each was asked for separately) and what
        # write_iso would collect of it, so the image's writer does not walk it again
        sizes, tree_entries = self._tree_walk(tree)
        if not any(f.startswith("Packages/") and f.endswith(".rpm") for f in sizes):
            self.log.warning("No RPMs found for %s.%s, skipping ISO", variant.uid, arch)
            return {"isos": []}
        bootable = is_bootable(compose, variant, arch)
        if bootable and not os.path.exists(os.path.join(tree, "isolinux", "isolinux.bin")):
            raise PhaseError(f"{variant.uid}.{arch} should be bootable but its tree has no "
                             f"isolinux/isolinux.bin (did buildinstall run?)")
        volid = naming.compose_volume_id(compose, variant, arch, "dvd")
        media = parse_size(conf.iso_size)
        reserve = parse_size(conf.split_iso_reserve)
        # Pungi's split_iso: every file of the tree except its repodata (rebuilt per disc),
        # the non-package files first, then Packages/; media.repo and extra files are sticky
        files = [f for f in sizes if not f.startswith("repodata/")]
        files = ([f for f in files if not f.startswith("Packages/")]
                 + [f for f in files if f.startswith("Packages/")])
        sticky = [f for f in files if f in ("media.repo",) or f.startswith("extra_files")]
        size = {f: sizes[f] for f in files}
        discs = naming.split_media([(f, size[f]) for f in files if f not in sticky], media,
                                   reserve, sticky=[(f, size[f]) for f in sticky])
        if bootable or len(discs) == 1:
            # bootable media are never split (Pungi's no_split), only warned about
            total = sum(naming.sectors(s) for s in size.values())
            if bootable and len(discs) > 1:
                self.log.warning("ISO for %s.%s does not fit on single media! It is %d bytes "
                                 "too big.", variant.uid, arch, total - (media - reserve))
            discs = None
        made, md5s = [], []
        count = 1 if discs is None else len(discs)
        for number in range(1, count + 1):
            made.append(self._write_disc(unit, variant, arch, tree, volid, bootable, number,
                                         count, None if discs is None else discs[number - 1],
                                         tree_entries=tree_entries, md5s=md5s))
        outputs = {"isos": made, "volume_id": volid}
        if md5s and all(md5s):
            # the images' implanted MD5s: when an image changed, the units after this one
            # (checksums, tests) know at once that no old unit has their key
            # (pungi_like.reuse_differs) instead of waiting for this unit's record
            outputs["digest"] = reuse_differs.digest(md5s)
        return outputs

    @staticmethod
    def _tree_sizes(tree):
        """``{relative path: size}`` of every file of ``tree`` in os.walk's order (a
        directory's files by name, then its subdirectories by name; links to directories are
        not followed, links to files are sized by their target), without ``images/boot.iso``
        and ``lost+found``; addons are in their parent's tree and on its DVD, as in Pungi."""
        return CreateisoPhase._tree_walk(tree)[0]

    @staticmethod
    def _tree_walk(tree):
        """(:meth:`_tree_sizes`, ``media.iso.collect_tree(tree, excludes=("images/boot.iso",))``
        from the same walk, or None in its place when the tree holds a symbolic link or an
        unreadable directory: then write_iso collects the tree itself, as it always did)."""
        found = {}
        entries = {}
        exact = [True]      # collect_tree's result is exact (no link, nothing unreadable)
        excludes = ("images/boot.iso",)
        root = os.path.abspath(tree)
        listing = None if os.path.islink(root) else _find_listing(root)

        def walk(path, prefix):
            try:
                if listing is not None:
                    children = listing.get(prefix, ())
                else:
                    with os.scandir(path) as it:
                        children = sorted(it, key=lambda e: e.name)
            except OSError:
                exact[0] = False
                return      # as os.walk: an unreadable directory is left out
            subdirs = []
            for entry in children:
                rel = prefix + entry.name
                if entry.is_symlink():
                    exact[0] = False
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                if is_dir:
                    if not entry.is_symlink():
                        subdirs.append(entry)
                    continue
                st = entry.stat()
                if exact[0] and not isomod._excluded(rel, excludes):
                    entries[rel] = isomod._Entry("file", source=entry.path,
                                                 mode=st.st_mode & 0o7777, size=st.st_size)
                if rel.endswith("images/boot.iso") or "lost+found" in rel.split("/"):
                    continue
                found[rel] = st.st_size
            for entry in subdirs:
                rel = prefix + entry.name
                if exact[0] and not isomod._excluded(rel, excludes):
                    entries[rel] = isomod._Entry(
                        "dir", source=entry.path,
                        mode=entry.stat(follow_symlinks=False).st_mode & 0o7777)
                    walk(entry.path, rel + "/")
                elif exact[0]:
                    # collect_tree leaves an excluded directory out with what it holds; the
                    # sizes do not, so walk it for them alone
                    exact[0] = False
                    walk(entry.path, rel + "/")
                else:
                    walk(entry.path, rel + "/")

        if os.path.islink(root):
            exact[0] = False
        walk(root, "")
        return found, (entries if exact[0] else None)

    def _disc_metadata(self, stage, variant, arch, tree, number, count):
        """Per-disc .treeinfo (with [media], without boot.iso) and .discinfo."""
        src = os.path.join(tree, ".treeinfo")
        if os.path.exists(src):
            ti = productmd.treeinfo.TreeInfo()
            ti.load(src)
            ti.media.discnum = number
            ti.media.totaldiscs = count
            for platform in list(ti.images.images):
                ti.images.images[platform].pop("boot.iso", None)
            ti.checksums.checksums.pop("images/boot.iso", None)
            ti.dump(os.path.join(stage, ".treeinfo"))
        discinfo = os.path.join(tree, ".discinfo")
        if os.path.exists(discinfo):
            lines = open(discinfo, encoding="utf-8").read().splitlines()
            if len(lines) >= 4:
                lines[3] = str(number)
            write_atomic(os.path.join(stage, ".discinfo"), "\n".join(lines) + "\n",
                         fsync=getattr(self.compose, "syncer", None) or True)

    def _write_disc(self, unit, variant, arch, tree, volid, bootable, number, count, disc,
                    tree_entries=None, md5s=None):
        """One image; ``tree_entries``: what :meth:`_tree_walk` collected of the tree (taken
        when the whole tree goes on this disc); its implanted MD5 is appended to ``md5s``."""
        compose = self.compose
        name = naming.compose_image_name(compose, variant, arch, "dvd", disc_num=number)
        iso_dir = self.paths.iso_dir(arch, variant, create=True)
        target = os.path.join(iso_dir, name)
        stage = self.paths.iso_work_dir(arch_dirname(arch), name)
        shutil.rmtree(stage, ignore_errors=True)
        os.makedirs(stage)
        self._disc_metadata(stage, variant, arch, tree, number, count)
        graft = {rel: os.path.join(stage, rel) for rel in (".treeinfo", ".discinfo")
                 if os.path.exists(os.path.join(stage, rel))}
        if disc is None:
            source_tree = tree
        else:
            tree_entries = None
            source_tree = None
            for rel in disc.files:
                # every disc has its own .treeinfo/.discinfo (staged above); the tree's count
                # against disc 1's room only, as in Pungi
                if rel not in graft:
                    graft[rel] = os.path.join(tree, rel)
            pkgs = [rel for rel in disc.files if rel.endswith(".rpm")]
            if pkgs:
                self._disc_repodata(unit, tree, stage, pkgs)
                for top, _, names in os.walk(os.path.join(stage, "repodata")):
                    for n in names:
                        full = os.path.join(top, n)
                        graft[os.path.relpath(full, stage)] = full
        tmp = target + ".part"
        try:
            written = isomod.write_iso(
                source_tree, tmp, volid, boot="bios+uefi" if bootable else None,
                excludes=("images/boot.iso",) if disc is None else (), graft=graft,
                application_id=f"{self.conf.release_name} {self.conf.release_version}",
                log_path=unit.log_path, tree_entries=tree_entries,
                implant=bool(compose.supported),
                record=self.paths.iso_extents_file(arch, variant, number),
                old=self._old_images(arch, variant, number))
            # the native writer implants it as it writes; implantisomd5 for the others
            md5 = written.implanted_md5 or isomod.implant_md5(
                tmp, supported=bool(compose.supported), log_path=unit.log_path)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            compose.notify("createiso-imagefail", file=self.paths.relative(target), arch=arch,
                           variant=variant.uid)
            raise
        isomod.write_manifest(target, paths=written.manifest,
                              fsync=getattr(compose, "syncer", None) or True)
        try:
            # its checksums now, from the page cache, in this unit: the checksum unit of the
            # variant.arch follows every image of the variant (its source ISO too)
            needles = None
            if getattr(compose, "topdir", None) and getattr(compose, "compose_id", None):
                # the unit record's search (reuse.describe_files), done beside the digests
                names = reuse.Names(compose.topdir, compose.compose_id)
                needles = (names.topdir.encode(), names.compose_id.encode())
            note_image(target, self.conf.media_checksums, needles=needles)
        except (OSError, ValueError):
            pass    # the checksum unit reads it
        record_image(compose, variant, arch, target, type="dvd", format="iso",
                     disc_number=number, disc_count=count, bootable=bootable,
                     implant_md5=md5, volume_id=volid, subvariant=variant.uid)
        if md5s is not None:
            md5s.append(md5)
        compose.notify("createiso-imagedone", file=self.paths.relative(target), arch=arch,
                       variant=variant.uid)
        return self.paths.relative(target)

    def _old_images(self, arch, variant, number):
        """``[record, directory of its image]`` of this disc in the compose resumed and the
        newest old compose (``media.iso_extents``): the native writer copies unchanged files'
        data from the first image that still is the one its record describes."""
        pool = getattr(self.compose, "reuse_pool", None)
        if pool is None:
            return []
        topdir = self.compose.topdir
        record = os.path.relpath(self.paths.iso_extents_file(arch, variant, number), topdir)
        iso_dir = os.path.relpath(self.paths.iso_dir(arch, variant), topdir)
        return [[os.path.join(old, record), os.path.join(old, iso_dir)]
                for old in pool.places(2) if os.path.abspath(old) != os.path.abspath(topdir)]

    def _disc_repodata(self, unit, tree, stage, pkgs):
        """A split disc's own repodata, as Pungi writes it: XML and sqlite, no comps."""
        from phases.createrepo import run_createrepo

        listfile = os.path.join(stage, ".pkglist")
        write_atomic(listfile, "".join(p + "\n" for p in pkgs))
        run_createrepo(tree, stage, listfile, unit.log_path,
                       checksum=self.conf.createrepo_checksum, database=True)
        os.unlink(listfile)
