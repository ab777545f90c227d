"""createrepo: repodata for every variant.arch tree (binary, debug and source)."""

import os
import shutil
import sys
import threading

from phases.base import PhaseBase
from pungi_like import known_files, metadata, reuse_differs
from pungi_like.errors import PhaseError
from pungi_like.fileutil import write_atomic
from pungi_like.rpmtools import repodata, repowrite
from pungi_like.tools import run
from pungi_like.config.options import Option, scm_dict_schema, variant_arch_mapping


def _cpu_count(raw):
    """the number of CPUs"""
    return os.cpu_count() or 1


def _database_default(raw):
    """True only when ``gather_backend`` is ``yum``"""
    return raw.get("gather_backend") == "yum"


OPTIONS = [
    Option("createrepo_c", {"type": "boolean"}, default=True,
           help="Use createrepo_c rather than the legacy createrepo (pungi_like only ships "
                "support for createrepo_c)."),
    Option("createrepo_checksum", {"enum": ["sha1", "sha256", "sha512"]}, default="sha256",
           help="Checksum type used in repodata."),
    Option("createrepo_database", {"type": "boolean"}, default=_database_default,
           help="Create sqlite databases in repodata."),
    Option("createrepo_use_xz", {"type": "boolean"}, default=False,
           help="Compress repodata with xz (`--xz`)."),
    Option("createrepo_num_threads", {"type": "integer", "minimum": 1}, default=_cpu_count,
           help="How many createrepo runs go in parallel."),
    Option("createrepo_num_workers", {"type": "integer", "minimum": 1}, default=3,
           help="Workers of one createrepo run (`--workers`)."),
    Option("createrepo_extra_args", {"type": "array", "items": {"type": "string"}}, default=[],
           help="Extra arguments appended to every createrepo command (e.g. `--zck`)."),
    Option("createrepo_enable_cache", {"type": "boolean"}, default=True,
           help="Pass a `--cachedir` per release and variant so checksums are reused."),
    Option("createrepo_deltas",
           {"anyOf": [{"type": "boolean"}, variant_arch_mapping({"type": "boolean"})]},
           default=False, mapping="variant_arch",
           help="Create delta RPMs against old composes (binary repos only): a boolean or a "
                "variant/arch mapping of booleans."),
    Option("product_id", scm_dict_schema(),
           help="Directory (or SCM dict) with `*<variant>-<arch>-*.pem` product certificates "
                "injected into repodata."),
    Option("product_id_allow_missing", {"type": "boolean"}, default=False,
           help="A variant.arch without a certificate is not an error."),
    Option("product_id_allow_name_prefix", {"type": "boolean"}, default=True,
           help="Allow any prefix before `<variant>-<arch>` in certificate file names."),
]



def package_list(tree, packages_dir=None, listed=None):
    """Every RPM under ``packages_dir`` (default ``<tree>/Packages``), relative to the tree,
    sorted, ``repodata/`` left out.

    Only gather links files there, so this is exactly the set gather recorded in rpms.json; an
    addon's packages are directly in its own tree (``os/addons/<id>``), which the parent's
    ``Packages/`` does not include. ``listed``: a list each directory's files are appended to
    as its listing gave them (:func:`pungi_like.known_files.package_walk`).
    """
    found = []
    root = packages_dir or os.path.join(tree, "Packages")
    walked = known_files.package_walk(root, lambda name: name.endswith(".rpm"),
                                      skip_top=("repodata", "addons"))
    for folder, _dev, files in walked:
        # once per directory, not per file
        prefix = os.path.relpath(folder, tree)
        prefix = "" if prefix == os.curdir else prefix + os.sep
        found.extend(prefix + name for name, _ino in files)
    if listed is not None:
        listed.extend(walked)
    return found


def known_stats(tree, pkgs, listed, known):
    """``{path under tree: stat}`` of ``pkgs`` (:func:`package_list`'s, whose ``listed`` is
    given) from the stats the compose made of the files they are links of
    (:mod:`pungi_like.known_files`), the few others stat'ed; None when there are none or too
    many others (write_repo stats them by ``stat`` runs)."""
    if known is None or sum(len(files) for _f, _d, files in listed) != len(pkgs):
        return None
    # keyed as write_repo looks them up: the tree joined with each relative path
    top = os.path.join(tree, "")
    return known_files.stats_of(listed, known, names=[top + rel for rel in pkgs])


