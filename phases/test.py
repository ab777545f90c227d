"""test: repoclosure of every repo, sanity of every image, reload of the manifests."""

import os

from pungi_like.lazyimport import lazy_module

from phases import IMAGE_PHASES
from phases.base import PhaseBase
from pungi_like.config.options import Option, variant_arch_mapping
from pungi_like.errors import PhaseError

# libsolv imported when a repoclosure runs: a re-run that takes them all never imports it
solv = lazy_module("solv", globals(), "solv")

OPTIONS = [
    Option("repoclosure_strictness",
           variant_arch_mapping({"enum": ["off", "lenient", "fatal"]}),
           default=[[".*", {"*": "lenient"}]], mapping="variant_arch",
           help="Per variant.arch: `off` skips repoclosure, `lenient` only warns, `fatal` "
                "dooms the compose on unresolved dependencies. The last matching value wins."),
    Option("repoclosure_backend", {"enum": ["dnf"]}, default="dnf",
           help="Repoclosure tool; accepted for compatibility with Pungi, only `dnf` is valid."),
    Option("test_boot", {"type": "boolean"}, default=False,
           help="Boot every bootable image in qemu (TCG, serial console) and require the "
                "marker of its type (`test_boot_markers`) on the console."),
    Option("test_boot_markers", {"type": "object", "additionalProperties": {"type": "string"}},
           default={},
           help="Per image type (`boot`, `dvd`, `live`, ...) the text the booted system prints "
                "when it is up; needed for every bootable image type when `test_boot` is on. "
                "Disk images (`qcow2`, `raw`) whose type is named here are booted from disk, "
                "with UEFI only."),
    Option("test_boot_firmwares", {"type": "array", "minItems": 1,
                                   "items": {"enum": ["bios", "uefi"]}},
           default=["bios", "uefi"],
           help="Firmwares each bootable image is booted with (`uefi` uses OVMF)."),
    Option("test_boot_timeout", {"type": "integer", "minimum": 10}, default=300,
           help="Seconds one boot may take before the test counts it as failed."),
]


# deps rpm satisfies by itself, never listed in repodata
_BUILTIN_DEP_PREFIXES = ("rpmlib(", "config(")


def repoclosure(repo_dirs, lookaside_dirs=(), arch="x86_64"):
    """Unresolved dependencies of the packages in ``repo_dirs``: a sorted list of
    ``(package NEVRA, dependency)``. Packages of ``lookaside_dirs`` may satisfy dependencies but are
    not checked themselves; file dependencies are resolved through filelists."""
    from pungi_like.rpmtools.depsolve import Depsolver, Repo

    repos = [Repo(f"repo{i}", path) for i, path in enumerate(repo_dirs)]
    repos += [Repo(f"lookaside{i}", path, lookaside=True) for i, path in enumerate(lookaside_dirs)]
    # the pool alone: per-package records (paths, source RPMs, newest-version index) are for
    # gathering, and making them costs more than the check itself
    solver = Depsolver(repos, arch, index=False)
    broken = []
    for repo in repos:
        if repo.lookaside:
            continue
        for s in solver.srepos[repo.name].solvables:
            if s.arch in ("src", "nosrc"):
                continue
            for dep in s.lookup_deparray(solv.SOLVABLE_REQUIRES):
                if solver.pool.whatprovides(dep):
                    continue
                text = str(dep)
                if not text.startswith(_BUILTIN_DEP_PREFIXES):
                    broken.append((_nevra(s), text))
    return sorted(set(broken))


def _nevra(solvable):
    """``name-epoch:version-release.arch`` (epoch 0 when the package has none)."""
    evr = solvable.evr
    if ":" not in evr:
        evr = "0:" + evr
    return f"{solvable.name}-{evr}.{solvable.arch}"


