"""buildinstall: the installer runtime, boot images and boot menus (what lorax does).

lorax cannot be installed here, so the work is done in-process by
``pungi_like.media.installer.build_installer_tree``: the runtime package set is installed into a
root with rpm, squashed into ``images/install.img``, the kernel and an initramfs go to
``images/pxeboot/`` and ``isolinux/``, boot menus come from ``share/templates/`` with the volume
id as the boot label, and ``images/boot.iso`` is written. The tree is copied into the variant's
os tree; boot.iso is linked into ``iso/`` and recorded in images.json.
"""

import os
import shutil

from pungi_like.config.options import (Option, scm_dict_schema, str_or_list,
                                       variant_arch_mapping)

from phases.base import PhaseBase
from pungi_like import metadata
from pungi_like.errors import PhaseError
from pungi_like.fileutil import link_file
from pungi_like.lazyimport import lazy_module

isomod = lazy_module("pungi_like.media.iso", globals(), "isomod")

LORAX_OPTIONS_SCHEMA = {
    "type": "object",
    "properties": {
        "bugurl": {"type": "string"},
        "nomacboot": {"type": "boolean"},
        "noupgrade": {"type": "boolean"},
        "add_template": {"type": "array", "items": {"type": "string"}},
        "add_arch_template": {"type": "array", "items": {"type": "string"}},
        "add_template_var": {"type": "array", "items": {"type": "string"}},
        "add_arch_template_var": {"type": "array", "items": {"type": "string"}},
        "rootfs_size": {"type": "integer", "minimum": 1},
        "version": {"type": "string"},
        "dracut_args": {"type": "array", "items": {"type": "string"}},
        "skip_branding": {"type": "boolean"},
        "squashfs_only": {"type": "boolean"},
        "configuration_file": scm_dict_schema(),
        "volid": {"type": "string", "maxLength": 32},
        "isfinal": {"type": "boolean"},
        "installpkgs": {"type": "array", "items": {"type": "string"}},
        "excludepkgs": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}

OPTIONS = [
    Option("buildinstall_method", {"enum": ["lorax", "buildinstall"]},
           help="`lorax` makes the compose bootable (install runtime, boot.iso, boot menus); "
                "unset means no bootable media. `buildinstall` is Pungi's legacy method and is "
                "handled like `lorax`."),
    Option("lorax_options", variant_arch_mapping(LORAX_OPTIONS_SCHEMA), default=[],
           mapping="variant_arch",
           help="Per variant.arch settings of the installer build: `bugurl`, `nomacboot`, "
                "`noupgrade`, `add_template`, `add_arch_template`, `add_template_var`, "
                "`add_arch_template_var`, `rootfs_size` (GiB), `version`, `dracut_args`, "
                "`skip_branding`, `squashfs_only`, `configuration_file`."),
    Option("lorax_extra_sources", variant_arch_mapping(str_or_list()), default=[],
           mapping="variant_arch",
           help="Extra repositories the installer runtime is built from."),
    Option("lorax_use_koji_plugin", {"type": "boolean"}, default=False,
           help="Accepted for compatibility with Pungi (a Koji `pungi-buildinstall` task)."),
    Option("buildinstall_kickstart", scm_dict_schema(),
           help="Kickstart copied into the tree as `ks.cfg`; boot menus get "
                "`inst.ks=hd:LABEL=<volid>:/ks.cfg`."),
    Option("buildinstall_topdir", {"type": "string"},
           help="Build the installer outside the compose (shared storage) and copy it back."),
    Option("buildinstall_skip", variant_arch_mapping({"type": "boolean"}), default=[],
           mapping="variant_arch",
           help="Skip the installer for a variant.arch (only when the look-up gives exactly "
                "`[True]`)."),
    Option("buildinstall_allow_reuse", {"type": "boolean"}, default=False,
           help="Reuse the installer of an old compose when its inputs are unchanged."),
    Option("buildinstall_use_guestmount", {"type": "boolean"}, default=True,
           help="Accepted for compatibility with Pungi (how `efiboot.img` is mounted)."),
]




# what lorax installs when a variant names no <buildinstallpackages>
DEFAULT_RUNTIME_PACKAGES = ["anaconda"]


class BuildinstallPhase(PhaseBase):
    name = "buildinstall"

    def skip_reason(self):
        if not self.conf.buildinstall_method:
            return "Not a bootable product (buildinstall_method is not set)"
        return None

    def validate(self):
        errors = []
        if self.conf.buildinstall_topdir:
            errors.append("buildinstall_topdir is not implemented by pungi_like; remove it")
        if self.conf.buildinstall_kickstart:
            errors.append("buildinstall_kickstart is not implemented by pungi_like yet; remove it")
        return errors

    def variants(self):
        for variant in self.compose.all_variants:
            if variant.type != "variant" or variant.is_empty:
                continue
            for arch in variant.arches:
                if self.conf.variant_arch_values("buildinstall_skip", variant.uid, arch) == [True]:
                    self.log.info("[buildinstall] skipping %s.%s (buildinstall_skip)",
                                  variant.uid, arch)
                    continue
                yield variant, arch

    def units(self):
        return [self.unit(f"{variant.uid}.{arch}", self._run, variant=variant, arch=arch,
                          needs=[f"pkgset.{arch}"],
                          deliverable=("buildinstall", variant.uid, arch, None),
                          log_path=self.paths.log_file(arch, f"buildinstall-{variant.uid}"))
                for variant, arch in self.variants()]

    def lorax_options(self, variant, arch):
        """The lorax_options blocks matching variant.arch, later blocks overriding earlier."""
        merged = {}
        for block in self.conf.variant_arch_values("lorax_options", variant.uid, arch):
            merged.update(block)
        return merged

    def _run(self, unit):
        from phases.createiso import record_image
        from pungi_like.media.naming import compose_image_name, compose_volume_id
        from pungi_like.media.installer import build_installer_tree

        variant, arch = unit.variant, unit.arch
        compose, conf = self.compose, self.conf
        pkgset = compose.results.get(("pkgset", arch))
        if pkgset is None:
            raise PhaseError(f"no package set for {arch}: the pkgset phase did not run")
        repos = [pkgset.repo_path]
        for extra in conf.variant_arch_values("lorax_extra_sources", variant.uid, arch):
            repos.extend([extra] if isinstance(extra, str) else extra)
        # boot.iso shares the DVD's label, so the installer finds its stage2 on either
        volid = compose_volume_id(compose, variant, arch, "dvd")
        packages = list(variant.buildinstall_packages) or DEFAULT_RUNTIME_PACKAGES
        outdir = self.paths.buildinstall_dir(arch, variant)
        os.makedirs(os.path.dirname(outdir), exist_ok=True)
        logs = self.paths.log_dir(arch)
        result = build_installer_tree(
            repos, outdir, product=conf.release_name, version=conf.release_version,
            release=conf.release_version, variant=variant.uid, volid=volid, arch=arch,
            packages=packages, lorax_options=self.lorax_options(variant, arch),
            source_date_epoch=metadata.source_date_epoch(), release_short=conf.release_short,
            log_dir=os.path.join(logs, f"buildinstall-{variant.uid}-logs"))
        # the installer tree goes into the os tree; createrepo writes .treeinfo/.discinfo
        # there afterwards, taking the images and stage2 from the installer's .treeinfo
        tree = self.paths.os_tree(arch, variant, create=True)
        for entry in sorted(os.listdir(outdir)):
            if entry.startswith("."):
                continue
            src, dst = os.path.join(outdir, entry), os.path.join(tree, entry)
            if os.path.isdir(src):
                shutil.copytree(src, dst, dirs_exist_ok=True, copy_function=_link_or_copy)
            else:
                _link_or_copy(src, dst)
        boot_iso = os.path.join(tree, "images", "boot.iso")
        name = compose_image_name(compose, variant, arch, "boot", disc_num=None)
        target = os.path.join(self.paths.iso_dir(arch, variant, create=True), name)
        link_file(boot_iso, target)
        isomod.write_manifest(target)
        record_image(compose, variant, arch, target, type="boot", format="iso", bootable=True,
                     implant_md5=result.get("implant_md5"), volume_id=volid,
                     subvariant=variant.uid)
        return {"volume_id": volid, "boot_iso": self.paths.relative(target),
                "packages": len(result["packages"]), "seconds": result["seconds"]}


def _link_or_copy(src, dst):
    link_file(src, dst, "hardlink-or-copy")
    return dst