class CreaterepoPhase(PhaseBase):
    name = "createrepo"

    def __init__(self, compose):
        super().__init__(compose)
        # createrepo_num_threads bounds concurrent createrepo runs, whatever the pool size
        self._slots = threading.BoundedSemaphore(self.conf.createrepo_num_threads)

    def validate(self):
        errors = []
        if not self.conf.createrepo_c:
            errors.append("createrepo_c = False is not supported: pungi_like runs createrepo_c")
        if self.conf.createrepo_deltas:
            errors.append("createrepo_deltas (delta RPMs against old composes) is not "
                          "implemented by pungi_like yet; remove the option")
        if self.conf.product_id:
            errors.append("product_id is not implemented by pungi_like yet; remove the option")
        return errors

    def units(self):
        units = []
        for variant in self.compose.all_variants:
            if variant.is_empty:
                continue
            for arch in variant.arches:
                # the parent's .treeinfo lists its addons with the checksums of their repodata
                addons = [f"createrepo.{child.uid}.{arch}" for child in variant.children
                          if child.type == "addon" and arch in child.arches and not child.is_empty]
                units.append(self.unit(
                    f"{variant.uid}.{arch}", self._run_binary, variant=variant, arch=arch,
                    needs=[f"gather.{variant.uid}.{arch}"] + addons,
                    # the tree's .treeinfo describes the installer images when there are any
                    after=[f"buildinstall.{variant.uid}.{arch}"],
                    log_path=self.log_path(arch, variant)))
            src_addons = [f"createrepo.{child.uid}.src" for child in variant.children
                          if child.type == "addon" and not child.is_empty]
            units.append(self.unit(
                f"{variant.uid}.src", self._run_source, variant=variant, arch="src",
                needs=[f"gather.{variant.uid}.{a}" for a in variant.arches] + src_addons,
                log_path=self.paths.log_file("global", f"createrepo-{variant.uid}.src")))
        return units

    # ---- one repo -------------------------------------------------------------------------
    def pkgset_repos(self, arches):
        """The package set repos of ``arches``: their repodata describes every package a tree
        can hold, so its records are taken (:func:`make_repodata`) instead of reading and
        checksumming each RPM again. A record is taken only when the file's name, size and mtime
        match (gather hard-links the package set's files), so the repodata is the same as
        without it."""
        repos = []
        for arch in arches:
            pkgset = self.compose.results.get(("pkgset", arch))
            path = getattr(pkgset, "repo_path", None)
            if path and os.path.exists(os.path.join(path, "repodata", "repomd.xml")):
                repos.append(path)
        return repos

    def createrepo(self, tree, log_path, listfile, groupfile=None, packages_dir=None,
                   reuse_from=()):
        """Repodata for the packages under ``packages_dir`` (default ``<tree>/Packages``),
        listed in ``listfile`` (Pungi's ``work/<arch>/repo_package_list/<V>.<arch>.<type>.conf``);
        returns the package count. An empty tree gets (empty) repodata too, as in Pungi.
        ``reuse_from``: repos whose records of the very same files are taken as they are
        (:func:`make_repodata`)."""
        conf = self.conf
        os.makedirs(tree, exist_ok=True)
        known = known_files.of(self.compose)
        listed = [] if known is not None else None
        pkgs = package_list(tree, packages_dir, listed=listed)
        # not synced: the repodata written from it is not either (a crash runs the unit again)
        write_atomic(listfile, "".join(p + "\n" for p in pkgs), fsync=False)
        # createrepo_num_threads bounds the createrepo_c commands (each with its workers), as in
        # Pungi; repodata written from records in this process waits for no slot (the units
        # hold the scheduler's workers already): a small source tree's write no longer keeps
        # a tree's createiso waiting
        make_repodata(tree, tree, listfile, pkgs, log_path, sources=reuse_from,
                      checksum=conf.createrepo_checksum, database=conf.createrepo_database,
                      use_xz=conf.createrepo_use_xz, workers=conf.createrepo_num_workers,
                      groupfile=groupfile, extra_args=conf.createrepo_extra_args,
                      command_slot=self._slots,
                      stats=known_stats(tree, pkgs, listed, known) if known else None)
        return len(pkgs)

    def _tree_metadata(self, tree, variant, arch):
        """.treeinfo for every tree; .discinfo and media.repo for non-addon trees."""
        conf = self.conf
        timestamp = metadata.source_date_epoch()
        # durable once the compose's STATUS leaves STARTED (Compose.syncer), not on the path
        # of the ISO that waits for this unit
        sync = getattr(self.compose, "syncer", None) or True
        installer = None
        if arch != "src":
            candidate = os.path.join(self.paths.buildinstall_dir(arch, variant), ".treeinfo")
            if os.path.exists(candidate) and os.path.isdir(os.path.join(tree, "images")):
                installer = candidate
        metadata.write_treeinfo(
            tree, conf=conf, variant=variant, arch=arch, paths=self.paths,
            checksum_type=conf.createrepo_checksum, timestamp=timestamp,
            buildinstall_treeinfo=installer, fsync=sync)
        if variant.type != "addon":
            description = metadata.discinfo_description(conf, variant, arch)
            metadata.write_discinfo(tree, description, arch, timestamp=timestamp, fsync=sync)
            metadata.write_media_repo(tree, description, timestamp=timestamp, fsync=sync)

    def _run_binary(self, unit):
        variant, arch = unit.variant, unit.arch
        tree = self.paths.os_tree(arch, variant, create=True)
        groupfile = None
        comps = self.paths.comps(arch, variant, create=False)
        if os.path.exists(comps):
            groupfile = comps
        count = self.createrepo(tree, unit.log_path,
                                self.paths.repo_package_list(arch, variant, "rpm"),
                                groupfile=groupfile,
                                packages_dir=self.paths.packages_dir(arch, variant),
                                reuse_from=self.pkgset_repos([arch]))
        # Pungi writes debug repodata for every tree, also when it holds no package
        debug_tree = self.paths.debug_tree(arch, variant)
        debug_count = self.createrepo(debug_tree, unit.log_path,
                                      self.paths.repo_package_list(arch, variant, "debuginfo"),
                                      packages_dir=self.paths.debug_packages_dir(arch, variant),
                                      reuse_from=self.pkgset_repos([arch]))
        self._tree_metadata(tree, variant, arch)
        return {"tree": self.paths.relative(tree), "packages": count,
                "debug_packages": debug_count, "digest": repomd_digest(tree, debug_tree)}

    def _run_source(self, unit):
        variant = unit.variant
        tree = self.paths.source_tree(variant, create=True)
        count = self.createrepo(tree, unit.log_path,
                                self.paths.repo_package_list("global", variant, "srpm"),
                                packages_dir=self.paths.source_packages_dir(variant),
                                reuse_from=self.pkgset_repos(sorted(variant.arches)))
        self._tree_metadata(tree, variant, "src")
        return {"tree": self.paths.relative(tree), "packages": count,
                "digest": repomd_digest(tree)}