class TestPhase(PhaseBase):
    name = "test"

    def strictness(self, variant, arch):
        values = self.conf.variant_arch_values("repoclosure_strictness", variant.uid, arch)
        return values[-1] if values else "lenient"

    def units(self):
        units = []
        for variant in self.compose.all_variants:
            if variant.is_empty:
                continue
            for arch in variant.arches:
                if self.strictness(variant, arch) == "off":
                    continue
                units.append(self.unit(
                    f"repoclosure.{variant.uid}.{arch}", self._repoclosure, variant=variant,
                    arch=arch, needs=[f"createrepo.{variant.uid}.{arch}"]
                    + ([f"createrepo.{variant.parent.uid}.{arch}"] if variant.parent else []),
                    log_path=self.paths.log_file(arch, f"repoclosure-{variant.uid}")))
        if self.conf.test_boot:
            for variant in self.compose.all_variants:
                for arch in variant.arches:
                    # every image unit of the variant (unit names go on past the arch:
                    # liveimages.V.arch.N, live_media.V.N)
                    after = [f"{p}.{variant.uid}.*" for p in IMAGE_PHASES]
                    for firmware in self.conf.test_boot_firmwares:
                        units.append(self.unit(
                            f"boot.{variant.uid}.{arch}.{firmware}", self._boot,
                            variant=variant, arch=arch, after=after, inputs={"fw": firmware},
                            log_path=self.paths.log_file(arch,
                                                         f"test-boot-{variant.uid}-{firmware}")))
        units.append(self.unit("images", self._check_images, needs=["metadata.write"],
                               log_path=self.paths.log_file("global", "test-images")))
        units.append(self.unit("manifests", self._check_manifests, needs=["metadata.write"],
                               log_path=self.paths.log_file("global", "test-manifests")))
        return units

    # ---- repoclosure ----------------------------------------------------------------------
    def _lookasides(self, variant, arch):
        """The parent's repo (addons, optional, layered products lean on it) and the
        gather_lookaside_repos of the variant."""
        dirs = []
        parent = variant.parent
        while parent is not None:
            dirs.append(self.paths.repository(arch, parent))
            parent = parent.parent
        for repo in self.conf.variant_arch_values("gather_lookaside_repos", variant.uid, arch):
            dirs.append(self.conf.resolve_path(repo))
        return dirs

    def _repoclosure(self, unit):
        variant, arch = unit.variant, unit.arch
        repo = self.paths.repository(arch, variant)
        lookasides = self._lookasides(variant, arch)
        broken = repoclosure([repo], lookasides, arch)
        with open(unit.log_path, "a", encoding="utf-8") as fh:
            fh.write(f"repoclosure of {repo}\n")
            for path in lookasides:
                fh.write(f"lookaside {path}\n")
            for nevra, dep in broken:
                fh.write(f"package: {nevra}\n  unresolved deps:\n    {dep}\n")
            fh.write(f"{len(broken)} unresolved dependencies\n")
        if broken:
            text = ", ".join(f"{n} requires {d}" for n, d in broken[:10])
            more = f" (and {len(broken) - 10} more)" if len(broken) > 10 else ""
            if self.strictness(variant, arch) == "fatal":
                raise PhaseError(f"Repoclosure failed for {variant.uid}.{arch}: {text}{more}")
            self.log.warning("Repoclosure failed for %s.%s: %s%s", variant.uid, arch, text, more)
        return {"unresolved": len(broken)}

    # ---- boot tests -----------------------------------------------------------------------
    def _boot(self, unit):
        from pungi_like.media.qemu import boot

        firmware = unit.inputs["fw"]
        images = [img for v, a, img in self.compose.images.items()
                  if v == unit.variant.uid and a == unit.arch and img.arch == unit.arch
                  and ((img.bootable and img.format == "iso")
                       or self._boots_as_disk(img, firmware))]
        results = {}
        failures = []
        for image in images:
            marker = self.conf.test_boot_markers.get(image.type)
            if not marker:
                raise PhaseError(f"test_boot is on but test_boot_markers has no marker for "
                                 f"image type {image.type!r} ({image.path})")
            path = os.path.join(self.paths.compose_dir(), image.path)
            disk = self._boots_as_disk(image, firmware)
            result = boot(path, firmware=firmware, media="disk" if disk else "cdrom",
                          disk_format=image.format if disk else "raw", marker=marker,
                          timeout=self.conf.test_boot_timeout, log_path=unit.log_path)
            results[image.path] = {"ok": result.ok, "seconds": round(result.seconds, 1),
                                   "marker_seconds": result.marker_seconds}
            if not result.ok:
                failures.append(f"{image.path} ({firmware}): no {marker!r} on the console "
                                f"within {self.conf.test_boot_timeout} s; last lines:\n"
                                + result.tail(10))
        if failures:
            raise PhaseError("boot test failed: " + "\n".join(failures))
        return {"booted": results}

    def _boots_as_disk(self, image, firmware):
        """Disk images (image_build's qcow2 and raw; Pungi records them as not bootable) are
        booted when ``test_boot_markers`` names their type, with UEFI only: the builders'
        disks have no BIOS boot loader."""
        return (image.format in ("qcow2", "raw") and image.type in self.conf.test_boot_markers
                and firmware == "uefi")

    # ---- images ---------------------------------------------------------------------------
    def _check_images(self, unit):
        from pungi_like.media.checks import check_image

        problems = []
        checked = 0
        for variant_uid, arch, image in self.compose.images.items():
            path = os.path.join(self.paths.compose_dir(), image.path)
            checked += 1
            for problem in check_image(path, image, self.conf, variant_uid, arch):
                problems.append(f"{image.path}: {problem}")
        if problems:
            raise PhaseError("image checks failed:\n  " + "\n  ".join(problems))
        return {"images_checked": checked}

    # ---- manifests ------------------------------------------------------------------------
    def _check_manifests(self, unit):
        """Reload every manifest with productmd, as QA tools will. rpms.json's package
        payload is not parsed again when an old compose's reload checked the same bytes
        (``_payload_checked_before``): only the document around it is."""
        import productmd.compose

        loaded = productmd.compose.Compose(self.paths.compose_dir())
        info = loaded.info
        if info.compose.id != self.compose.compose_id:
            raise PhaseError(f"composeinfo.json names compose {info.compose.id}, "
                             f"expected {self.compose.compose_id}")
        count = self._payload_checked_before()
        if count is None:
            rpms = loaded.rpms
            count = sum(len(n) for v in rpms.rpms.values() for a in v.values()
                        for n in a.values())
        images = 0
        if os.path.exists(self.paths.metadata_file("images.json")):
            images = sum(len(a) for v in loaded.images.images.values() for a in v.values())
        return {"variants": sorted(info.variants.variants), "rpms": count, "images": images}

    def _payload_checked_before(self):
        """The package count of rpms.json when the reload of an old compose's rpms.json
        (that compose's ``test.manifests``, ended well after the file was last written)
        parsed the very bytes this compose wrote after the ``"rpms"`` key
        (``metadata.same_rpms_payload``: a no-op re-run's 3.5 MB of JSON at 10,000 RPMs, 15-25
        ms of the unit's 25 on the compose's last path); the rest of this rpms.json, with an
        empty payload, is loaded by productmd here. None: parse it all."""
        import json

        import productmd.rpms

        from pungi_like import metadata

        pool = getattr(self.compose, "reuse_pool", None)
        written = self.compose.rpms.written_payload
        if pool is None or not written:
            return None
        for old in pool._units("test.manifests"):
            count = (old.record.get("outputs") or {}).get("rpms")
            path = os.path.join(old.topdir, "compose", "metadata", "rpms.json")
            try:
                checked = type(count) is int and \
                    os.stat(path).st_mtime <= old.record["end"] and \
                    metadata.same_rpms_payload(path, written)
            except (OSError, KeyError, TypeError):
                checked = False
            if not checked:
                continue
            with open(self.paths.metadata_file("rpms.json"), "rb") as fh:
                head = fh.read(1 << 16)
            at = head.find(b'"payload": {')
            at = head.find(b'"rpms": ', at) if at >= 0 else -1
            if at < 0:
                return None
            rpms = productmd.rpms.Rpms()
            rpms.deserialize(json.loads(head[:at] + b'"rpms": {}}}'))
            self.log.info("[test.manifests] rpms.json's packages not parsed again: the bytes "
                          "%s's test.manifests reloaded", old.compose_id)
            return count
        return None
