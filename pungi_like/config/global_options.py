"""Compose-wide options: release identity, variants, arches, threads, build service access."""

import os

from pungi_like.config.options import (Option, scm_dict_schema, variant_arch_mapping)

RELEASE_TYPES = ["fast", "ga", "updates", "updates-testing", "eus", "aus", "els", "tus", "e4s"]
COMPOSE_TYPES = ["production", "nightly", "test", "ci", "development"]
RUNROOT_METHODS = ["local", "koji", "openssh"]
DELIVERABLES = ["buildinstall", "iso", "live", "image-build", "live-media", "ostree",
                "ostree-installer", "osbs", "osbuild", "extra-iso"]

# Phase names accepted by skip_phases: ours and Pungi's (Pungi's extra phases simply do not run).
SKIPPABLE_PHASES = [
    "buildinstall", "createiso", "createrepo", "extra_files", "extra_isos", "gather",
    "image_build", "image_checksum", "imagechecksum", "live_images", "live_media",
    "liveimages", "osbs", "osbuild", "ostree", "ostree_installer", "ostree_container",
    "pkgset", "productimg", "repoclosure", "test",
]


def _cpu_count(raw):
    """the number of CPUs"""
    return os.cpu_count() or 1


OPTIONS = [
    Option("release_name", {"type": "string", "minLength": 1}, required=True,
           help="Full name of the release, e.g. `Fedora`."),
    Option("release_short", {"type": "string", "pattern": "^[A-Za-z0-9._+-]+$"},
           required=True,
           help="Short name used in the compose ID and file names, e.g. `Fedora`."),
    Option("release_version", {"type": "string", "minLength": 1}, required=True,
           help="Release version: dotted digits (`1.0`) or a word (`Rawhide`)."),
    Option("release_type", {"enum": RELEASE_TYPES}, default="ga",
           help="Release type; anything but `ga` is added to the compose ID."),
    Option("release_internal", {"type": "boolean"}, default=False,
           help="Mark the release as internal in composeinfo."),
    Option("release_discinfo_description", {"type": "string"},
           help="Description written to `.discinfo` (default `<name> <version>`)."),
    Option("treeinfo_version", {"type": "string"},
           help="Version written to `.treeinfo` and given to the installer (default "
                "`release_version`)."),
    Option("base_product_name", {"type": "string"},
           help="Name of the base product of a layered product; setting the three "
                "`base_product_*` options makes the release layered."),
    Option("base_product_short", {"type": "string"},
           help="Short name of the base product (layered products)."),
    Option("base_product_version", {"type": "string"},
           help="Version of the base product (layered products)."),
    Option("base_product_type", {"enum": RELEASE_TYPES}, default="ga",
           help="Release type of the base product."),
    Option("variants_file", scm_dict_schema(), required=True,
           help="The variants XML: a path relative to the config file, or an SCM dict."),
    Option("tree_arches", {"type": "array", "items": {"type": "string"}}, default=[],
           help="Only these arches are composed (empty: every arch of the variants file)."),
    Option("tree_variants", {"type": "array", "items": {"type": "string"}}, default=[],
           help="Only these variant UIDs are composed (empty: every variant)."),
    Option("compose_type", {"enum": COMPOSE_TYPES},
           help="Compose type used when the command line names none (`--nightly` etc. win); "
                "unset means production."),
    Option("failable_deliverables", variant_arch_mapping(
               {"type": "array", "items": {"enum": DELIVERABLES}}),
           default=[], mapping="variant_arch",
           help="Deliverables whose failure for a variant.arch leaves the compose "
                "FINISHED_INCOMPLETE instead of DOOMED. pungi_like acts on `buildinstall` and "
                "`iso`; Pungi's other names (" + ", ".join(DELIVERABLES[2:]) + ") are accepted."),
    Option("num_threads", {"type": "integer", "minimum": 1}, default=_cpu_count,
           help="Units running at once; units estimated to be short (a source tree's "
                "createrepo and ISO, checksums, repoclosure) may run beside them, up to as many "
                "again (not with 1)."),
    Option("koji_profile", {"type": "string"},
           help="Koji client profile of the build service (server URL, top directory, auth); "
                "unset means the embedded build service."),
    Option("runroot_method",
           {"anyOf": [{"enum": RUNROOT_METHODS},
                      {"type": "object", "propertyNames": {"type": "string"},
                       "additionalProperties": {"enum": RUNROOT_METHODS}}]},
           help="Where commands run: `local`, `koji` or `openssh`, or a dict per phase. "
                "Default `local`, or `koji` when only `runroot_tag` is set."),
    Option("global_runroot_method", {"enum": RUNROOT_METHODS},
           help="Runroot method for phases not named in a per-phase `runroot_method`."),
    Option("runroot_tag", {"type": "string"},
           help="Build service tag whose buildroot runs runroot commands."),
    Option("runroot_channel", {"type": "string"},
           help="Build service channel of runroot tasks."),
    Option("runroot_weights", {"type": "object", "additionalProperties": {"type": "number"}},
           default={},
           help="Task weight per phase for runroot tasks, e.g. `{'buildinstall': 3}`."),
    Option("translate_paths",
           {"type": "array",
            "items": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "string"}],
                      "minItems": 2, "maxItems": 2, "items": False}},
           default=[],
           help="`[(local_prefix, remote_prefix), ...]`: how paths in the compose are seen "
                "from builders and in notifications."),
    Option("skip_phases", {"type": "array", "items": {"enum": SKIPPABLE_PHASES}}, default=[],
           help="Phases never run for this config (like `--skip-phase`)."),
    Option("global_ksurl", {"type": "string"},
           help="Default `ksurl` of image deliverables."),
    Option("global_target", {"type": "string"},
           help="Default build target of image deliverables."),
    Option("global_release", {"type": ["string", "null"]},
           help="Default release of image deliverables (`!RELEASE_FROM_...` magic values "
                "allowed)."),
    Option("global_version", {"type": "string"},
           help="Default version of image deliverables."),
]

# The embedded build service section lives in its own module (one concept, one module).
from pungi_like.config.buildservice_options import OPTIONS as _BUILDSERVICE_OPTIONS  # noqa: E402

OPTIONS += _BUILDSERVICE_OPTIONS

# Pungi's *_allow_reuse options of phases that do not read them themselves (pungi_like.reuse)
from pungi_like.reuse import _options as _reuse_options  # noqa: E402

OPTIONS += _reuse_options()
