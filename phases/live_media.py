"""live_media: live ISOs made by the build service's ``livemedia`` task, as Pungi's live_media.

Each block of ``live_media`` (``{variant_regex: [block, ...]}``, Pungi's shape) becomes one
``livemedia`` task for all its arches, submitted as ``koji spin-livemedia`` does: the kickstart is
uploaded (or taken from ``ksurl``), the install tree is the compose's own os tree of the variant
(or of ``install_tree_from``) with ``$basearch`` left for the builder, and the repos are the
block's ``repo`` entries (variant UIDs become the compose's repos, other values are passed as they
are) plus the variant's own repo. ``failable`` arches become the task's optional arches; when every
arch is failable the whole deliverable may fail without dooming the compose (FINISHED_INCOMPLETE).

The images keep the build service's file names (``<name>-<arch>-<version>-<release>.iso``), are
copied (hard-linked where possible) into ``compose/<Variant>/<arch>/iso/`` and recorded in
images.json as ``live``/``iso``, disc 1 of 1, bootable, with the block's subvariant.
"""

import os

from phases.base import ImageOptionsMixin, PhaseBase
from pungi_like.config.options import (Option, image_default_options, str_or_list,
                                        variant_mapping)
from pungi_like.errors import PhaseError

LIVE_MEDIA_SCHEMA = {
    "type": "object",
    "properties": {
        "install_tree_from": {"type": "string"},
        "kickstart": {"type": "string"},
        "ksversion": {"type": "string"},
        "ksurl": {"type": "string"},
        "version": {"type": "string"},
        "scratch": {"type": "boolean"},
        "skip_tag": {"type": "boolean"},
        "name": {"type": "string"},
        "subvariant": {"type": "string"},
        "repo": str_or_list(),
        # older Pungi configs (and Pungi's other image phases) append repo_from to repo
        "repo_from": str_or_list(),
        "target": {"type": "string"},
        "title": {"type": "string"},
        "arches": {"type": "array", "items": {"type": "string"}},
        "failable": {"type": "array", "items": {"type": "string"}},
        "release": {"type": ["string", "null"]},
    },
    "required": ["name", "kickstart"],
    "additionalProperties": False,
}

OPTIONS = [
    Option("live_media", variant_mapping({"type": "array", "items": LIVE_MEDIA_SCHEMA}),
           default={},
           help="Live ISOs built by the build service's `livemedia` task (`koji "
                "spin-livemedia`), per variant: `{variant_regex: [block, ...]}`; a block has "
                "`name` and `kickstart` (required), `arches` (default: the variant's), "
                "`failable` (arches, or `['*']`), `install_tree_from` (a variant UID), `repo`, "
                "`subvariant`, `target`, `version`, `release`, `ksurl`, `ksversion`, `scratch`, "
                "`skip_tag`, `title`; `repo_from` (older configs) is appended to `repo`."),
    *image_default_options("live_media", "live_media blocks"),
]

DELIVERABLE = "live-media"


