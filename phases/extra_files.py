"""extra_files: files from scm_dict sources copied into the variant trees (Pungi's extra_files).

Each variant.arch (and ``src``, when named explicitly: ``*`` never matches it) with
``extra_files`` gets its files fetched into ``work/<arch>/<V>/extra-files/<target>/``, then
copied into its tree (``compose/<V>/<arch>/os/``), where createiso puts them on the DVD. Each
tree gets an ``extra_files.json`` listing its files (paths relative to the tree), and the
compose gets ``compose/metadata/extra_files.json`` (productmd's ExtraFiles, paths relative to
``compose/``), with the size and the ``media_checksums`` of every file.

Sources (``pungi_like.scm``): ``file`` (``repo`` empty), ``git`` (a repository URL; a local
path is enough) and ``rpm``, whose ``repo`` is an RPM path or URL, or a package name (glob,
optionally ``name.arch``; ``%(arch)s``, ``%(variant_uid)s`` ... expanded) looked up in the
compose's package set for that arch. A failure dooms the compose, as in Pungi.
"""

import fnmatch
import io
import os

from productmd.common import RPM_ARCHES
from productmd.extra_files import ExtraFiles

from phases.base import PhaseBase
from phases.imagechecksum import file_digests
from pungi_like import scm
from pungi_like.config.options import Option, str_or_list, variant_arch_mapping
from pungi_like.errors import PhaseError
from pungi_like.fileutil import link_file, write_atomic

EXTRA_FILE_SCHEMA = {
    "type": "object",
    "properties": {
        # Pungi also knows cvs and koji; pungi_like fetches from these three
        "scm": {"enum": list(scm.SUPPORTED)},
        "repo": {"type": "string"},
        "branch": {"type": ["string", "null"]},
        "file": str_or_list(),
        "dir": {"type": "string"},
        "target": {"type": "string"},
    },
    # Pungi's schema lets `repo` out, then its run fails with KeyError: 'repo'
    "required": ["scm", "repo"],
    "additionalProperties": False,
    "allOf": [
        {"oneOf": [{"required": ["file"]}, {"required": ["dir"]}]},
        # a file source is read from this machine: Pungi refuses a repo for it
        {"if": {"properties": {"scm": {"const": "file"}}},
         "then": {"properties": {"repo": {"maxLength": 0}}}},
    ],
}

OPTIONS = [
    Option("extra_files",
           variant_arch_mapping({"type": "array", "items": EXTRA_FILE_SCHEMA}),
           default=[], mapping="variant_arch",
           help="Files copied into the variant trees (and so onto their ISOs): per "
                "variant.arch a list of scm dicts with `scm` (`file`, `git`, `rpm`), `repo` "
                "(`\"\"` for `file`; a git URL; RPM paths or a package name in the package "
                "set), `branch`, `file` or `dir`, and `target` (a subdirectory of the tree). "
                "`src` must be named explicitly."),
]


def tree_metadata_text(extra, variant_uid, arch, strip_prefix):
    """The tree's ``extra_files.json`` as productmd writes it."""
    buf = io.StringIO()
    extra.dump_for_tree(buf, variant_uid, arch, strip_prefix)
    return buf.getvalue()


def add_files(extra, variant_uid, arch, topdir, files, algorithms, relative_root=None):
    """List ``files`` (relative to ``topdir``) in ``extra`` with size and checksums; paths are
    relative to ``relative_root`` when given (else to ``topdir``)."""
    for rel in sorted(files):
        full = os.path.join(topdir, rel)
        path = os.path.relpath(full, relative_root) if relative_root else rel
        extra.add(variant_uid, arch, path, os.path.getsize(full),
                  file_digests(full, algorithms))


def new_extra_files(compose):
    extra = ExtraFiles()
    info = compose.compose_info()
    extra.compose.id = info.id
    extra.compose.type = info.type
    extra.compose.date = info.date
    extra.compose.respin = int(info.respin)
    return extra


def resolve_rpm_sources(compose, scm_dict, variant, arch):
    """An ``rpm`` source naming a package (not a path or URL) -> the package set's RPM paths."""
    repo = scm_dict["repo"]
    if repo.startswith("/") or "://" in repo:
        return scm_dict
    values = {"arch": arch, "variant_id": variant.id, "variant_id_lower": variant.id.lower(),
              "variant_uid": variant.uid, "variant_uid_lower": variant.uid.lower()}
    try:
        pattern = repo % values
    except (KeyError, ValueError) as exc:
        raise PhaseError(f"extra_files rpm source {repo!r}: bad placeholder {exc}") from None
    # Pungi's split_name_arch: a suffix that is an arch names the arch
    name, _, want_arch = pattern.rpartition(".")
    if not name or want_arch not in RPM_ARCHES:
        name, want_arch = pattern, None
    headers = _package_set(compose, arch)
    paths = sorted(h.path for h in headers
                   if fnmatch.fnmatchcase(h.name, name) and want_arch in (None, h.arch))
    if not paths:
        raise PhaseError(f"No package matching {pattern} in the package set ({arch}).")
    return dict(scm_dict, repo=paths)


