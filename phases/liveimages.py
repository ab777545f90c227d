"""liveimages: live and appliance images built by the build service from kickstarts.

Each block of ``live_images`` becomes one task on the build service per arch, submitted as
``koji spin-livecd`` / ``spin-appliance`` do (the kickstart is uploaded, then ``buildImage``),
with the compose's own variant repos as the task's repos unless the block names others. The
compose waits for the task, copies the image into ``compose/<V>/<arch>/iso/`` (live) or
``images/`` (appliance) under Pungi's name, and records it in images.json. A block with
``failable: True`` may fail without dooming the compose.
"""

import os

from phases.base import ImageOptionsMixin, PhaseBase
from pungi_like.config.options import (Option, image_default_options, str_or_list,
                                        variant_arch_mapping)
from pungi_like.errors import PhaseError
from pungi_like.fileutil import write_atomic

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
    *image_default_options("live_images", "live images"),
    Option("signing_command", {"type": "string"},
           help="Command that signs RPM-wrapped live images (`sign: True`)."),
    Option("signing_key_id", {"type": "string"},
           help="Key ID the signed copies are looked up under."),
    Option("signing_key_password_file", {"type": "string"},
           help="File with the signing key's password."),
]



IMAGE_EXTENSIONS = {"live": (".iso",), "appliance": (".raw.xz", ".raw", ".qcow2")}


