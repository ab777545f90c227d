"""image_build: disk images made by the build service's ``image`` task (Pungi's image_build).

Each block of ``image_build`` (``{variant_regex: [{"image-build": {...}, "factory-parameters":
{...}}, ...]}``, Pungi's shape) becomes one ``image`` task for all its arches, submitted as
``koji image-build --config`` does (``buildImageOz(name, version, arches, target, install_tree,
opts)``: one parent task, one ``createImage`` child per arch). The kickstart is uploaded (or
taken from ``ksurl``); the install tree is the compose's own os tree of the variant (or of
``install_tree_from``) with ``$arch`` left for the builder; the repos are the block's ``repo``
entries (variant UIDs become the compose's repos) plus the variant's own repo. ``format`` lists
Pungi's image types (``qcow2``, ``raw``, ``tar-gz`` are what the builders make; the old
``(type, suffix)`` pairs are accepted). ``failable`` arches (or ``["*"]``) become the task's
optional arches; when every arch is failable the deliverable may fail without dooming the compose.

``version`` and ``release`` come from the block, then ``image_build_<key>``, then
``global_<key>`` (Pungi's generators such as ``!RELEASE_FROM_LABEL_DATE_TYPE_RESPIN`` are
expanded; a release set to None is the compose's date, type and respin), ``version`` falling back
to the release version. The images keep the build service's file names, are placed (hard link or
copy, never a symlink) in ``compose/<Variant>/<arch>/images/`` and recorded in images.json with
Pungi's type (the format asked for) and format (its file suffix), not bootable, with the block's
subvariant.
"""

import os

from phases.base import ImageOptionsMixin, PhaseBase
from phases.createiso import record_image
from pungi_like.config.options import (Option, image_default_options, str_or_list,
                                        variant_mapping)
from pungi_like.errors import PhaseError

#: Pungi's image types and the file suffixes that identify them in a task's output
EXTENSIONS = {
    "docker": ["tar.gz", "tar.xz"],
    "liveimg-squashfs": ["liveimg.squashfs"],
    "qcow": ["qcow"],
    "qcow2": ["qcow2"],
    "raw": ["raw"],
    "raw-xz": ["raw.xz"],
    "rhevm-ova": ["rhevm.ova"],
    "tar-gz": ["tar.gz"],
    "vagrant-hyperv": ["vagrant-hyperv.box"],
    "vagrant-libvirt": ["vagrant-libvirt.box"],
    "vagrant-virtualbox": ["vagrant-virtualbox.box"],
    "vagrant-vmware-fusion": ["vagrant-vmware-fusion.box"],
    "vdi": ["vdi"],
    "vmdk": ["vmdk"],
    "vpc": ["vhd"],
    "vsphere-ova": ["vsphere.ova"],
}

STRINGS = {"type": "array", "items": {"type": "string"}}

IMAGE_BUILD_SCHEMA = {
    "type": "object",
    "properties": {
        "image-build": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "kickstart": {"type": "string"},
                "ksurl": {"type": "string"},
                "ksversion": {"type": "string"},
                "format": {"anyOf": [
                    {"enum": sorted(EXTENSIONS)},
                    {"type": "array", "items": {"anyOf": [
                        {"enum": sorted(EXTENSIONS)},
                        # Pungi's deprecated (type, suffix) pairs
                        {"type": "array", "minItems": 2, "maxItems": 2,
                         "prefixItems": [{"enum": sorted(EXTENSIONS)}, {"type": "string"}]},
                    ]}},
                ]},
                "distro": {"type": "string"},
                "disk_size": {"type": ["number", "string"]},
                "arches": STRINGS,
                "repo": str_or_list(),
                "install_tree_from": {"type": "string"},
                "subvariant": {"type": "string"},
                "failable": STRINGS,
                "target": {"type": "string"},
                "version": {"type": "string"},
                "release": {"type": ["string", "null"]},
                "scratch": {"type": "boolean"},
                "specfile": {"type": "string"},
                "ova_option": STRINGS,
            },
            "required": ["name", "kickstart", "format"],
            "additionalProperties": False,
        },
        "factory-parameters": {"type": "object",
                               "additionalProperties": {"type": ["string", "number",
                                                                 "boolean"]}},
    },
    "required": ["image-build"],
    "additionalProperties": False,
}