def _package_set(compose, arch):
    """The binary, non-debug packages an ``rpm`` source may name (Pungi's ``pkg_is_rpm``); for
    ``src`` those of the whole package set."""
    if arch == "src":
        headers = list((compose.results.get(("pkgset", "global")) or {}).values())
    else:
        pkgset = compose.results.get(("pkgset", arch))
        if pkgset is None:
            raise PhaseError(f"no package set for {arch} (did the pkgset phase run?)")
        headers = list(pkgset.packages.values())
    return [h for h in headers if not h.is_source and not _is_debug(h.name)]


def _is_debug(name):
    return "-debuginfo" in name or name.endswith("-debugsource")


class ExtraFilesPhase(PhaseBase):
    name = "extra_files"

    def skip_reason(self):
        if not self.conf.extra_files:
            return "not configured (extra_files is not set)"
        return None

    def targets(self):
        """``[(variant, arch, [scm dict, ...])]`` with something to copy."""
        found = []
        for variant in self.compose.all_variants:
            if variant.is_empty:
                continue
            for arch in variant.arches + ["src"]:
                blocks = self.conf.variant_arch_values("extra_files", variant.uid, arch)
                if blocks:
                    found.append((variant, arch, blocks))
        return found

    def units(self):
        units = []
        names = []
        for variant, arch, blocks in self.targets():
            if arch == "src":
                needs = [f"gather.{variant.uid}.{a}" for a in variant.arches] + ["pkgset.global"]
            else:
                needs = [f"gather.{variant.uid}.{arch}", f"pkgset.{arch}"]
            name = f"{variant.uid}.{arch}"
            names.append(f"extra_files.{name}")
            units.append(self.unit(name, self._run, variant=variant, arch=arch, needs=needs,
                                   inputs=dict(self.default_inputs(variant, arch),
                                               blocks=blocks),
                                   log_path=self.paths.log_file(
                                       arch, f"extra_files-{variant.uid}")))
        units.append(self.unit("metadata", self._write_metadata, needs=names,
                               log_path=self.paths.log_file("global", "extra_files")))
        return units

    def _run(self, unit):
        variant, arch = unit.variant, unit.arch
        workdir = self.paths.extra_files_dir(arch, variant)
        if os.listdir(workdir):
            import shutil

            shutil.rmtree(workdir)   # a rerun starts clean
            os.makedirs(workdir)
        for item in unit.inputs["blocks"]:
            if item["scm"] == "rpm":
                item = resolve_rpm_sources(self.compose, item, variant, arch)
            target = os.path.join(workdir, item.get("target", "").lstrip("/"))
            copied = scm.fetch(item, target, base_dir=self.conf.config_dir,
                               log_path=unit.log_path)
            with open(unit.log_path, "a", encoding="utf-8") as log:
                log.write(f"{scm.describe(item)} -> {os.path.relpath(target, workdir)}: "
                          f"{', '.join(copied)}\n")
        files = sorted(os.path.relpath(os.path.join(top, f), workdir)
                       for top, _dirs, names in os.walk(workdir) for f in names)
        if not files:
            return {"files": []}
        tree = self.paths.os_tree(arch, variant, create=True)
        for rel in files:
            link_file(os.path.join(workdir, rel), os.path.join(tree, rel), "copy")
        extra = new_extra_files(self.compose)
        top = self.paths.compose_dir()
        add_files(extra, variant.uid, arch, tree, files, list(self.conf.media_checksums),
                  relative_root=top)
        write_atomic(os.path.join(tree, "extra_files.json"), tree_metadata_text(
            extra, variant.uid, arch, os.path.relpath(tree, top) + "/"))
        entries = extra.extra_files[variant.uid][arch]
        self.compose.results.put(("extra_files", variant.uid, arch), entries)
        return {"files": [e["file"] for e in entries]}

    def _write_metadata(self, unit):
        extra = new_extra_files(self.compose)
        for variant, arch, _blocks in self.targets():
            for entry in self.compose.results.get(("extra_files", variant.uid, arch)) or []:
                extra.add(variant.uid, arch, entry["file"], entry["size"], entry["checksums"])
        buf = io.StringIO()
        extra.dump(buf)
        path = self.paths.metadata_file("extra_files.json", create=True)
        write_atomic(path, buf.getvalue())
        return {"metadata": self.paths.relative(path)}
