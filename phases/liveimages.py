"""liveimages: live and appliance images built by the build service from kickstarts."""

from pungi_like.config.options import Option, str_or_list, variant_arch_mapping

from phases.base import PhaseBase

LIVE_IMAGE_SCHEMA = {
    "type": "object",
    "properties": {
        "kickstart": {"type": "string"},
        "ksurl": {"type": "string"},
        "name": {"type": "string"},
        "subvariant": {"type": "string"},
        "target": {"type": "string"},
        "version": {"type": "string"},
        "release": {"type": ["string", "null"]},
        "repo": str_or_list(),
        "specfile": {"type": "string"},
        "scratch": {"type": "boolean"},
        "type": {"enum": ["live", "appliance"]},
        "sign": {"type": "boolean"},
        "failable": {"type": "boolean"},
    },
    "required": ["kickstart"],
    "additionalProperties": False,
}

OPTIONS = [
    Option("live_images",
           variant_arch_mapping({"anyOf": [LIVE_IMAGE_SCHEMA,
                                           {"type": "array", "items": LIVE_IMAGE_SCHEMA}]}),
           default=[], mapping="variant_arch",
           help="Live (`type: live`) and appliance images per variant.arch: a dict or a list "
                "of dicts with `kickstart` (required), `ksurl`, `name`, `subvariant`, "
                "`target`, `version`, `release`, `repo`, `specfile`, `scratch`, `type`, "
                "`sign`, `failable`."),
    Option("live_images_no_rename", {"type": "boolean"}, default=False,
           help="Keep the file names the build service gave the images."),
    Option("live_images_ksurl", {"type": "string"},
           help="Default `ksurl` of live images (before `global_ksurl`)."),
    Option("live_images_target", {"type": "string"},
           help="Default build target of live images (before `global_target`)."),
    Option("live_images_release", {"type": ["string", "null"]},
           help="Default release of live images (before `global_release`)."),
    Option("live_images_version", {"type": "string"},
           help="Default version of live images (before `global_version`)."),
    Option("signing_command", {"type": "string"},
           help="Command that signs RPM-wrapped live images (`sign: True`)."),
    Option("signing_key_id", {"type": "string"},
           help="Key ID the signed copies are looked up under."),
    Option("signing_key_password_file", {"type": "string"},
           help="File with the signing key's password."),
]


class LiveimagesPhase(PhaseBase):
    """Present so the phase order, --skip-phase and the config are complete; the work itself
    comes with the build service integration (issue 3)."""

    name = "liveimages"
    aliases = ("live_images",)

    def skip_reason(self):
        if not self.conf.live_images:
            return "not configured (live_images is not set)"
        return "not implemented yet: liveimages comes with the build service integration"

    def validate(self):
        if self.conf.live_images:
            return ["live_images is set, but the liveimages phase is not implemented yet; "
                    "remove live_images or skip the phase with --skip-phase liveimages"]
        return []