OPTIONS = [
    Option("image_build", variant_mapping({"type": "array", "items": IMAGE_BUILD_SCHEMA}),
           default={}, mapping="variant",
           help="Disk images built by the build service's `image` task (`koji image-build`), "
                "per variant: `{variant_regex: [{'image-build': {...}, 'factory-parameters': "
                "{...}}, ...]}`; `image-build` has `name`, `kickstart` and `format` (required; "
                "the builders make `qcow2`, `raw`, `tar-gz`), `arches`, `failable` (arches or "
                "`['*']`), `install_tree_from`, `repo`, `subvariant`, `target`, `version`, "
                "`release`, `ksurl`, `ksversion`, `distro`, `disk_size`, `scratch`, "
                "`specfile`, `ova_option`."),
    *image_default_options("image_build", "image_build blocks"),
]

DELIVERABLE = "image-build"


def image_release(compose):
    """Pungi's ``Compose.image_release``: the label's version, else date, type suffix, respin."""
    if compose.compose_label:
        return compose.compose_label.split("-", 1)[1]
    return f"{compose.compose_date}{compose.compose_type_suffix}.{compose.compose_respin}"


def image_version(compose):
    """Pungi's ``Compose.image_version``: the release version (+ ``_<milestone>`` for a
    labelled compose that is not an RC)."""
    version = compose.conf.release_version
    label = compose.compose_label
    if label and not label.startswith("RC-"):
        return f"{version}_{label.split('-', 1)[0]}"
    return version


def version_generator(compose, value):
    """Pungi's version generators (``!NAME``) expanded; other values returned unchanged."""
    generators = {
        "!OSTREE_VERSION_FROM_LABEL_DATE_TYPE_RESPIN":
            lambda: f"{image_version(compose)}.{image_release(compose)}",
        "!RELEASE_FROM_LABEL_DATE_TYPE_RESPIN": lambda: image_release(compose),
        "!RELEASE_FROM_DATE_RESPIN":
            lambda: f"{compose.compose_date}.{compose.compose_respin}",
        "!VERSION_FROM_VERSION_DATE_RESPIN":
            lambda: f"{compose.conf.release_version}.{compose.compose_date}."
                    f"{compose.compose_respin}",
        "!VERSION_FROM_VERSION": lambda: str(compose.conf.release_version),
    }
    if isinstance(value, str) and value.startswith("!"):
        if value not in generators:
            raise PhaseError(f"Unknown version generator {value!r} (known: "
                             f"{', '.join(sorted(generators))})")
        return generators[value]()
    return value


def formats_of(block):
    """The image types asked for (the first item of Pungi's old (type, suffix) pairs)."""
    value = block["format"]
    value = [value] if isinstance(value, str) else value
    return [f[0] if isinstance(f, (list, tuple)) else f for f in value]