class LiveimagesPhase(ImageOptionsMixin, PhaseBase):
    option_prefix = "live_images"
    name = "liveimages"
    aliases = ("live_images",)

    def skip_reason(self):
        if not self.conf.live_images:
            return "not configured (live_images is not set)"
        return None

    def validate(self):
        errors = []
        if self.conf.live_images and not (self.conf.koji_profile or
                                          getattr(self.conf, "buildservice", None)):
            errors.append("live_images needs a build service: set koji_profile or buildservice")
        for variant in self.compose.all_variants:
            for arch in variant.arches:
                for block in self.blocks(variant, arch):
                    if not self.value(block, "target"):
                        errors.append(f"live_images block {block.get('name') or block['kickstart']}"
                                      f" for {variant.uid}.{arch} has no target (set `target`, "
                                      f"live_images_target or global_target)")
        return errors

    def blocks(self, variant, arch):
        found = []
        for value in self.conf.variant_arch_values("live_images", variant.uid, arch):
            found.extend(value if isinstance(value, list) else [value])
        return found

    def units(self):
        units = []
        for variant in self.compose.all_variants:
            for arch in variant.arches:
                for index, block in enumerate(self.blocks(variant, arch)):
                    subvariant = block.get("subvariant") or variant.uid
                    kind = "live" if block.get("type", "live") == "live" else "appliance"
                    deliverable = (kind, variant.uid, arch, subvariant)
                    if block.get("failable"):
                        self.compose.mark_failable(*deliverable)
                    repo_variants = self.repo_variants(block, variant)
                    units.append(self.unit(
                        f"{variant.uid}.{arch}.{index}", self._run, variant=variant, arch=arch,
                        needs=[f"createrepo.{uid}.{arch}" for uid in repo_variants],
                        deliverable=deliverable,
                        inputs={"block": block, "arch": arch, "variant": variant.uid},
                        log_path=self.paths.log_file(
                            arch, f"liveimage-{variant.uid}-{subvariant}-{index}")))
        return units

    def repo_variants(self, block, variant):
        """UIDs of compose variants used as repos (the block's own, or the variant itself)."""
        repos = block.get("repo") or [variant.uid]
        repos = [repos] if isinstance(repos, str) else repos
        uids = {v.uid for v in self.compose.all_variants}
        return [r for r in repos if r in uids]

    def repo_urls(self, block, variant, arch):
        repos = block.get("repo") or [variant.uid]
        repos = [repos] if isinstance(repos, str) else repos
        urls = []
        for repo in repos:
            if repo in {v.uid for v in self.compose.all_variants}:
                path = self.paths.repository(arch, self.compose.get_variant(repo))
                urls.append("file://" + path)
            elif "://" in repo:
                urls.append(repo)
            else:
                urls.append("file://" + self.conf.resolve_path(repo))
        return urls

    def _run(self, unit):
        variant, arch = unit.variant, unit.arch
        block = unit.inputs["block"]
        koji = self.compose.koji
        if koji is None:
            raise PhaseError("no build service connection (koji_profile or buildservice)")
        kind = "livecd" if block.get("type", "live") == "live" else "appliance"
        subvariant = block.get("subvariant") or variant.uid
        name = block.get("name") or (f"{self.conf.release_short}-{subvariant}-"
                                     f"{'Live' if kind == 'livecd' else 'Disk'}-{arch}")
        version = self.value(block, "version") or self.compose.compose_id.rsplit("-", 1)[-1]
        release = self.value(block, "release")
        scratch = block.get("scratch", True)
        opts = {"repo": self.repo_urls(block, variant, arch), "scratch": bool(scratch)}
        if release:
            opts["release"] = release
        ksurl = self.value(block, "ksurl")
        if ksurl:
            opts["ksurl"] = ksurl
            kickstart = block["kickstart"]
        else:
            kickstart = koji.upload_file(self.flat_kickstart(block, variant, arch, name),
                                         f"cli-{kind}")
        target = self.value(block, "target")
        with open(unit.log_path, "a", encoding="utf-8") as log:
            log.write(f"buildImage({name!r}, {version!r}, {arch!r}, {target!r}, {kickstart!r}, "
                      f"{kind!r}, {opts!r})\n")
        task_id = koji.session.buildImage(name, version, arch, target, kickstart, kind, opts)
        koji.record_task(task_id)
        self.log.info("[liveimages] %s.%s: %s task %s", variant.uid, arch, kind, task_id)
        info = koji.wait_for_task(task_id, log_path=unit.log_path)
        if info["state"] != 2:  # CLOSED
            raise PhaseError(f"Live task failed: {task_id}. See {unit.log_path} for more "
                             f"details. ({koji.task_failure(task_id)})")
        source = self._find_image(koji, task_id, kind)
        return self._collect(unit, source, name, subvariant, kind, task_id)

    def flat_kickstart(self, block, variant, arch, name):
        """The block's kickstart with its %include chain expanded (the build service gets one
        file, as spin-livecd uploads one), written to work/<arch>/live/; errors name the file
        and line."""
        from pungi_like.buildsvc.builder.kickstart import KickstartFileError, flatten_includes

        source = self.conf.resolve_path(block["kickstart"])
        try:
            flat = flatten_includes(source)
        except KickstartFileError as exc:
            raise PhaseError(f"live_images kickstart {block['kickstart']}: {exc}") from None
        target = os.path.join(self.paths.work_dir(arch, create=True), "live",
                              f"{variant.uid}-{name}.ks")
        write_atomic(target, flat.text)
        return target

    def _find_image(self, koji, task_id, kind):
        """Path of the image the task made (scratch: task output; else the image build)."""
        child_method = {"livecd": "createLiveCD", "appliance": "createAppliance"}[kind]
        children = [c for c in koji.session.getTaskChildren(task_id, request=True)
                    if c["method"] == child_method]
        if not children:
            raise PhaseError(f"task {task_id} has no {child_method} child")
        child = children[0]
        imgdata = koji.session.getTaskResult(child["id"])
        extensions = IMAGE_EXTENSIONS["live" if kind == "livecd" else "appliance"]
        files = [f for f in imgdata["files"] if f.endswith(extensions)]
        if len(files) != 1:
            raise PhaseError(f"task {child['id']} made {files}, expected exactly one image")
        scratch = (child.get("request") or [{}])[-1].get("scratch")
        if scratch:
            return koji.task_output_path(child["id"], files[0])
        nvr = f"{imgdata['name']}-{imgdata['version']}-{imgdata['release']}"
        build = koji.session.getImageBuild(nvr)
        if not build:
            raise PhaseError(f"image build {nvr} of task {task_id} was not found")
        return koji.image_build_path(koji.session.getBuild(build["build_id"]), files[0])

    def _collect(self, unit, source, name, subvariant, kind, task_id):
        from phases.createiso import record_image
        from pungi_like.media.naming import compose_image_name
        from pungi_like.media import iso as isomod

        variant, arch = unit.variant, unit.arch
        if kind == "livecd":
            directory = self.paths.iso_dir(arch, variant, create=True)
            if self.conf.live_images_no_rename:
                filename = os.path.basename(source)
            else:
                filename = compose_image_name(self.compose, variant, arch, "live", disc_num=None)
        else:
            directory = self.paths.images_dir(arch, variant, create=True)
            filename = os.path.basename(source)
        target = os.path.join(directory, filename)
        local = self.compose.koji.fetch(source, target)
        fields = dict(type="live" if kind == "livecd" else "raw-xz", bootable=True,
                      subvariant=subvariant)
        if kind == "livecd":
            fields.update(format="iso", implant_md5=isomod.implanted_md5(local),
                          volume_id=isomod.read_volume_id(local))
            isomod.write_manifest(local)
        else:
            fields.update(format="raw.xz")
        record_image(self.compose, variant, arch, local, **fields)
        return {"task_id": task_id, "image": self.paths.relative(local)}