class LiveMediaPhase(ImageOptionsMixin, PhaseBase):
    option_prefix = "live_media"
    name = "live_media"
    aliases = ("livemedia",)

    def skip_reason(self):
        if not self.conf.live_media:
            return "not configured (live_media is not set)"
        return None

    # ---- configuration --------------------------------------------------------------------
    def blocks(self, variant):
        return self.conf.variant_values("live_media", variant.uid)

    def arches(self, block, variant):
        arches = {a for a in variant.arches if a != "src"}
        if "arches" in block:
            arches &= set(block["arches"])
        return sorted(arches)

    def failable_arches(self, block, arches):
        failable = list(block.get("failable") or [])
        return list(arches) if failable == ["*"] else sorted(set(failable) & set(arches))

    def install_tree_variant(self, block, variant):
        uid = block.get("install_tree_from")
        if not uid:
            return variant
        found = [v for v in self.compose.all_variants if v.uid == uid]
        if not found:
            raise PhaseError(f"There is no variant {uid} to get repo from when building live "
                             f"media for {variant.uid}.")
        return found[0]

    def repo_entries(self, block, variant):
        repos = []
        for key in ("repo", "repo_from"):
            value = block.get(key) or []
            repos += [value] if isinstance(value, str) else list(value)
        if variant.uid not in repos:
            repos.append(variant.uid)
        return repos

    def validate(self):
        errors = []
        if self.conf.live_media and not (self.conf.koji_profile or
                                         getattr(self.conf, "buildservice", None)):
            errors.append("live_media needs a build service: set koji_profile or buildservice")
        uids = {v.uid for v in self.compose.all_variants}
        for variant in self.compose.all_variants:
            for block in self.blocks(variant):
                where = f"live_media block {block.get('name')} of {variant.uid}"
                if not self.value(block, "target"):
                    errors.append(f"{where} has no target (set `target`, live_media_target or "
                                  f"global_target)")
                if block.get("install_tree_from") and block["install_tree_from"] not in uids:
                    errors.append(f"{where}: install_tree_from names {block['install_tree_from']},"
                                  f" which is no variant of this compose")
                if not self.arches(block, variant):
                    errors.append(f"{where}: none of its arches {block.get('arches')} is an arch "
                                  f"of the variant ({', '.join(variant.arches)})")
        return errors

    # ---- units ----------------------------------------------------------------------------
    def units(self):
        units = []
        uids = {v.uid for v in self.compose.all_variants}
        for variant in self.compose.all_variants:
            for index, block in enumerate(self.blocks(variant)):
                arches = self.arches(block, variant)
                if not arches:
                    continue
                subvariant = block.get("subvariant") or variant.uid
                failable = self.failable_arches(block, arches)
                deliverable = (DELIVERABLE, variant.uid, "*", subvariant)
                if set(failable) == set(arches):
                    self.compose.mark_failable(*deliverable)
                tree_uid = block.get("install_tree_from") or variant.uid
                repo_uids = [r for r in self.repo_entries(block, variant) if r in uids]
                needs = sorted({f"createrepo.{uid}.{arch}" for uid in repo_uids + [tree_uid]
                                for arch in arches})
                units.append(self.unit(
                    f"{variant.uid}.{index}", self._run, variant=variant, arch=None,
                    needs=needs, deliverable=deliverable,
                    inputs=dict(self.default_inputs(variant, None), block=block, arches=arches),
                    log_path=self.paths.log_file("-".join(arches),
                                                 f"livemedia-{variant.uid}-{subvariant}")))
        return units

    def _repo_url(self, entry):
        found = [v for v in self.compose.all_variants if v.uid == entry]
        if found:
            return "file://" + self.paths.repository("$basearch", found[0])
        if "://" in entry:
            return entry
        return "file://" + self.conf.resolve_path(entry)

    def task_options(self, block, variant, arches):
        tree_variant = self.install_tree_variant(block, variant)
        opts = {
            "install_tree_url": "file://" + self.paths.os_tree("$basearch", tree_variant),
            "repo": [self._repo_url(r) for r in self.repo_entries(block, variant)],
            "scratch": bool(block.get("scratch", False)),
        }
        failable = self.failable_arches(block, arches)
        if failable:
            opts["optional_arches"] = failable
        for key in ("skip_tag", "ksversion", "title"):
            if block.get(key):
                opts[key] = block[key]
        release = self.value(block, "release")
        if release:
            opts["release"] = release
        ksurl = self.value(block, "ksurl")
        if ksurl:
            opts["ksurl"] = ksurl
        return opts

    def version(self, block):
        return self.value(block, "version") or self.conf.release_version

    def _run(self, unit):
        variant = unit.variant
        block, arches = unit.inputs["block"], unit.inputs["arches"]
        koji = self.compose.koji
        if koji is None:
            raise PhaseError("no build service connection (koji_profile or buildservice)")
        subvariant = block.get("subvariant") or variant.uid
        name, version = block["name"], self.version(block)
        opts = self.task_options(block, variant, arches)
        if opts.get("ksurl"):
            kickstart = block["kickstart"]
        else:
            kickstart = koji.upload_file(self.flat_kickstart(block, variant), "cli-livemedia")
        target = self.value(block, "target")
        with open(unit.log_path, "a", encoding="utf-8") as log:
            log.write(f"buildImage({name!r}, {version!r}, {arches!r}, {target!r}, "
                      f"{kickstart!r}, 'livemedia', {opts!r})\n")
        task_id = koji.session.buildImage(name, version, arches, target, kickstart, "livemedia",
                                          opts)
        koji.record_task(task_id)
        self.log.info("[live_media] %s: livemedia task %s (%s)", variant.uid, task_id,
                      ", ".join(arches))
        info = koji.wait_for_task(task_id, log_path=unit.log_path)
        if info["state"] != 2:  # CLOSED
            raise PhaseError(f"Live media task failed: {task_id}. See {unit.log_path} for more "
                             f"details. ({self._failure(koji, task_id)})")
        images = self._find_images(koji, task_id)
        failed = [a for a in arches if a not in images]
        required = [a for a in arches if a not in opts.get("optional_arches", [])]
        if [a for a in required if a not in images]:
            raise PhaseError(f"Image count mismatch in task {task_id}: no image for "
                             f"{', '.join(a for a in required if a not in images)}")
        for arch in failed:
            self.compose.fail_deliverable(DELIVERABLE, variant.uid, arch, subvariant,
                                          error=f"live media task {task_id} made no image for "
                                                f"{arch} (a failable arch)")
        recorded = {}
        for arch, source in sorted(images.items()):
            recorded[arch] = self._collect(variant, arch, source, subvariant)
        return {"task_id": task_id, "images": recorded, "failed_arches": failed}

    @staticmethod
    def _failure(koji, task_id):
        """The parent's fault plus each failed child's ("all subtasks failed" alone says
        nothing)."""
        parts = [koji.task_failure(task_id)]
        for child in koji.session.getTaskChildren(task_id):
            if child["state"] == 5:  # FAILED
                parts.append(f"task {child['id']} ({child['method']} {child['arch']}): "
                             f"{koji.task_failure(child['id'])}")
        return "; ".join(parts)

    def _find_images(self, koji, task_id):
        """{arch: path of the ISO} of the task's successful createLiveMedia children."""
        found = {}
        for child in koji.session.getTaskChildren(task_id, request=True):
            if child["method"] != "createLiveMedia" or child["state"] != 2:
                continue
            imgdata = koji.session.getTaskResult(child["id"])
            files = [f for f in imgdata["files"] if f.endswith(".iso")]
            if len(files) != 1:
                raise PhaseError(f"task {child['id']} made {files}, expected exactly one ISO")
            scratch = (child.get("request") or [{}])[-1].get("scratch")
            if scratch:
                found[imgdata["arch"]] = koji.task_output_path(child["id"], files[0])
            else:
                nvr = f"{imgdata['name']}-{imgdata['version']}-{imgdata['release']}"
                build = koji.session.getImageBuild(nvr)
                if not build:
                    raise PhaseError(f"image build {nvr} of task {task_id} was not found")
                found[imgdata["arch"]] = koji.image_build_path(
                    koji.session.getBuild(build["build_id"]), files[0])
        return found

    def _collect(self, variant, arch, source, subvariant):
        from phases.createiso import record_image
        from pungi_like.media import iso as isomod

        directory = self.paths.iso_dir(arch, variant, create=True)
        target = os.path.join(directory, os.path.basename(source))
        local = self.compose.koji.fetch(source, target)
        isomod.write_manifest(local)
        record_image(self.compose, variant, arch, local, type="live", format="iso",
                     bootable=True, subvariant=subvariant,
                     implant_md5=isomod.implanted_md5(local),
                     volume_id=isomod.read_volume_id(local))
        return self.paths.relative(local)