class ImageBuildPhase(ImageOptionsMixin, PhaseBase):
    option_prefix = "image_build"
    name = "image_build"
    aliases = ("imagebuild",)

    def skip_reason(self):
        if not self.conf.image_build:
            return "not configured (image_build is not set)"
        return None

    # ---- configuration --------------------------------------------------------------------
    def blocks(self, variant):
        return self.conf.variant_values("image_build", variant.uid)

    def release(self, block):
        """Pungi's ``get_release``: the first of block/phase/global that sets ``release``
        (None meaning the compose's image release), generators expanded."""
        for source, key in ((block, "release"), (self.conf, "image_build_release"),
                            (self.conf, "global_release")):
            present = key in source if isinstance(source, dict) else self.conf.is_set(key)
            if present:
                value = source[key] if isinstance(source, dict) else getattr(self.conf, key)
                return version_generator(self.compose, value) or image_release(self.compose)
        return None

    def version(self, block):
        return (version_generator(self.compose, self.value(block, "version"))
                or image_version(self.compose))

    def arches(self, block, variant):
        arches = {a for a in variant.arches if a != "src"}
        if "arches" in block:
            arches &= set(block["arches"])
        return sorted(arches)

    def failable_arches(self, block, arches):
        failable = list(block.get("failable") or [])
        return list(arches) if failable == ["*"] else sorted(set(failable) & set(arches))

    def tree_variant(self, block, variant):
        if variant.type != "variant" and variant.parent is not None:
            variant = variant.parent
        uid = block.get("install_tree_from") or variant.uid
        found = [v for v in self.compose.all_variants if v.uid == uid]
        if not found:
            raise PhaseError(f"There is no variant {uid} to get install tree from when building "
                             f"image for {variant.uid}.")
        return found[0]

    def repo_entries(self, block, variant):
        repos = block.get("repo") or []
        repos = [repos] if isinstance(repos, str) else list(repos)
        if not variant.is_empty and variant.uid not in repos:
            repos.append(variant.uid)
        return repos

    def validate(self):
        errors = []
        if self.conf.image_build and not (self.conf.koji_profile or
                                          getattr(self.conf, "buildservice", None)):
            errors.append("image_build needs a build service: set koji_profile or buildservice")
        uids = {v.uid for v in self.compose.all_variants}
        for variant in self.compose.all_variants:
            for entry in self.blocks(variant):
                block = entry["image-build"]
                where = f"image_build block {block.get('name')} of {variant.uid}"
                if not self.value(block, "target"):
                    errors.append(f"{where} has no target (set `target`, image_build_target or "
                                  f"global_target)")
                tree = block.get("install_tree_from")
                if tree and "://" not in tree and not tree.startswith("/") and tree not in uids:
                    errors.append(f"{where}: install_tree_from names {tree}, which is no "
                                  f"variant of this compose")
        return errors

    # ---- units ----------------------------------------------------------------------------
    def units(self):
        units = []
        # variants with a repository (an empty variant has none to wait for)
        uids = {v.uid for v in self.compose.all_variants if not v.is_empty}
        for variant in self.compose.all_variants:
            for index, entry in enumerate(self.blocks(variant)):
                block = entry["image-build"]
                arches = self.arches(block, variant)
                if not arches:
                    continue
                subvariant = block.get("subvariant") or variant.uid
                failable = self.failable_arches(block, arches)
                deliverable = (DELIVERABLE, variant.uid, "*", subvariant)
                if failable and set(failable) == set(arches):
                    self.compose.mark_failable(*deliverable)
                tree = block.get("install_tree_from") or variant.uid
                local = [r for r in self.repo_entries(block, variant) + [tree] if r in uids]
                needs = sorted({f"createrepo.{uid}.{arch}" for uid in local for arch in arches})
                formats = "-".join(formats_of(block))
                units.append(self.unit(
                    f"{variant.uid}.{index}", self._run, variant=variant, arch=None,
                    needs=needs, deliverable=deliverable,
                    inputs=dict(self.default_inputs(variant, None), block=entry, arches=arches),
                    log_path=self.paths.log_file(
                        "-".join(arches), f"imagebuild-{variant.uid}-{subvariant}-{formats}")))
        return units

    def _repo_url(self, entry):
        found = [v for v in self.compose.all_variants if v.uid == entry]
        if found:
            return "file://" + self.paths.repository("$arch", found[0])
        if "://" in entry:
            return entry
        return "file://" + self.conf.resolve_path(entry)

    def install_tree(self, block, variant):
        tree = block.get("install_tree_from")
        if tree and ("://" in tree or tree.startswith("/")):
            return tree
        return "file://" + self.paths.os_tree("$arch", self.tree_variant(block, variant))

    def task_options(self, entry, variant, arches):
        """What ``koji image-build --config`` sends as ``opts``."""
        block = entry["image-build"]
        opts = {"format": formats_of(block),
                "repo": [self._repo_url(r) for r in self.repo_entries(block, variant)]}
        for key in ("distro", "ksversion", "specfile", "ova_option"):
            if block.get(key):
                opts[key] = block[key]
        if block.get("disk_size") is not None:
            opts["disk_size"] = str(block["disk_size"])
        if block.get("scratch"):
            opts["scratch"] = True
        failable = self.failable_arches(block, arches)
        if failable:
            opts["optional_arches"] = failable
        release = self.release(block)
        if release:
            opts["release"] = release
        ksurl = self.value(block, "ksurl")
        if ksurl:
            opts["ksurl"] = ksurl
        factory = entry.get("factory-parameters") or {}
        if factory:
            opts["factory_parameter"] = [(k, str(v)) for k, v in sorted(factory.items())]
        return opts

    def _run(self, unit):
        variant = unit.variant
        entry, arches = unit.inputs["block"], unit.inputs["arches"]
        block = entry["image-build"]
        koji = self.compose.koji
        if koji is None:
            raise PhaseError("no build service connection (koji_profile or buildservice)")
        subvariant = block.get("subvariant") or variant.uid
        name, version = block["name"], self.version(block)
        opts = self.task_options(entry, variant, arches)
        if opts.get("ksurl"):
            opts["kickstart"] = block["kickstart"]
        else:
            # image-build names the upload relative to the top directory, not to work/
            opts["kickstart"] = "work/" + koji.upload_file(self.flat_kickstart(block, variant),
                                                           "cli-image")
        target = self.value(block, "target")
        tree = self.install_tree(block, variant)
        with open(unit.log_path, "a", encoding="utf-8") as log:
            log.write(f"buildImageOz({name!r}, {version!r}, {arches!r}, {target!r}, {tree!r}, "
                      f"{opts!r})\n")
        task_id = koji.session.buildImageOz(name, version, arches, target, tree, opts)
        koji.record_task(task_id)
        self.log.info("[image_build] %s: image task %s (%s)", variant.uid, task_id,
                      ", ".join(arches))
        info = koji.wait_for_task(task_id, log_path=unit.log_path)
        from koji import TASK_STATES  # here: koji's import is 0.25 s a compose may not need

        if info["state"] != TASK_STATES["CLOSED"]:
            raise PhaseError(f"ImageBuild task failed: {task_id}. See {unit.log_path} for more "
                             f"details. ({self._failures(koji, task_id)})")
        images = self._find_images(koji, task_id, formats_of(block))
        required = [a for a in arches if a not in opts.get("optional_arches", [])]
        missing = [a for a in required if a not in images]
        if missing:
            raise PhaseError(f"image task {task_id} made no image for {', '.join(missing)}")
        failed = [a for a in arches if a not in images]
        for arch in failed:
            self.compose.fail_deliverable(DELIVERABLE, variant.uid, arch, subvariant,
                                          error=f"image task {task_id} made no image for "
                                                f"{arch} (a failable arch)")
        recorded = []
        for arch, found in sorted(images.items()):
            for source, kind, suffix in found:
                recorded.append(self._collect(variant, arch, source, kind, suffix, subvariant))
        return {"task_id": task_id, "images": sorted(recorded), "failed_arches": failed}

    def _failures(self, koji, task_id):
        """The parent's fault, with each failed createImage child's (the parent only says
        that its subtasks failed)."""
        from koji import TASK_STATES

        parts = [koji.task_failure(task_id)]
        for child in koji.session.getTaskChildren(task_id):
            if child["method"] == "createImage" and child["state"] in (
                    TASK_STATES["CANCELED"], TASK_STATES["FAILED"]):
                parts.append(f"{child['arch']} task {child['id']}: "
                             f"{koji.task_failure(child['id'])}")
        return "; ".join(parts)

    def _find_images(self, koji, task_id, formats):
        """{arch: [(path, type, suffix), ...]} of the task's successful createImage children,
        the files matched to the formats asked for by their suffixes (as Pungi does)."""
        from koji import TASK_STATES

        found = {}
        for child in koji.session.getTaskChildren(task_id, request=True):
            if child["method"] != "createImage" or child["state"] != TASK_STATES["CLOSED"]:
                continue
            imgdata = koji.session.getTaskResult(child["id"])
            scratch = (child.get("request") or [{}])[-1].get("scratch")
            build = None
            if not scratch:
                nvr = f"{imgdata['name']}-{imgdata['version']}-{imgdata['release']}"
                image_build = koji.session.getImageBuild(nvr)
                if not image_build:
                    raise PhaseError(f"image build {nvr} of task {task_id} was not found")
                build = koji.session.getBuild(image_build["build_id"])
            for filename in imgdata["files"]:
                for kind in formats:
                    suffix = next((s for s in EXTENSIONS[kind] if filename.endswith(s)), None)
                    if suffix is None:
                        continue
                    path = (koji.task_output_path(child["id"], filename) if scratch
                            else koji.image_build_path(build, filename))
                    found.setdefault(imgdata["arch"], []).append((path, kind, suffix))
                    break
        return found

    def _collect(self, variant, arch, source, kind, suffix, subvariant):
        target = os.path.join(self.paths.images_dir(arch, variant, create=True),
                              os.path.basename(source))
        local = self.compose.koji.fetch(source, target)
        record_image(self.compose, variant, arch, local, type=kind, format=suffix,
                     bootable=False, subvariant=subvariant)
        return self.paths.relative(local)
