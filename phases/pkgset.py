"""pkgset: the packages a compose may use, per arch, with a repo for each.

``pkgset_source = "repos"``: as in Pungi, the package set is itself gathered. For each arch a
deps-method gather runs over that arch's ``pkgset_repos`` (``"*"`` and the arch's own key) with
every group of the arch's comps (optional packages included), every variant's
``additional_packages`` and ``gather_source_mapping`` packages for the arch, the
``gather_prepopulate`` packages and every provider of ``system-release``, with fulltree,
selfhosting, multilib method ``all`` and greedy ``none``, and no filters. What it chose (binary,
debug and source packages) is linked into ``work/global/download/`` (hardlink, copy across file
systems; the first file of a name wins); packages nobody asks for are not in the package set at
all. (Pungi 4.3.2 asks for the literal name ``system-release`` there, which matches no package;
we take the providers, as its code comment says it means to: doc/pungi-differences.md.)
Per arch, the set holds the arch's native packages, its multilib arches when some variant of the
arch enables multilib, noarch (minus those whose source package's ExcludeArch/ExclusiveArch rule
the arch out) and the source packages of what was kept.

``pkgset_source = "koji"``: the latest builds of ``pkgset_koji_tag`` (one or more tags; for a
package the first tag that has it wins), with inheritance unless ``pkgset_koji_inherit`` is
False, as of one event for the whole compose (``--koji-event`` N or an old compose's directory,
else the newest event at start; saved as ``work/global/koji-event``), plus the
``pkgset_koji_builds`` extras, which replace other builds of their package. Only RPMs of the
compose's arches (with multilib arches, noarch and src) are taken. For each RPM the signed copy
of the first key of ``sigkeys`` that has one is used; RPMs without one are looked for again
``signed_packages_retries`` times, ``signed_packages_wait`` seconds apart, and then, as in Pungi,
the unsigned RPM is used when ``sigkeys`` holds None or "" (a signed copy always wins over it,
wherever None stands in the list); when some RPM has no usable copy, the phase fails and names
every such RPM. (The event: ``--koji-event``, else the ``koji_event`` option.) Files come from
the build service's top directory (hard links, copies across file systems) or, for a hub on another
machine, are downloaded from its ``/kojifiles`` into ``work/global/download/``.

Units: ``pkgset.global`` (read, link, global repo), ``pkgset.<arch>`` (arch subset and repo);
each arch unit puts a :class:`PackageSet` into ``compose.results`` under ``("pkgset", arch)``.
The package set is named ``repos`` or after the first tag (``work/<arch>/repo/<name>/``).
"""

import concurrent.futures
import json
import os
import threading
import time
from pungi_like.reuse_capture import ThreadPool as ThreadPoolExecutor
from pungi_like.reuse_capture import current as current_capture
from dataclasses import dataclass, field

from phases.base import PhaseBase
from phases import gather as gather_phase
from phases.gather import json_inputs, offer_solver, prepopulate_inputs
from pungi_like import known_files, reuse_differs
from pungi_like.config.options import Option, arch_mapping, str_or_list
from pungi_like.errors import PhaseError, PungiLikeError
from pungi_like.fileutil import write_json_atomic
from pungi_like.fileutil import link_file, ln_hardlinks, stat_idents, try_hardlink
from pungi_like.rpmtools import arches as archmod
from pungi_like.rpmtools import repodata
from pungi_like.lazyimport import lazy_module

# the solver's and comps' modules (libsolv, minidom with them) imported when a unit that
# uses them runs: a re-run that takes every unit (a no-op) never imports them
comps_mod = lazy_module("pungi_like.rpmtools.comps", globals(), "comps_mod")
depsolve = lazy_module("pungi_like.rpmtools.depsolve", globals(), "depsolve")
gathering = lazy_module("pungi_like.rpmtools.gathering", globals(), "gathering")
rpm_headers = lazy_module("pungi_like.rpmtools.headers", globals(), "rpm_headers")

PKGSET_NAME = "repos"

OPTIONS = [
    Option("pkgset_source", {"enum": ["koji", "repos"]}, required=True,
           help="Where packages come from: a build service tag (koji) or plain repos (repos)."),
    Option("pkgset_repos", arch_mapping(str_or_list()),
           help="repos source: `{arch or '*': [repo, ...]}`; paths relative to the config file "
                "or file:// URLs."),
    Option("pkgset_koji_tag", str_or_list(), help="Tag(s) the package set is read from."),
    Option("pkgset_koji_inherit", {"type": "boolean"}, default=True,
           help="Follow tag inheritance when reading pkgset_koji_tag."),
    Option("pkgset_koji_builds", str_or_list(),
           help="Extra builds (NVRs) added to the package set, replacing other builds of the "
                "same package."),
    Option("sigkeys", {"type": "array", "items": {"type": ["string", "null"]}}, default=[None],
           help="Signing key IDs in order of preference; null (or '') allows unsigned packages."),
    Option("pkgset_exclusive_arch_considers_noarch", {"type": "boolean"}, default=True,
           help="`noarch` in a package's ExclusiveArch counts as every arch."),
    Option("pkgset_allow_reuse", {"type": "boolean"}, default=True,
           help="Reuse the package set repos of an old compose when nothing changed."),
    Option("koji_event", {"type": "integer", "minimum": 1},
           help="The build service event the koji package set is read at (`--koji-event` "
                "wins over it)."),
    Option("signed_packages_retries", {"type": "integer", "minimum": 0}, default=0,
           help="How many more times to look for signed copies of RPMs that have none yet "
                "(they may be being signed), before using the unsigned RPM (when `sigkeys` "
                "allows it) or failing."),
    Option("signed_packages_wait", {"type": "number", "minimum": 0}, default=30,
           help="Seconds to wait between two looks for signed copies."),
]

_excl_lock = threading.Lock()


class UnsignedPackagesError(PhaseError):
    """Some RPMs of the package set have no copy signed with any of ``sigkeys``."""


def nvra(rpm):
    return "%(name)s-%(version)s-%(release)s.%(arch)s" % rpm


def _as_list(value):
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


@dataclass
class PackageSet:
    """One arch's package set as gather sees it."""
    arch: str
    repo_path: str                                  # directory holding repodata/
    prefix: str                                     # where the package files are
    packages: dict = field(default_factory=dict)    # file name -> RpmHeader

    def by_path(self):
        return {h.path: h for h in self.packages.values()}

    def header(self, filename):
        return self.packages.get(filename)


def noarch_excluded(src_header, arch, considers_noarch=True):
    """Why a noarch package built from ``src_header`` must not enter an ``arch`` tree, or None.

    As in Pungi, the source package's tags are compared with the tree's native arches plus
    ``noarch`` (without it when ``considers_noarch`` is False): any ExcludeArch among them, or
    an ExclusiveArch with none of them, keeps the package out."""
    if src_header is None:
        return None
    arches = set(archmod.native_arches(arch)) | ({"noarch"} if considers_noarch else set())
    if set(src_header.excludearch) & arches:
        return f"ExcludeArch: {' '.join(src_header.excludearch)}"
    exclusive = src_header.exclusivearch
    if exclusive and not set(exclusive) & arches:
        return f"ExclusiveArch: {' '.join(exclusive)}"
    return None


