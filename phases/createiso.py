"""createiso: DVD-style ISOs per variant.arch (bootable when buildinstall ran)."""

from pungi_like.config.options import (Option, variant_arch_mapping, variant_mapping)

from phases.base import PhaseBase

MEDIA_SIZE_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 0},
        {"type": "string", "pattern": "^[0-9]+[kKMG]?$"},
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
    Option("iso_size", MEDIA_SIZE_SCHEMA, default=4700000000,
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


class CreateisoPhase(PhaseBase):
    """Present so the phase order, --skip-phase and the config are complete; the work itself
    comes with the build service integration (issue 3)."""

    name = "createiso"

    def skip_reason(self):
        return "not implemented yet: createiso comes with the build service integration"

    def validate(self):
        return []