def repomd_digest(*trees):
    """A digest of the trees' repomd.xml (which holds the checksum of every metadata file) in
    the unit's outputs: when the repodata changed, the units after it know at once that no
    old unit has their key (:mod:`pungi_like.reuse_differs`), without waiting for the
    record. None for a tree without repodata."""
    texts = []
    for tree in trees:
        try:
            with open(os.path.join(tree, "repodata", "repomd.xml"), encoding="utf-8") as fh:
                texts.append(fh.read())
        except OSError:
            return None
    return reuse_differs.digest(texts)


def createrepo_command(tree, outputdir, listfile, *, checksum="sha256", database=False,
                       use_xz=False, workers=None, groupfile=None, extra_args=(),
                       update_md_paths=()):
    """The createrepo_c command Pungi 4.3.2 runs (with createrepo_c 0.17), for createrepo_c 1.x.

    ``--compatibility`` gives 0.17's defaults: gzip for the XML, bzip2 for sqlite, and the
    groupfile stored uncompressed as ``group``; :func:`run_createrepo` then adds ``group_gz``
    as 0.17 did, so the repomd types read ``primary filelists other [*_db] group group_gz``.
    """
    cmd = [_createrepo_c(), tree, "--outputdir", outputdir, "--pkglist", listfile,
           "--checksum", checksum, "--unique-md-filenames", "--compatibility",
           "--database" if database else "--no-database"]
    if workers:
        cmd += ["--workers", str(workers)]
    if use_xz:
        cmd += ["--xz"]
    if groupfile:
        cmd += ["--groupfile", groupfile]
    if update_md_paths:
        # records of unchanged files (same name, size and mtime) are copied from these repos
        cmd += ["--update"] + [f"--update-md-path={path}" for path in update_md_paths]
    if os.environ.get("SOURCE_DATE_EPOCH"):
        cmd += ["--revision", os.environ["SOURCE_DATE_EPOCH"], "--set-timestamp-to-revision"]
    return cmd + list(extra_args)