def header_from_repodata(pkg, path, solver, read_from=None, raw=None):
    """The :class:`RpmHeader` of a gathered package from what the repodata already told the
    solver (NEVRA, source RPM, build time); only the signing key and, for a source package,
    ExcludeArch/ExclusiveArch (which repodata lacks) are read from the file, raw and small
    (from ``read_from`` when given: the file ``path`` is being linked to), unless ``raw`` holds
    them (``read_raw_tags``' answer, read by the digest prefill's child)."""
    try:
        if raw is None:
            raw = rpm_headers.read_raw_tags(read_from or path,
                                            arch_tags=pkg.arch in ("src", "nosrc"))
    except ValueError as exc:
        raise PhaseError(f"{exc} (listed in the repodata of {pkg.repo})") from exc
    return rpm_headers.RpmHeader(path=path, name=pkg.name, epoch=int(pkg.epoch or 0), version=pkg.version,
                     release=pkg.release, arch=pkg.arch, sourcerpm=pkg.sourcerpm,
                     sigkey=raw.sigkey, excludearch=raw.excludearch,
                     exclusivearch=raw.exclusivearch, buildtime=solver.buildtime(pkg.path))


def header_from_hub(rpm, build, key, path, arch_tags=False, srpm_arch="src"):
    """The :class:`RpmHeader` of an RPM of a build service tag from the hub's answers
    (listTaggedRPMS gives NEVRA and build time, the build its source RPM's name, the picked
    copy its signing key). The file is read (raw and small, no librpm) only for what the hub
    does not say: the key of an RPM taken unsigned, which may still carry a signature, and
    with ``arch_tags`` a source RPM's ExcludeArch/ExclusiveArch."""
    raw = None
    if not key or arch_tags:
        try:
            raw = rpm_headers.read_raw_tags(path, arch_tags=arch_tags)
        except ValueError as exc:
            raise PhaseError(f"{exc} (RPM {nvra(rpm)} of build {build['nvr']})") from exc
    source = rpm["arch"] in ("src", "nosrc")
    return rpm_headers.RpmHeader(
        path=path, name=rpm["name"], epoch=int(rpm["epoch"] or 0), version=rpm["version"],
        release=rpm["release"], arch=rpm["arch"],
        sourcerpm="" if source else "%s-%s-%s.%s.rpm" % (build["name"], build["version"],
                                                         build["release"], srpm_arch),
        sigkey=key.lower() if key else raw.sigkey,
        excludearch=raw.excludearch if raw and arch_tags else [],
        exclusivearch=raw.exclusivearch if raw and arch_tags else [],
        buildtime=int(rpm["buildtime"] or 0))


def headers_digest(headers):
    """A digest of a package set (file names, signing keys, build times) in the units'
    outputs: when it changed, units needing the package set know at once that no old unit
    has their key (:mod:`pungi_like.reuse_differs`), without waiting for the record."""
    return reuse_differs.digest(f"{name} {h.sigkey} {h.buildtime}"
                                for name, h in sorted(headers.items()))


#: files per ``ln`` run of :func:`link_set` (its command line stays far below ARG_MAX)
LINK_BATCH = 2000


def link_set(download, pairs):
    """Link each ``(source, name in download)`` of the package set: hard links by ``ln`` runs of
    up to :data:`LINK_BATCH` files (:func:`~pungi_like.fileutil.ln_hardlinks`; the unit reads
    the signing keys meanwhile), what a run refused by :func:`link_one`, which does what was
    always done. The files of the runs are noted for the unit's record (the audit hook does not
    see what ``ln`` links, nor, in a run that failed, the files it linked before). Returns the
    pairs linked one by one (which may be copies); every other one is a hard link of its source."""
    capture = current_capture()
    tried, single = ln_hardlinks(pairs, LINK_BATCH)
    for src, dest in single:
        link_one(src, dest)
    if capture is not None:
        for _src, dest in tried:
            capture.note(dest)
    return single


def link_one(src, dest):
    """One file of the package set linked as :func:`link_set` does it without ``ln``."""
    if try_hardlink(src, dest):
        return      # the common case, in one syscall
    if not os.path.exists(src):
        raise PhaseError(f"{src}: listed in repodata but missing")
    if not (os.path.exists(dest) and os.path.samefile(dest, src)):
        link_file(src, dest, "hardlink-or-copy")


def source_idents(linked):
    """``{source path: stat}`` of the files ``linked`` (see :meth:`PkgsetPhase.link_repos`)
    links from, by ``stat`` runs (:func:`~pungi_like.fileutil.stat_idents`) when there are
    :data:`STAT_MANY` or more, else None (and when a run fails). A re-run stat'ed its package
    set's 10,458 files three times: by a ``stat`` run for the package set repo's writing
    (repowrite.write_repo), then one by one for :func:`header_from_old` and again for
    :func:`closure_describes`, each of those stats giving the interpreter lock up and waiting
    to take it back behind the repo's writing (0.28-0.38 s of wall for 0.14-0.18 s of CPU,
    and 0.1-0.16 s for 0.09 s, at load 6)."""
    paths = [pkg.path for pkg, _dest, _solver in linked.values()]
    if len(paths) < STAT_MANY:
        return None
    found = stat_idents(paths)
    return dict(zip(paths, found)) if found is not None else None


#: package sets from which :func:`source_idents` stats their files by ``stat`` runs
STAT_MANY = 200


