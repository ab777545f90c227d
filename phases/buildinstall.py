"""buildinstall: the installer runtime, boot images and boot menus (what lorax does)."""

from pungi_like.config.options import (Option, scm_dict_schema, str_or_list,
                                       variant_arch_mapping)

from phases.base import PhaseBase

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


class BuildinstallPhase(PhaseBase):
    """Present so the phase order, --skip-phase and the config are complete; the work itself
    comes with the build service integration (issue 3)."""

    name = "buildinstall"

    def skip_reason(self):
        if not self.conf.buildinstall_method:
            return "not configured (buildinstall_method is not set)"
        return "not implemented yet: buildinstall comes with the build service integration"

    def validate(self):
        if self.conf.buildinstall_method:
            return ["buildinstall_method is set, but the buildinstall phase is not implemented yet; "
                    "remove buildinstall_method or skip the phase with --skip-phase buildinstall"]
        return []