def make_repodata(tree, outputdir, listfile, pkgs, log_path, sources=(), **options):
    """The repodata :func:`run_createrepo` writes for ``pkgs`` (paths relative to ``tree``, as in
    ``listfile``), written from the records ``sources`` (repo dirs) hold of the very same files
    (:mod:`pungi_like.rpmtools.repowrite`: same bytes as the command); the command runs where
    the options need it or the records do not pay (most files would be read again), and the
    reason goes to the log. ``command_slot``: a context (a semaphore) the command runs in."""
    import contextlib
    command_slot = options.pop("command_slot", None) or contextlib.nullcontext()
    stats = options.pop("stats", None)
    reason = repowrite.unsupported(
        database=options.get("database"), compress_type="xz" if options.get("use_xz") else "gz",
        extra_args=options.get("extra_args") or ())
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if reason is None and epoch and not epoch.isdigit():
        reason = f"SOURCE_DATE_EPOCH={epoch!r} is not a number"
    if reason is None:
        try:
            repodata.remove_stale_workdir(outputdir, log_path)
            result = repowrite.write_repo(
                tree, outputdir, pkgs, sources=sources,
                checksum=options.get("checksum") or "sha256",
                groupfile=options.get("groupfile"), group_gz=True, revision=epoch or None,
                set_timestamp_to_revision=bool(epoch), workers=options.get("workers") or 3,
                max_read=read_at_most(len(pkgs)), stats=stats)
        except repowrite.RepoWriteError as exc:
            reason = str(exc)
        else:
            repowrite.log_result(log_path, outputdir, result, sources)
            return
    repowrite.log_fallback(log_path, outputdir, reason)
    sources = [s for s in sources if os.path.exists(os.path.join(s, "repodata", "repomd.xml"))]
    sources = repodata.update_md_sources(sources, [os.path.join(tree, p) for p in pkgs])
    with command_slot:
        run_createrepo(tree, outputdir, listfile, log_path,
                       update_md_paths=sources if pkgs else (), **options)


def read_at_most(count):
    """How many files without a record :func:`make_repodata` reads itself (one interpreter lock)
    before leaving the tree to createrepo_c's workers: a tenth of the tree, at least 50."""
    return max(50, count // 10)


def run_createrepo(tree, outputdir, listfile, log_path, **options):
    """Run :func:`createrepo_command`; with a groupfile also register its gzipped copy as
    ``group_gz`` (modifyrepo_c), as Pungi's repos have both."""
    repodata.remove_stale_workdir(outputdir, log_path)
    run(createrepo_command(tree, outputdir, listfile, **options), log_path=log_path)
    groupfile = options.get("groupfile")
    if groupfile:
        run([_tool("modifyrepo_c"), "--mdtype", "group_gz", "--compress-type", "gz",
             "--checksum", options.get("checksum", "sha256"), "--unique-md-filenames",
             groupfile, os.path.join(outputdir, "repodata")], log_path=log_path)
        if os.environ.get("SOURCE_DATE_EPOCH", "").strip().isdigit():
            clamp_repomd_timestamps(os.path.join(outputdir, "repodata", "repomd.xml"),
                                    int(os.environ["SOURCE_DATE_EPOCH"].strip()))


def clamp_repomd_timestamps(repomd_path, epoch):
    """modifyrepo_c stamps the record it adds with the current time (it has no option for
    another): set every record's time stamp later than ``epoch`` to ``epoch``, as createrepo_c's
    ``--set-timestamp-to-revision`` did for the others, so the repodata is reproducible."""
    import createrepo_c as cr

    old = cr.Repomd(repomd_path)
    records = old.records  # copies: the changed ones go into a new Repomd
    if all(record.timestamp <= epoch for record in records):
        return
    new = cr.Repomd()
    new.set_revision(old.revision)
    for tag in old.repo_tags:
        new.add_repo_tag(tag)
    for tag in old.content_tags:
        new.add_content_tag(tag)
    for cpeid, tag in old.distro_tags:
        new.add_distro_tag(tag, cpeid)
    for record in records:
        record.timestamp = min(record.timestamp, epoch)
        new.set_record(record)
    write_atomic(repomd_path, new.xml_dump())


def _createrepo_c():
    """The createrepo_c next to this Python (the PyPI build, with gz/xz/zstd) or on PATH."""
    return _tool("createrepo_c")


def _tool(name):
    """A createrepo_c tool next to this Python (the PyPI build) or on PATH."""
    local = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(local):
        return local
    found = shutil.which(name)
    if not found:
        raise PhaseError(f"{name} is not installed; run .ci/setup")
    return found