def closure_describes(linked, idents=None):
    """Whether the closure's pool holds the record of each file of ``linked`` (see
    :meth:`PkgsetPhase.link_repos`) as the file is: the repo the closure loaded it from lists
    it with the file's size, in a repomd.xml written in a later second than the file's mtime
    (the test write_repo makes of a record it takes besides name, size and mtime,
    :func:`~pungi_like.rpmtools.repowrite.written_after`; libsolv keeps no file mtime). The
    package set repo then describes what the closure loaded, whatever it was written from (a
    re-run's: the old package set repo's records and the changed files read), and the gathers
    may solve over the closure's pool (:meth:`PkgsetPhase.offer_closure`). A stat and a
    look-up a file: 10,458 in 0.06 s of CPU. ``idents``: :func:`source_idents`' answer
    when the caller has it (else each file is stat'ed here)."""
    items = list(linked.values())
    try:
        if idents is not None:
            stats = [idents[pkg.path] for pkg, _dest, _solver in items]
        else:
            stats = list(map(os.stat, [pkg.path for pkg, _dest, _solver in items]))
    except (OSError, KeyError):
        return False
    size = depsolve.solv.SOLVABLE_DOWNLOADSIZE
    after = {}      # (repo dir, mtime in whole seconds) -> written_after's answer
    for (pkg, _dest, solver), st in zip(items, stats):
        loaded = solver.package(pkg.path)
        if loaded is None or loaded.solvable.lookup_num(size) != st.st_size:
            return False
        key = (loaded.repo.path, st.st_mtime_ns // 1_000_000_000)
        if key not in after:
            after[key] = repodata.repowrite.written_after(loaded.repo.path, st.st_mtime_ns)
        if not after[key]:
            return False
    return True


def old_package_headers(compose, download):
    """What the newest old compose's package set knew of its files, for a package set made
    again (a nightly whose repos changed): ``(device, {file name: ([inode, size, mtime_ns],
    header fields, record entry)}, compose id)`` from that compose's ``pkgset.global`` record
    (the files' identities and digests)
    and hand-over (the headers), or None when there is none to use. Read once per compose;
    the record data is the one the unit's record is made with afterwards (parsed once)."""
    pool = getattr(compose, "reuse_pool", None)
    if pool is None or "pkgset" in getattr(pool, "disabled_phases", ()):
        return None
    old = next(iter(pool._units("pkgset.global")), None)
    if old is None:
        return None
    try:
        data = old.data
        files = data["files"]
        text = next(op[2] for op in data["journal"] if op[0] == "put_json"
                    and op[1] == {"__tuple__": ["pkgset", "global"]})
        handed = json.loads(text)["__dict__"]
        device = os.stat(getattr(old, "files_top", old.topdir)).st_dev
    except (OSError, ValueError, KeyError, TypeError, IndexError, StopIteration):
        return None
    prefix = os.path.join(os.path.relpath(download, compose.topdir), "")
    known = {}
    for name, value in handed:
        fields = value.get("fields") if isinstance(value, dict) else None
        entry = files.get(prefix + name) if isinstance(name, str) else None
        if fields and isinstance(entry, dict) and isinstance(entry.get("stat"), list):
            known[name] = (entry["stat"], fields, entry)
    return device, known, old.compose_id


def header_from_old(pkg, path, solver, old, source, idents=None, filename=None,
                    buildtime=None):
    """The :class:`RpmHeader` of a package set file as :func:`header_from_repodata` makes it,
    with the signing key and ExcludeArch/ExclusiveArch taken from ``old`` (see
    :func:`old_package_headers`) when ``source`` (the file linked) is the very file the old
    package set linked, unchanged: the same device and inode, size and modification time (the
    rule reused files follow, ``reuse.verified``), of the same package; None otherwise.
    ``idents``: :func:`source_idents`' answer when the caller has it (else ``source`` is
    stat'ed here); ``filename``: ``pkg.filename`` and ``buildtime``: ``solver.buildtime(
    pkg.path)``, when the caller has them."""
    found = old[1].get(pkg.filename if filename is None else filename)
    if found is None:
        return None
    ident, fields = found[0], found[1]
    st = idents.get(source) if idents is not None else None
    if st is None:
        try:
            st = os.stat(source)
        except OSError:
            return None
    if st.st_dev != old[0] or [st.st_ino, st.st_size, st.st_mtime_ns] != ident \
            or fields.get("name") != pkg.name or fields.get("release") != pkg.release \
            or fields.get("version") != pkg.version or fields.get("arch") != pkg.arch:
        return None
    sigkey, excl, exclusive = (fields.get("sigkey"), fields.get("excludearch"),
                               fields.get("exclusivearch"))
    if not (sigkey is None or type(sigkey) is str) or type(excl) is not list \
            or type(exclusive) is not list:
        return None
    # positional: path, name, epoch, version, release, arch, sourcerpm, sigkey, excludearch,
    # exclusivearch, buildtime (10,437 headers in a re-run)
    return rpm_headers.RpmHeader(
        path, pkg.name, int(pkg.epoch or 0), pkg.version, pkg.release, pkg.arch, pkg.sourcerpm,
        sigkey, list(excl), list(exclusive),
        solver.buildtime(pkg.path) if buildtime is None else buildtime)


def _stat_or_none(path):
    try:
        return os.stat(path)
    except OSError:
        return None


def entries_from_old(linked, download, old, idents, single=()):
    """The record entries (``reuse.describe_files``') of the package set's links whose header
    :func:`header_from_old` took: ``{absolute link path: entry}`` for each file of ``linked``
    (see :meth:`PkgsetPhase.link_repos`) hard-linked from a source whose stat (``idents``,
    :func:`source_idents`' answer; None: stat'ed here) is on the device of ``old`` (see
    :func:`old_package_headers`) with the inode, size and modification time of its record
    entry, an entry whose bytes did not name that compose: the same file, unchanged (the rule
    its header was taken by, ``reuse.verified``'s), so the same digest. ``single``: the pairs
    :func:`link_set` linked one by one (copies possibly: taken only when the link's own stat
    is the source's). Also ``[((device, inode, size, mtime_ns), sha256)]`` of those files,
    for the digest cache (``reuse_keys.note_digests``: the gathers' records find them there,
    as when the record computed them). The unit's record took these entries by a stat of each
    link and a stat of the old compose's path of its inode (``reuse_keys._known_digest``):
    0.17-0.18 s of the record thread's CPU at 10,458 files, beside the gathers."""
    entries, digests = {}, []
    if not old or not old[1]:
        return entries, digests
    device, known = old[0], old[1]
    one_by_one = {dest for _src, dest in single}
    top = os.path.join(os.path.abspath(download), "")
    # a file name joined to download as os.path.join does it (10,458 joins: 10 ms)
    prefix = os.path.join(download, "")
    for name, (pkg, dest, _solver) in linked.items():
        found = known.get(name)
        if found is None or dest != prefix + name:
            continue
        st = idents.get(pkg.path) if idents is not None else _stat_or_none(pkg.path)
        if st is None:
            continue
        ident = [st.st_ino, st.st_size, st.st_mtime_ns]
        if dest in one_by_one:
            # linked one by one: maybe a copy (another inode) - the link's own stat says
            made = _stat_or_none(dest)
            if made is None or [made.st_ino, made.st_size, made.st_mtime_ns] != ident \
                    or made.st_dev != st.st_dev:
                continue
        entry = found[2]
        sha256 = entry.get("sha256")
        if st.st_dev != device or ident != found[0] \
                or entry.get("names_compose") is not False or type(sha256) is not str \
                or entry.get("size") != ident[1]:
            continue
        entries[top + name] = {"sha256": sha256, "size": ident[1], "names_compose": False,
                               "stat": ident}
        digests.append(((device, *ident), sha256))
    return entries, digests


def copy_repodata(source_repo, dest_repo, log_path):
    """Copy ``source_repo``'s repodata/ into ``dest_repo`` (replacing any there), atomically."""
    import shutil
    target = os.path.join(dest_repo, "repodata")
    staging = os.path.join(dest_repo, ".repodata.copy")
    os.makedirs(dest_repo, exist_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(os.path.join(source_repo, "repodata"), staging)
    shutil.rmtree(target, ignore_errors=True)
    os.rename(staging, target)
    repodata.repowrite.trust_copy(source_repo, dest_repo)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"repodata of {source_repo} copied: the arch keeps every package\n")


class PkgsetPhase(PhaseBase):
    name = "pkgset"
    #: ``{file name: (package, solver)}`` of the closure's solvers, for a package set repo
    #: written from the records of the repos they loaded (:meth:`repos_headers`)
    _closure = None

    def validate(self):
        errors = []
        if self.conf.pkgset_source == "koji":
            if not (getattr(self.conf, "koji_profile", None)
                    or getattr(self.conf, "buildservice", None)):
                errors.append("pkgset_source = 'koji' needs a build service: set koji_profile "
                              "(a koji client profile) or buildservice (the embedded one)")
            if not _as_list(getattr(self.conf, "pkgset_koji_tag", None)):
                errors.append("pkgset_source = 'koji' needs pkgset_koji_tag "
                              "(e.g. pkgset_koji_tag = 'f40-updates')")
        elif self.conf.pkgset_source == "repos" and not self.conf.pkgset_repos:
            errors.append("pkgset_source = 'repos' needs pkgset_repos "
                          "(e.g. pkgset_repos = {'*': ['repo']})")
        return errors

    @property
    def pkgset_name(self):
        """``repos``, or the first tag of ``pkgset_koji_tag`` (names the repos in work/)."""
        if self.conf.pkgset_source == "koji":
            return _as_list(self.conf.pkgset_koji_tag)[0]
        return PKGSET_NAME

    def units(self):
        name = self.pkgset_name
        inputs = self.default_inputs(None, None)
        needs = []
        if self.conf.pkgset_source == "koji":
            # the event asked for is part of the inputs: another event is another package set
            inputs["koji_event"] = str(self.compose.koji_event or "")
        elif self.conf.comps_file:
            # the repos package set is gathered from the comps groups of each arch
            needs = [f"init.{arch}" for arch in self.compose.get_arches()]
        units = [self.unit("global", self.run_global, inputs=inputs, needs=needs,
                           log_path=self.paths.log_file("global", f"arch_repo.{name}"))]
        for arch in self.compose.get_arches():
            units.append(self.unit(arch, self.run_arch, arch=arch, needs=["pkgset.global"],
                                   log_path=self.paths.log_file(arch, f"arch_repo.{name}")))
        return units

    # ---- global -----------------------------------------------------------------------------
    def repo_dirs(self, arch=None):
        """Local dirs of the configured repos, in config order: those of ``arch`` (its own key,
        then ``*``), or of every key when ``arch`` is None."""
        if self.conf.pkgset_source != "repos":
            return []
        base = getattr(self.conf, "config_dir", None)
        repos = self.conf.pkgset_repos or {}
        keys = [arch, "*"] if arch is not None else sorted(repos)
        result = []
        for key in keys:
            value = repos.get(key) or []
            for repo in ([value] if isinstance(value, str) else value):
                path = repodata.repo_path(repo, base)
                if not os.path.isdir(path):
                    raise PhaseError(f"pkgset_repos: repo {repo} ({path}) does not exist")
                if path not in result:
                    result.append(path)
        return result

    def run_global(self, unit):
        download = self.paths.pkgset_download_dir(create=True)
        name = self.pkgset_name
        listfile = self.paths.pkgset_package_list(name)
        if self.conf.pkgset_source == "koji":
            headers = self.read_koji(unit, download)
            # the record's digests of the linked (or downloaded) files, while the repo is written
            self.prefill_digests([h.path for h in headers.values()])
            event = self.compose.results.get(("pkgset", "koji_event")) or {}
            self.compose.adopt_source_date_epoch(event.get("ts"),
                                                 "the time of event %s" % event.get("id"))
            self._write_list(listfile, headers)
            self.global_repo(unit, download, listfile, [h.path for h in headers.values()])
        else:
            # the records of pkgset_repos are parsed in a child process while the closure runs
            parsing, self._early_parsing = self._early_parsing, None
            if parsing is None:
                parsing = self.start_record_parse()
            try:
                headers = self.repos_headers(unit, download, listfile, parsing)
            finally:
                if parsing is not None:
                    parsing.discard()   # ended and waited for whatever happened
        self.compose.results.put(("pkgset", "global"), headers)
        return {"packages": len(headers), "digest": headers_digest(headers)}

    def repos_headers(self, unit, download, listfile, parsing):
        """repos source: link the package set (:meth:`link_repos`), list it, write its repo
        (:meth:`global_repo`, in a thread) while the signing keys are read; the headers."""
        # the links are made by cp runs in a thread while the signing keys are read from the
        # files they link (the same files) and the repo is written (from the parsed records,
        # which are matched against the files linked from; createrepo_c reads the links once
        # they are made)
        with ThreadPoolExecutor(max_workers=2) as pool:
            linked, links = self.link_repos(download, pool=pool)
            # a cold package set (its records parsed): the child reads the signing keys too
            # from the bytes it hashes
            prefill = None
            if parsing is not None:
                prefill = self.prefill_digests(
                    [pkg.path for pkg, _dest, _solver in linked.values()],
                    tags=[pkg.arch in ("src", "nosrc") for pkg, _dest, _solver in linked.values()])
            raw = prefill.raw_tags if prefill is not None else (lambda _path: None)
            # the build times looked up once, for the epoch and the headers
            buildtimes = {name: solver.buildtime(pkg.path)
                          for name, (pkg, _dest, solver) in linked.items()}
            self.compose.adopt_source_date_epoch(max(buildtimes.values(), default=0),
                                                 "the newest build time in the package set")
            self._write_list(listfile, linked)
            # a re-run's files stat'ed once, by stat runs, for the package set repo's writing
            # and both looks at them below (each stat'ed them on its own): the repo's job
            # stats them first and hands them over (:meth:`_stat_and_write`)
            stated = concurrent.futures.Future() if parsing is None else None
            repo = pool.submit(self._stat_and_write, stated, linked, len(linked), unit,
                               download, listfile,
                               [dest for _pkg, dest, _solver in linked.values()], parsing,
                               links=links,
                               linked_from={name: pkg.path
                                            for name, (pkg, _d, _s) in linked.items()})
            idents = None
            try:
                # a re-run takes the headers of the files the newest old compose linked,
                # unchanged, from that compose's record (read here, beside the repo's
                # writing), and the unit's record takes their digests from it too
                # (reuse_keys.remember): the child hashes only the files read, once they are
                # known (in a nightly with one package changed, 21 of 10,458: too few for a
                # child; it hashed all 10,458, 0.2-0.25 s of CPU beside the unit)
                old = old_package_headers(self.compose, download) if parsing is None else None
                if parsing is None and not (old and old[1]):
                    self.prefill_digests([pkg.path for pkg, _dest, _solver in linked.values()])
                if stated is not None and not stated.done():
                    # while the repo's job waits for its stat run: the check its writing makes
                    # first (once a process: a gzip sample written by the library and by zlib,
                    # 0.03-0.04 s of wall), which it then finds made
                    repodata.repowrite.zlib_matches_library()
                idents = stated.result() if stated is not None else None
                fresh = []
                headers = self.package_headers(
                    linked, download, lambda pkg, dest, solver: header_from_repodata(
                        pkg, dest, solver, read_from=pkg.path, raw=raw(pkg.path)),
                    old=old, fresh=fresh, idents=idents, buildtimes=buildtimes)
                if old and old[1]:
                    self.prefill_digests([linked[name][0].path for name in fresh])
                    # what changed since that compose, for the gathers' proof that a solve
                    # would give its result (GatherPhase.old_result_if_unchanged)
                    self.compose.pkgset_changes = (old[2], frozenset(fresh), old[1])
                # a package set repo written otherwise than from the parsed records (a re-run:
                # from the old package set repo's): checked while its files are compressed
                describes = parsing is None and closure_describes(linked, idents)
            except OSError:
                links.result()      # a file missing: the links say which, as they did
                raise
            finally:
                written = repo.result()
        if old and old[1]:
            self._entries_from_old(unit, linked, download, old, idents, links.result())
        if (written is not None and not written.read) or describes:
            # every entry of the package set repo is a record of the repos the closure loaded,
            # or describes the same files as those: the arch units offer the closure's solvers
            # to the gathers (offer_closure)
            if describes:
                with open(unit.log_path, "a", encoding="utf-8") as log:
                    log.write("# the closure's pool describes every file of the package "
                              "set (size, repomd.xml written after the file): its solvers "
                              "kept for the gathers\n")
            self._closure = {name: (solver.package(pkg.path), solver)
                             for name, (pkg, _dest, solver) in linked.items()}
            self._closure_arches = set(self.compose.get_arches())
        return headers

    def _entries_from_old(self, unit, linked, download, old, idents, single):
        """A re-run's links of files the old package set linked, unchanged: their record
        entries (:func:`entries_from_old`) handed to the unit's record (``unit.linked_entries``,
        ``reuse.build_record``) and their digests to the digest cache (the gathers link the
        same files). Not with PUNGI_LIKE_REUSE_VERIFY=full (no old digest is taken then)."""
        if os.environ.get("PUNGI_LIKE_REUSE_VERIFY") == "full":
            return
        topdir = getattr(self.compose, "topdir", None)
        compose_id = getattr(self.compose, "compose_id", None)
        if not topdir or not compose_id:
            return
        from pungi_like import reuse_keys
        from pungi_like.reuse import Names

        entries, digests = entries_from_old(linked, download, old, idents, single)
        if entries:
            names = Names(topdir, compose_id)
            reuse_keys.note_digests(digests, (names.topdir.encode(), names.compose_id.encode()))
            unit.linked_entries = entries
            with open(unit.log_path, "a", encoding="utf-8") as log:
                log.write(f"# {len(entries)} record entries taken from {old[2]}'s record "
                          "(the same files)\n")

    def _stat_and_write(self, stated, linked, *args, **kwargs):
        """The package set repo's job (:meth:`global_repo_and_host`); with ``stated`` (a
        Future: a re-run) the files ``linked`` links from stat'ed first (:func:`source_idents`,
        None when they could not be), handed over by it (always set) and given to the
        writing."""
        if stated is not None:
            known = None
            try:
                known = source_idents(linked)
            finally:
                stated.set_result(known)
            kwargs["idents"] = known
            if known:
                # the trees' packages are links of these files: createrepo and the DVDs
                # find them by the inodes their listings give (pungi_like.known_files)
                self.compose.known_stats = known_files.InodeStats(known.values())
        return self.global_repo_and_host(*args, **kwargs)

    #: fewer files than this are left to the unit's record to hash (a child's start costs more)
    PREFILL_MIN = 200

    def prefill_digests(self, sources, tags=None):
        """The digests the unit's record needs of the package set's files (hard links of
        ``sources``) computed by a child process while the unit and the next ones run
        (:class:`~pungi_like.digest_prefill.Prefill`), with the needles the record searches
        for; ``PUNGI_LIKE_DIGEST_PREFILL=0`` in the environment: the record reads them itself
        (to compare the two on a machine). ``tags``: see :class:`Prefill`."""
        topdir = getattr(self.compose, "topdir", None)
        compose_id = getattr(self.compose, "compose_id", None)
        if (len(sources) < self.PREFILL_MIN or not topdir or not compose_id
                or os.environ.get("PUNGI_LIKE_DIGEST_PREFILL") == "0"):
            return None
        from pungi_like.digest_prefill import Prefill
        from pungi_like.reuse import Names

        names = Names(topdir, compose_id)
        return Prefill(sources, (names.topdir.encode(), names.compose_id.encode()), tags=tags)

    def package_headers(self, linked, download, read, old=None, fresh=None, idents=None,
                        buildtimes=None):
        """``{file name: header}`` of the linked package set ``linked`` (see
        :meth:`link_repos`): a file the newest old compose's package set linked, unchanged,
        takes its header from that compose's record (:func:`header_from_old`); the others are
        read with ``read(pkg, dest, solver)``. A nightly whose repos changed in a few
        packages reads those few (the package set's 10,458 raw header reads were 0.36-0.46 s
        of the unit's CPU beside the repo's writing). ``old``: :func:`old_package_headers`'
        answer when the caller has it; ``fresh``: a list the names of the files read are
        added to; ``idents``: :func:`source_idents`' answer when the caller has it;
        ``buildtimes``: ``{file name: build time}`` of ``linked`` when the caller has them."""
        if old is None:
            old = old_package_headers(self.compose, download)
        if fresh is None:
            fresh = []
        if not old or not old[1]:
            fresh.extend(linked)
            return {filename: read(pkg, dest, solver)
                    for filename, (pkg, dest, solver) in linked.items()}
        headers, taken = {}, 0
        times = buildtimes or {}
        for filename, (pkg, dest, solver) in linked.items():
            header = header_from_old(pkg, dest, solver, old, pkg.path, idents, filename,
                                     times.get(filename))
            if header is None:
                header = read(pkg, dest, solver)
                fresh.append(filename)
            else:
                taken += 1
            headers[filename] = header
        self.log.info("Package set: %d headers taken from %s's (the same files), %d read",
                      taken, old[2], len(headers) - taken)
        return headers

    @staticmethod
    def _write_list(listfile, names):
        with open(listfile, "w", encoding="utf-8") as fh:
            fh.write("".join(n + "\n" for n in sorted(names)))

    #: the record-parse child :meth:`start_early` started, until run_global takes it
    _early_parsing = None

    def start_early(self):
        """A cold compose (no old compose or resumed one to take units from, so pkgset.global
        runs): the record-parse child (:meth:`start_record_parse`) started as the units are
        declared, not when pkgset.global starts after init's units. The child's 0.6 s of CPU
        at 10,000 RPMs ended after the closure beside it, and the package set repo's writing
        waited for it."""
        pool = getattr(self.compose, "reuse_pool", None)
        if self.conf.pkgset_source == "repos" and not (pool is not None and pool.sources):
            self._early_parsing = self.start_record_parse()

    def end_early(self):
        parsing, self._early_parsing = self._early_parsing, None
        if parsing is not None:
            parsing.discard()   # pkgset.global did not run (a unit before it failed)
        host, self._early_host = self._early_host, None
        if host is not None:
            host.close()        # pkgset.<arch> did not run
        gather_phase.close_offered_hosts(self.compose)     # no gather took it

    def start_record_parse(self):
        """A cold package set from pkgset_repos (no old package set repo, no repo of them this
        library dumped): their records parsed and dumped again in a child process
        (:class:`~pungi_like.rpmtools.recordparse.Parsing`), started before the closure, which
        it does not need; None when the records would not be used that way, or with
        ``PUNGI_LIKE_RECORD_PARSE=0`` in the environment (createrepo_c writes the repo after the
        closure, as before: for comparing the two on a machine)."""
        if os.environ.get("PUNGI_LIKE_RECORD_PARSE") == "0":
            return None
        sources = self.repo_dirs()
        if (not sources or self.old_pkgset_repos()
                or any(repodata.repowrite.is_trusted(src) for src in sources)):
            return None
        from pungi_like.rpmtools.recordparse import Parsing
        # the child starts before the check whether its records can be written as
        # createrepo_c writes them (importing createrepo_c and compressing a sample: 35-75 ms
        # before the compose's first unit, while the child's own start waited for it)
        parsing = Parsing(sources)
        if repodata.repowrite.unsupported() is not None:
            parsing.discard()
            return None
        return parsing

    def repo_from_parsed(self, unit, parsing, download, listfile, links=None, linked_from=None):
        """The package set repo from the records :meth:`start_record_parse`'s child parsed
        (repowrite.write_repo, createrepo_c's XML: the files are links of those the records
        describe; gzip'ed at repowrite.WORK_LEVEL, as no compose output holds it); its
        :class:`~pungi_like.rpmtools.repowrite.WriteResult` when written, else False and the
        log says why not. ``links``: the future of
        the links being made (:func:`link_set`) from ``linked_from`` ({file name: path}):
        the repo is written from the files linked from meanwhile, and again from the links
        if one of them turns out not to be a hard link of its source (a copy)."""
        try:
            reason = parsing.adopt()
            if reason is None:
                return self._write_set_repo(unit, download, listfile, parsing.repo_dirs,
                                            links, linked_from)
        except repodata.repowrite.RepoWriteError as exc:
            reason = str(exc)
        finally:
            parsing.discard()
        with open(unit.log_path, "a", encoding="utf-8") as log:
            log.write(f"# records parsed beside the closure not used: {reason}\n")
        return False

    def _write_set_repo(self, unit, download, listfile, sources, links=None, linked_from=None,
                        idents=None):
        """The package set repo written by repowrite.write_repo from the records of
        ``sources`` (the files without one read), gzip'ed at repowrite.WORK_LEVEL, marked; see
        :meth:`repo_from_parsed` for ``links`` and ``linked_from``; ``idents``: the stats of
        the files linked from (:func:`source_idents`), when the caller has them. Its
        WriteResult; raises RepoWriteError when it cannot be written so (the caller runs
        createrepo_c)."""
        out = self.paths.pkgset_repo(self.pkgset_name)
        with open(listfile, encoding="utf-8") as fh:
            relpaths = [line.strip() for line in fh if line.strip()]
        repodata.remove_stale_workdir(out, unit.log_path)

        def write(stat_from=None):
            return repodata.repowrite.write_repo(
                download, out, relpaths, sources=sources,
                checksum=self._checksum(), baseurl=f"file://{download}",
                max_read=max(50, len(relpaths) // 10), mark=True, stat_from=stat_from,
                level=repodata.repowrite.WORK_LEVEL,
                stats=idents if stat_from is not None else None)
        if links is None:
            result = write()
        else:
            try:
                result = write(linked_from)
            except OSError:
                links.result()      # a file missing: the links say which
                raise
            one_by_one = links.result()
            if not all(os.path.samefile(src, dest) for src, dest in one_by_one):
                result = write()    # a copy: its own size and mtime count
        repodata.repowrite.log_result(unit.log_path, out, result, sources)
        return result

    def repo_from_old(self, unit, old, download, listfile, links=None, linked_from=None,
                      idents=None):
        """A re-run's package set repo (no records parsed beside the closure: an old package
        set repo is there) written as a cold compose writes it (:meth:`repo_from_parsed`):
        by repowrite.write_repo at WORK_LEVEL, beside the links, from the records of ``old``
        (the old package set repos, :meth:`old_pkgset_repos`) of the very files, and of
        pkgset_repos for the others, the files left without a record read. The repo is then
        byte for byte a cold compose's of the same package set (repo_from_records wrote it at
        createrepo_c's level 6, after the links and a stat of each file). True when written,
        False (the log says why) when the caller must write it otherwise."""
        try:
            reason = repodata.repowrite.unsupported()
            if reason is None:
                self._write_set_repo(unit, download, listfile, old + self.repo_dirs(), links,
                                     linked_from, idents)
                return True
        except repodata.repowrite.RepoWriteError as exc:
            reason = str(exc)
        with open(unit.log_path, "a", encoding="utf-8") as log:
            log.write(f"# the old package set repo's records not written from: {reason}\n")
        return False

    def global_repo(self, unit, download, listfile, paths, parsing=None, links=None,
                    linked_from=None, idents=None):
        """The package set repo. The files of a repos package set are (links to) those of
        pkgset_repos, whose records are taken where they describe the very files: parsed by
        the child :meth:`start_record_parse` started, or by repodata.repo_from_records, which
        runs createrepo_c otherwise, taking them over where name, size and mtime match when
        the files are large enough for that to pay (repodata.update_md_sources). ``links``,
        ``linked_from``: see :meth:`repo_from_parsed`; the other ways wait for the links;
        ``idents``: see :meth:`_write_set_repo`.
        Returns the WriteResult of a repo written from the parsed records, else None."""
        if parsing is not None:
            written = self.repo_from_parsed(unit, parsing, download, listfile, links,
                                            linked_from)
            if written:
                return written
        elif links is not None and self.conf.pkgset_source == "repos":
            old = self.old_pkgset_repos()
            if old and self.repo_from_old(unit, old, download, listfile, links, linked_from,
                                          idents):
                return None
        if links is not None:
            links.result()
        sources = self.repo_dirs()
        reuse = repodata.update_md_sources(sources, paths) or None
        repodata.repo_from_records(download, self.paths.pkgset_repo(self.pkgset_name), listfile,
                                   sources=self.old_pkgset_repos() + sources,
                                   checksum=self._checksum(),
                                   baseurl=f"file://{download}", log_path=unit.log_path,
                                   update=True, update_md_path=reuse)

    def global_repo_and_host(self, count, *args, **kwargs):
        """:meth:`global_repo`, then, when the gathers of the compose's one arch will solve in
        worker processes over a package set of ``count`` packages, their solver host started
        on the package set repo just written (:func:`phases.gather.start_host`): the arch's
        repo is a copy of it when the arch keeps every package (:meth:`run_arch` hands the
        host over then). It loads while this unit still waits for the signing keys."""
        written = self.global_repo(*args, **kwargs)
        arches = self.compose.get_arches()
        scheduler = getattr(self.compose, "scheduler", None)
        gathers = scheduler is None or any(name.startswith("gather.")
                                           for name in getattr(scheduler, "units", ()))
        if len(arches) == 1 and gathers and gather_phase.workers_wanted(count):
            try:
                self._early_host = gather_phase.start_host(
                    self.paths.pkgset_repo(self.pkgset_name), arches[0])
            except (OSError, PungiLikeError) as exc:
                self.log.warning("the gathers' solver host not started early: %s", exc)
        return written

    #: the solver host :meth:`global_repo_and_host` started, until run_arch hands it over
    _early_host = None

    def old_pkgset_repos(self):
        """The package set repos of the compose resumed and of the newest old compose that carry
        the mark of this createrepo_c library (repowrite.MARK): their records of unchanged files
        are taken first, so a re-run parses pkgset_repos (or reads the RPMs) only for what
        changed. Records only: the repodata is the same without them."""
        pool = getattr(self.compose, "reuse_pool", None)
        if pool is None:
            return []
        rel = os.path.relpath(self.paths.pkgset_repo(self.pkgset_name), self.compose.topdir)
        found = []
        # a no-op re-run keeps no package set repo of its own: the compose holding it (files_at)
        for topdir in pool.places(2):
            path = os.path.join(topdir, rel)
            if os.path.exists(os.path.join(path, repodata.repowrite.MARK)) and path not in found:
                found.append(path)
        return found

    def read_repos(self, download):
        """repos source: :meth:`link_repos`, then each file's header; ``{file name: header}``."""
        return {filename: header_from_repodata(pkg, dest, solver)
                for filename, (pkg, dest, solver) in self.link_repos(download).items()}

    def link_repos(self, download, pool=None):
        """repos source: per arch, the closure of every input over the arch's repos (see the
        module docstring), linked into ``download``; ``{file name: (package, linked path,
        solver)}`` in the order found. With a ``pool`` (a capture-carrying thread pool) the
        links are made by a job of it: ``(that dict, the job's future)``."""
        linked = {}
        for arch in self.compose.get_arches():
            dirs = self.repo_dirs(arch)
            if not dirs:
                continue
            result, solver = self.repos_closure(arch, dirs)
            for category in (result.binary, result.debug, result.source):
                for pkg in category.values():
                    if pkg.filename in linked:
                        continue    # the first file of a name wins, as in Pungi
                    linked[pkg.filename] = (pkg, os.path.join(download, pkg.filename), solver)
        if not linked:
            raise PhaseError("pkgset_repos: the package set is empty: no comps group, additional "
                             "package or system-release provider matched a package of the repos")
        self.log.info("Package set: %d packages gathered from pkgset_repos", len(linked))
        pairs = [(pkg.path, dest) for pkg, dest, _solver in linked.values()]
        if pool is not None:
            return linked, pool.submit(link_set, download, pairs)
        link_set(download, pairs)
        return linked

    def repos_inputs(self, arch):
        """(groups, packages, prepopulate) asked for by any variant of ``arch``."""
        conf = self.conf
        groups, comps = [], None
        if conf.comps_file:
            path = self.paths.comps(arch, create=False)
            if os.path.exists(path):
                comps = comps_mod.Comps.from_file(path)
                groups = comps.group_ids()
        packages = set()
        for _regex, per_arch in conf.additional_packages or []:
            for key, value in per_arch.items():
                if key == arch or (key == "*" and arch != "src"):
                    packages.update([value] if isinstance(value, str) else value)
        prepopulate = set()
        for variant in self.compose.variants_for_arch(arch):
            packages.update(json_inputs(conf, variant, arch))
            prepopulate.update(prepopulate_inputs(conf, variant, arch))
        return groups, comps, sorted(packages), sorted(prepopulate)

    def repos_closure(self, arch, dirs):
        """The deps-method gather that makes the ``repos`` package set of ``arch``."""
        groups, comps, packages, prepopulate = self.repos_inputs(arch)
        solver = depsolve.Depsolver([depsolve.Repo(f"repo-{i}", path) for i, path in enumerate(dirs)], arch)
        packages = sorted(set(packages) | {p.name for p in solver.providers("system-release")})
        result = gathering.gather(None, arch, packages=packages, groups=groups, comps=comps,
                        method="deps", greedy="none", fulltree=True, selfhosting=True,
                        multilib_methods=["all"], prepopulate=prepopulate, solver=solver,
                        langpacks=comps.langpacks() if comps is not None else ())
        with open(self.paths.log_file(arch, "pkgset_source"), "w", encoding="utf-8") as log:
            log.write(f"repos: {', '.join(dirs)}\ngroups: {' '.join(groups)}\n"
                      f"packages: {' '.join(packages)}\n")
            for pattern in result.missing:
                log.write(f"No package matches pattern {pattern}\n")
            for message in result.broken_deps_messages():
                log.write(message + "\n")
            for label, data in (("RPM", result.binary), ("DEBUGINFO", result.debug),
                                ("SRPM", result.source)):
                for nevra in sorted(data):
                    log.write(f"{label}({','.join(sorted(data[nevra].flags))}): {data[nevra].path}\n")
        return result, solver

    # ---- koji source ------------------------------------------------------------------------
    def koji_event(self, koji):
        """The compose's event: ``--koji-event``, else the one saved by an earlier run of this
        compose, else the newest; saved to ``work/global/koji-event``."""
        path = os.path.join(self.paths.work_dir("global", create=True), "koji-event")
        spec = self.compose.koji_event
        if not spec and os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                spec = json.load(fh)["id"]
        event = koji.get_event(spec)
        write_json_atomic(path, {"id": event["id"], "ts": event["ts"]})
        return event

    def koji_arches(self):
        """Arches whose RPMs enter the package set (every compose arch, multilib, noarch, src)."""
        arches = {"noarch", "src"}
        for arch in self.compose.get_arches():
            arches.update(archmod.valid_arches(arch, multilib=self.multilib_enabled(arch)))
        return arches

    def koji_builds(self, koji, event, log):
        """``{package name: (build, [rpm, ...])}`` of the tags and the extra builds."""
        chosen = {}
        inherit = self.conf.pkgset_koji_inherit
        for tag in _as_list(self.conf.pkgset_koji_tag):
            rpms, builds = koji.call("listTaggedRPMS", tag, event=event["id"], inherit=inherit,
                                     latest=True)
            by_build = {}
            for rpm in rpms:
                by_build.setdefault(rpm["build_id"], []).append(rpm)
            added = 0
            for build in builds:
                if build["name"] not in chosen:   # an earlier tag wins
                    chosen[build["name"]] = (build, by_build.get(build["id"], []))
                    added += 1
            log.write(f"listTaggedRPMS({tag!r}, event={event['id']}, inherit={inherit}, "
                      f"latest=True): {len(builds)} builds, {len(rpms)} RPMs; {added} taken\n")
        extras = _as_list(self.conf.pkgset_koji_builds)
        if extras:
            found = koji.multicall("getBuild", [[nvr] for nvr in extras], strict=False)
            missing = [nvr for nvr, b in zip(extras, found) if not isinstance(b, dict)]
            if missing:
                raise PhaseError("pkgset_koji_builds: no such build on the build service: "
                                 + ", ".join(missing))
            lists = koji.multicall("listBuildRPMs", [[b["id"]] for b in found])
            for build, rpms in zip(found, lists):
                old = chosen.get(build["name"])
                if old and old[0]["id"] != build["id"]:
                    log.write(f"pkgset_koji_builds: {build['nvr']} replaces {old[0]['nvr']}\n")
                chosen[build["name"]] = (build, rpms)
        return chosen

    def read_koji(self, unit, download):
        """koji source: pick, check signatures, link or download; ``{filename: header}``."""
        koji = self.compose.koji
        if koji is None:
            raise PhaseError("pkgset_source = 'koji' but there is no build service connection "
                             "(koji_profile or buildservice)")
        sigkeys = list(self.conf.sigkeys or [None])
        allowed = self.koji_arches()
        with open(unit.log_path, "a", encoding="utf-8") as log:
            event = self.koji_event(koji)
            log.write(f"event {event['id']} ({event['ts']}); sigkeys {sigkeys}; "
                      f"{'local top directory ' + koji.topdir if koji.local else 'download from ' + koji.topurl}\n")
            chosen = self.koji_builds(koji, event, log)
            wanted = [(build, rpm) for name in sorted(chosen)
                      for build, rpms in [chosen[name]]
                      for rpm in sorted(rpms, key=nvra) if rpm["arch"] in allowed]
            picked, unsigned = self.pick_copies(koji, wanted, sigkeys, log)
            if unsigned:
                for rpm in unsigned:
                    log.write(f"no copy signed with any of {sigkeys}: {nvra(rpm)}\n")
                raise UnsignedPackagesError(
                    "RPM(s) not found for sigs: %s. Check log for details. Unsigned packages:\n%s"
                    % (tuple(sigkeys), "\n".join(sorted({nvra(r) for r in unsigned}))))
            headers = {}
            builds = {build["id"]: build for build, _rpms in chosen.values()}
            nosrc = {build["id"] for build, rpms in chosen.values()
                     if any(r["arch"] == "nosrc" for r in rpms)}
            # a source RPM's ExcludeArch/ExclusiveArch only matter to its noarch packages
            with_noarch = {rpm["build_id"] for rpm, _key, _source in picked
                           if rpm["arch"] == "noarch"}
            for rpm, key, source in picked:
                filename = nvra(rpm) + ".rpm"
                dest = koji.fetch(source, os.path.join(download, filename))
                headers[filename] = header_from_hub(
                    rpm, builds[rpm["build_id"]], key, dest,
                    arch_tags=rpm["arch"] in ("src", "nosrc") and rpm["build_id"] in with_noarch,
                    srpm_arch="nosrc" if rpm["build_id"] in nosrc else "src")
                log.write(f"{nvra(rpm)} {key or 'unsigned'} {source}\n")
        if not headers:
            raise PhaseError(f"pkgset_koji_tag {_as_list(self.conf.pkgset_koji_tag)} holds no "
                             f"packages at event {event['id']}")
        self.compose.results.put(("pkgset", "koji_event"), event)
        self.log.info("Package set: %d packages from %s at event %d (%s)", len(headers),
                      ", ".join(_as_list(self.conf.pkgset_koji_tag)), event["id"],
                      "linked" if koji.local else "downloaded")
        return headers

    def pick_copies(self, koji, wanted, sigkeys, log):
        """``(picked, unsigned)``: for each ``(build, rpm)`` the copy signed with the first key
        of ``sigkeys`` that has one, looked for ``signed_packages_retries`` more times with
        ``signed_packages_wait`` seconds between looks while some are missing (signing may be
        under way); then, as Pungi does, the unsigned RPM where ``sigkeys`` holds None or "".
        ``picked`` holds ``(rpm, key or None, path)``, ``unsigned`` the RPMs with no usable copy.
        The waits are shared: every look re-checks all the missing RPMs at once."""
        keys = [k for k in sigkeys if k]
        retries = int(self.conf.signed_packages_retries or 0)
        wait = float(self.conf.signed_packages_wait or 0)
        found, missing = {}, list(wanted)
        for attempt in range(retries + 1):
            if attempt:
                log.write(f"waiting {wait:g} s for signed copies of {len(missing)} RPM(s) "
                          f"(look {attempt + 1} of {retries + 1})\n")
                log.flush()
                time.sleep(wait)
            still = []
            for build, rpm in missing:
                for key in keys:
                    source = koji.rpm_path(build, rpm, key)
                    if koji.exists(source):
                        found[rpm["id"]] = (rpm, key.lower(), source)
                        break
                else:
                    still.append((build, rpm))
            missing = still
            if not missing or not keys:
                break
        allow_unsigned = any(not k for k in sigkeys)
        unsigned = []
        for build, rpm in missing:
            source = koji.rpm_path(build, rpm, None)
            if allow_unsigned and koji.exists(source):
                found[rpm["id"]] = (rpm, None, source)
            else:
                unsigned.append(rpm)
        picked = [found[rpm["id"]] for _build, rpm in wanted if rpm["id"] in found]
        return picked, unsigned

    def _checksum(self):
        return getattr(self.conf, "createrepo_checksum", None) or "sha256"

    # ---- per arch ---------------------------------------------------------------------------
    def offer_closure(self, arch, repo, download, kept, whole):
        """Hand the gathers of ``arch`` the closure's solver of ``arch`` and its packages of
        the arch's package set ``kept`` in the order of the arch's repo ``repo`` (file names
        sorted, as write_repo lists them), when that repo was written from the records of the
        repos that solver loaded: ``whole``, the arch keeps the whole package set (its repo is
        a copy of the global one; :func:`phases.gather.offer_solver`)."""
        with _excl_lock:
            closure = self._closure or {}
            self._closure_arches = getattr(self, "_closure_arches", set()) - {arch}
            if not self._closure_arches:
                self._closure = None    # the last arch: only the offers hold the solvers
        if not whole:
            return
        found = [closure.get(name, (None, None)) for name in sorted(kept)]
        solvers = {id(solver) for _pkg, solver in found}
        if not found or len(solvers) != 1 or any(pkg is None for pkg, _solver in found):
            return
        solver = found[0][1]
        if solver.arch != arch:
            return
        offer_solver(self.compose, arch, repo, solver,
                     [(pkg, os.path.normpath(os.path.join(download, name)))
                      for (pkg, _solver), name in zip(found, sorted(kept))])

    def multilib_enabled(self, arch):
        for variant in self.compose.variants_for_arch(arch):
            methods = self.conf.variant_arch_values("multilib", variant.uid, arch)
            flat = [m for item in methods for m in (item if isinstance(item, list) else [item])]
            if [m for m in flat if m != "none"]:
                return True
        return False

    def run_arch(self, unit):
        arch = unit.arch
        headers = self.compose.results.get(("pkgset", "global"))
        if headers is None:
            raise PhaseError("pkgset.global left no package set behind")
        allowed = set(archmod.valid_arches(arch, multilib=self.multilib_enabled(arch)))
        sources = {name: h for name, h in headers.items() if h.is_source}
        considers = self.conf.pkgset_exclusive_arch_considers_noarch
        kept, excluded = {}, []
        for name, h in sorted(headers.items()):
            if h.is_source or h.arch not in allowed:
                continue
            if h.arch == "noarch":
                why = noarch_excluded(sources.get(h.sourcerpm), arch, considers)
                if why:
                    excluded.append(f"Excluding {h.nevra} from {arch}: {why}")
                    continue
            kept[name] = h
        for name in sorted({h.sourcerpm for h in kept.values()}):
            if name in sources:
                kept[name] = sources[name]
        if excluded:
            with _excl_lock, open(self.paths.log_file("global", "excluding-arch"), "a",
                                  encoding="utf-8") as fh:
                fh.write("".join(line + "\n" for line in excluded))
        setname = self.pkgset_name
        listfile = self.paths.pkgset_package_list(setname, arch=arch)
        with open(listfile, "w", encoding="utf-8") as fh:
            fh.write("".join(filename + "\n" for filename in sorted(kept)))
        download = self.paths.pkgset_download_dir()
        repo = self.paths.pkgset_repo(setname, arch=arch)
        if kept.keys() == headers.keys():
            # the arch keeps the whole package set (one arch, nothing excluded): its repodata
            # is the global repo's, which createrepo_c would only write again
            copy_repodata(self.paths.pkgset_repo(setname), repo, unit.log_path)
        else:
            repodata.repo_from_records(download, repo, listfile,
                                       sources=[self.paths.pkgset_repo(setname)],
                                       checksum=self._checksum(), baseurl=f"file://{download}",
                                       log_path=unit.log_path, update=True,
                                       update_md_path=self.paths.pkgset_repo(setname),
                                       skip_stat=True)
        self.offer_closure(arch, repo, download, kept, whole=kept.keys() == headers.keys())
        with _excl_lock:
            host, self._early_host = self._early_host, None
        if host is not None:
            if kept.keys() == headers.keys():
                gather_phase.offer_host(self.compose, arch, repo, host)
            else:
                host.close()    # the arch's repo is not the global one's copy
        self.compose.results.put(("pkgset", arch), PackageSet(arch=arch, repo_path=repo,
                                                             prefix=download, packages=kept))
        return {"packages": len(kept), "excluded_noarch": len(excluded),
                "digest": headers_digest(kept)}
