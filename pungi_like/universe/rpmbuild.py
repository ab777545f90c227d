"""Build real RPMs with rpmbuild from package descriptions.

A :class:`Package` describes one source package: its header fields, dependencies, files (given as
content or as a path on this machine) and subpackages. :func:`build_packages` writes one spec per
package, packs the files into a plain tar ``Source0`` (so the SRPM is self-contained), and runs
``rpmbuild`` (at most two at a time) to get one SRPM and the binary RPMs for every arch.

Per-arch values: in file paths and in dependency strings, ``{libdir}`` becomes ``/usr/lib64`` on
64-bit arches and ``/usr/lib`` otherwise, ``{lib}`` becomes ``lib64``/``lib`` and ``{so64}``
becomes ``()(64bit)`` on 64-bit arches and nothing otherwise, which is how a library's soname
provide looks on each arch (``libfoo.so.1()(64bit)`` on x86_64, ``libfoo.so.1`` on i686).

Output: every RPM (binary and source) lands flat in ``outdir`` as ``N-V-R.A.rpm``.

The builds are deterministic: ``SOURCE_DATE_EPOCH`` sets the build time and clamps file mtimes,
the build host is fixed, no debuginfo is generated, no automatic dependencies are added
(``AutoReqProv: no``) and the payload is gzip, which every librpm (also the 4.14 bundled with PyPI
createrepo_c) reads. rpm puts ExcludeArch/ExclusiveArch only into the SRPM header; binary
headers do not carry them.
"""

from __future__ import annotations

import concurrent.futures
import io
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field

from ..errors import ToolError

log = logging.getLogger("pungi_like.universe.rpmbuild")

#: Time stamp used for build times, file mtimes and changelog (2023-11-14).
SOURCE_DATE_EPOCH = 1700000000
BUILD_HOST = "pungi-like-universe.example.com"
#: Number of rpmbuild processes run at the same time.
PARALLEL = 2

_64BIT = {"x86_64", "aarch64", "ppc64le", "ppc64", "s390x", "riscv64"}
_EXEC_DIRS = ("/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/usr/libexec/")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_PATH_RE = re.compile(r"^/[A-Za-z0-9._+@{}/-]*$")
# Arches a noarch build may pretend to be built on, in order of preference.
_HOST_CANDIDATES = ("x86_64", "i686", "aarch64", "ppc64le", "s390x")


@dataclass
class Subpackage:
    """A subpackage built from the same spec (``%package -n name``)."""

    name: str
    arch: str | None = None
    requires: list[str] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)
    obsoletes: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    files: dict[str, str | bytes] = field(default_factory=dict)
    summary: str = ""
    #: extras: symlink path -> target, directories owned, scriptlets, explicit modes
    symlinks: dict[str, str] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)
    scripts: dict[str, str] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    binary_files: dict[str, str] = field(default_factory=dict)


@dataclass
class Package:
    """One source package and its main binary package."""

    name: str
    version: str = "1.0"
    release: str = "1"
    epoch: int | None = None
    arch: str = "x86_64"
    arches: list[str] | None = None
    requires: list[str] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)
    obsoletes: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    buildrequires: list[str] = field(default_factory=list)
    excludearch: list[str] = field(default_factory=list)
    exclusivearch: list[str] = field(default_factory=list)
    files: dict[str, str | bytes] = field(default_factory=dict)
    binary_files: dict[str, str] = field(default_factory=dict)
    subpackages: list[Subpackage] = field(default_factory=list)
    summary: str = ""
    group_hint: str | None = None
    scripts: dict[str, str] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)
    license: str = "MIT"
    description: str = ""
    #: %changelog entries, newest first, each ``(date "Wed Nov 15 2023", "Name <mail> - EVR",
    #: text)``; empty: one generated entry for the package's own EVR
    changelog: list[tuple[str, str, str]] = field(default_factory=list)

    def build_arches(self) -> list[str]:
        """Arches rpmbuild is run for (``noarch`` packages once), minus excluded ones."""
        if self.arch == "noarch":
            return ["noarch"]
        arches = list(self.arches) if self.arches else [self.arch]
        return [a for a in arches if _arch_allowed(self, a)]

    @property
    def evr(self) -> str:
        return (f"{self.epoch}:" if self.epoch is not None else "") + f"{self.version}-{self.release}"


@dataclass
class BuildResult:
    """What :func:`build_packages` produced."""

    rpms: list[str] = field(default_factory=list)
    srpms: list[str] = field(default_factory=list)
    #: source package name -> every RPM built from it (SRPM first)
    by_package: dict[str, list[str]] = field(default_factory=dict)
    #: source package name -> seconds spent in rpmbuild
    timings: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def all(self) -> list[str]:
        return sorted(self.rpms + self.srpms)

    def paths(self, name: str) -> list[str]:
        """Binary RPM paths whose file name starts with ``name-`` followed by the version."""
        out = []
        for path in self.rpms:
            base = os.path.basename(path)
            stem = base.rsplit(".", 2)[0]  # N-V-R
            if stem.rsplit("-", 2)[0] == name:
                out.append(path)
        return sorted(out)


def _arch_allowed(pkg: Package, arch: str) -> bool:
    if arch in pkg.excludearch:
        return False
    if pkg.exclusivearch and arch not in pkg.exclusivearch and arch != "noarch":
        return False
    return True


def _expand(text: str, arch: str) -> str:
    is64 = arch in _64BIT
    return (text.replace("{libdir}", "/usr/lib64" if is64 else "/usr/lib")
            .replace("{lib}", "lib64" if is64 else "lib")
            .replace("{so64}", "()(64bit)" if is64 else ""))


def _is_per_arch(text: str) -> bool:
    return any(tok in text for tok in ("{libdir}", "{lib}", "{so64}"))


def _check_name(name: str, what: str) -> None:
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid {what} {name!r}")


def _check_path(path: str) -> None:
    if not _PATH_RE.match(path) or "//" in path or "/../" in path or path.endswith("/.."):
        raise ValueError(f"invalid install path {path!r}: absolute path of [A-Za-z0-9._+@-] parts")


def _parts(pkg: Package):
    """(name, Subpackage-or-Package, arch-of-part) for main package and subpackages."""
    yield pkg.name, pkg, pkg.arch
    for sub in pkg.subpackages:
        yield sub.name, sub, sub.arch or pkg.arch


def _escape_deps(dep: str) -> str:
    return dep.replace("\n", " ").strip()


def _dep_lines(part, arches: list[str]) -> list[str]:
    lines = []
    for tag, values in (("Requires", part.requires), ("Provides", part.provides),
                        ("Obsoletes", part.obsoletes), ("Conflicts", part.conflicts)):
        for dep in values:
            dep = _escape_deps(dep)
            if _is_per_arch(dep) and len(arches) >= 1 and arches != ["noarch"]:
                for arch in arches:
                    lines += [f"%ifarch {arch}", f"{tag}: {_expand(dep, arch)}", "%endif"]
            else:
                lines.append(f"{tag}: {_expand(dep, arches[0] if arches else 'noarch')}")
    return lines


def _file_mode(part, path: str, content=None) -> int:
    if path in part.modes:
        return part.modes[path]
    if path.startswith(_EXEC_DIRS) or (isinstance(content, (str, bytes)) and
                                       (content[:2] in ("#!", b"#!"))):
        return 0o755
    return 0o644


def _files_section(part, arch: str) -> list[str]:
    lines = []
    for path in sorted(set(part.dirs)):
        p = _expand(path, arch)
        _check_path(p)
        lines.append(f"%dir {p}")
    entries = {}
    for path, content in part.files.items():
        entries[_expand(path, arch)] = _file_mode(part, path, content)
    for path in getattr(part, "binary_files", {}):
        entries[_expand(path, arch)] = _file_mode(part, path)
    for path in part.symlinks:
        entries[_expand(path, arch)] = None
    for path in sorted(entries):
        _check_path(path)
        mode = entries[path]
        if mode is None:
            lines.append(path)
        else:
            lines.append(f"%attr({mode:04o},root,root) {path}")
    return lines


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes | None = None, src: str | None = None,
             symlink: str | None = None, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = SOURCE_DATE_EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if symlink is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = symlink
        info.mode = 0o777
        tar.addfile(info)
        return
    info.mode = mode
    if src is not None:
        info.size = os.path.getsize(src)
        with open(src, "rb") as fh:
            tar.addfile(info, fh)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def _write_source_tar(pkg: Package, arches: list[str], path: str) -> None:
    """A plain tar with one tree per build arch: ``<arch>/<install path>``."""
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for arch in arches:
            entries = {}
            for _name, part, _parch in _parts(pkg):
                for ipath, content in part.files.items():
                    data = content.encode("utf-8") if isinstance(content, str) else content
                    entries[_expand(ipath, arch)] = ("data", data, _file_mode(part, ipath, content))
                for ipath, src in getattr(part, "binary_files", {}).items():
                    entries[_expand(ipath, arch)] = ("src", src, _file_mode(part, ipath))
                for ipath, target in part.symlinks.items():
                    entries[_expand(ipath, arch)] = ("link", target, 0)
                for ipath in part.dirs:
                    entries.setdefault(_expand(ipath, arch), ("dir", None, 0o755))
            for ipath in sorted(entries):
                _check_path(ipath)
                kind, value, mode = entries[ipath]
                name = arch + ipath
                if kind == "data":
                    _tar_add(tar, name, data=value, mode=mode)
                elif kind == "src":
                    _tar_add(tar, name, src=value, mode=mode)
                elif kind == "link":
                    _tar_add(tar, name, symlink=value)
                else:
                    info = tarfile.TarInfo(name)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = SOURCE_DATE_EPOCH
                    tar.addfile(info)


def generate_spec(pkg: Package) -> str:
    """The spec file text for ``pkg`` (deterministic)."""
    _check_name(pkg.name, "package name")
    arches = pkg.build_arches()
    lines = [
        "%global debug_package %{nil}",
        "%define _build_id_links none",
        "%global __spec_install_post %{nil}",
        "%global __os_install_post %{nil}",
        f"Name: {pkg.name}",
    ]
    if pkg.epoch is not None:
        lines.append(f"Epoch: {int(pkg.epoch)}")
    lines += [
        f"Version: {pkg.version}",
        f"Release: {pkg.release}",
        f"Summary: {pkg.summary or 'Demo package ' + pkg.name}",
        f"License: {pkg.license}",
        "URL: https://example.com/demo",
        "Source0: %{name}-files.tar",
        "AutoReqProv: no",
    ]
    if pkg.group_hint:
        lines.append(f"Group: {pkg.group_hint}")
    if pkg.arch == "noarch":
        lines.append("BuildArch: noarch")
    if pkg.excludearch:
        lines.append("ExcludeArch: " + " ".join(pkg.excludearch))
    if pkg.exclusivearch:
        lines.append("ExclusiveArch: " + " ".join(pkg.exclusivearch))
    for dep in pkg.buildrequires:
        lines.append(f"BuildRequires: {_escape_deps(dep)}")
    lines += _dep_lines(pkg, arches)
    lines += ["", "%description", pkg.description or (pkg.summary or f"Demo package {pkg.name}."), ""]
    for sub in pkg.subpackages:
        _check_name(sub.name, "subpackage name")
        sub_arches = ["noarch"] if sub.arch == "noarch" else arches
        lines += [f"%package -n {sub.name}", f"Summary: {sub.summary or 'Demo subpackage ' + sub.name}"]
        lines.append("AutoReqProv: no")  # per package: the main preamble's does not carry over
        if sub.arch == "noarch" and pkg.arch != "noarch":
            lines.append("BuildArch: noarch")
        elif sub.arch and sub.arch not in ("noarch", pkg.arch):
            raise ValueError(f"subpackage {sub.name}: arch {sub.arch!r} must be noarch or the parent's")
        lines += _dep_lines(sub, sub_arches)
        lines += ["", f"%description -n {sub.name}", sub.summary or f"Demo subpackage {sub.name}.", ""]
    lines += [
        "%prep",
        "%build",
        "%install",
        "mkdir -p %{buildroot}",
        "tar -xf %{SOURCE0} -C %{buildroot} --strip-components=1 --no-same-owner %{_target_cpu}"
        if pkg.arch != "noarch" else
        "tar -xf %{SOURCE0} -C %{buildroot} --strip-components=1 --no-same-owner noarch",
        "",
    ]
    for name, part, parch in _parts(pkg):
        suffix = "" if part is pkg else f" -n {name}"
        for script, body in sorted(part.scripts.items()):
            lines += [f"%{script}{suffix}", body.rstrip("\n"), ""]
    for name, part, parch in _parts(pkg):
        suffix = "" if part is pkg else f" -n {name}"
        lines.append(f"%files{suffix}")
        part_arches = ["noarch"] if parch == "noarch" else arches
        per_arch = {a: _files_section(part, a) for a in part_arches}
        if len(set(map(tuple, per_arch.values()))) <= 1:
            lines += per_arch[part_arches[0]] if part_arches else []
        else:
            for a in part_arches:
                lines += [f"%ifarch {a}"] + per_arch[a] + ["%endif"]
        lines.append("")
    lines += ["%changelog"]
    if pkg.changelog:
        for date, author, text in pkg.changelog:
            lines += [f"* {date} {author}"] + [f"- {t}" for t in text.splitlines()] + [""]
    else:
        lines += [f"* Tue Nov 14 2023 Demo Builder <demo@example.com> - {pkg.evr}",
                  "- Generated package.", ""]
    return "\n".join(lines)


def _host_arch_for(pkg: Package) -> str | None:
    """For noarch packages whose ExcludeArch/ExclusiveArch rule out this machine: an arch to pose as."""
    host = os.uname().machine
    if _arch_allowed(pkg, host):
        return None
    for cand in _HOST_CANDIDATES:
        if _arch_allowed(pkg, cand) and (not pkg.exclusivearch or cand in pkg.exclusivearch):
            return cand
    raise ValueError(f"{pkg.name}: no arch allowed by ExcludeArch/ExclusiveArch")


def _rpmbuild_cmd(specfile: str, topdir: str, outdir: str, mode: str, target: str | None,
                  pose_as: str | None = None) -> list[str]:
    defines = {
        "_topdir": topdir,
        "_sourcedir": os.path.dirname(specfile),
        "_specdir": os.path.dirname(specfile),
        "_builddir": os.path.join(topdir, "BUILD"),
        "_buildrootdir": os.path.join(topdir, "BUILDROOT"),
        "_tmppath": os.path.join(topdir, "tmp"),
        "_rpmdir": outdir,
        "_srcrpmdir": outdir,
        "_build_name_fmt": "%%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
        "_buildhost": BUILD_HOST,
        "use_source_date_epoch_as_buildtime": "1",
        "clamp_mtime_to_source_date_epoch": "1",
        "_binary_payload": "w6.gzdio",
        "_source_payload": "w6.gzdio",
        "_binary_filedigest_algorithm": "8",
        "_source_filedigest_algorithm": "8",
        "_build_id_links": "none",
        "debug_package": "%{nil}",
        "__spec_install_post": "%{nil}",
        "__os_install_post": "%{nil}",
        "_missing_build_ids_terminate_build": "0",
        "vendor": "Demo",
        "packager": "Demo Builder <demo@example.com>",
        "distribution": "Demo",
        "_dbpath": os.path.join(topdir, "rpmdb"),
    }
    if pose_as:
        defines["_host_cpu"] = pose_as
        defines["_build_cpu"] = pose_as
    cmd = ["rpmbuild", mode, "--quiet"]
    if target:
        cmd += ["--target", target]
    for key, value in defines.items():
        cmd += ["--define", f"{key} {value}"]
    cmd.append(specfile)
    return cmd


def _run(cmd: list[str], cwd: str, log_fh) -> None:
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(SOURCE_DATE_EPOCH), LC_ALL="C", TZ="UTC")
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace")
    if log_fh is not None:
        log_fh.write(f"$ {' '.join(cmd)}\n{proc.stdout}# exit {proc.returncode}, "
                     f"{time.monotonic() - start:.2f} s\n")
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-20:])
        raise ToolError(f"rpmbuild failed for {cmd[-1]} (exit {proc.returncode})\n{tail}",
                        cmd=cmd, returncode=proc.returncode)


def _build_one(pkg: Package, workdir: str, outdir: str) -> tuple[list[str], float, str]:
    start = time.monotonic()
    pdir = os.path.join(workdir, pkg.name + "-" + pkg.evr.replace(":", "_"))
    shutil.rmtree(pdir, ignore_errors=True)
    srcdir = os.path.join(pdir, "SOURCES")
    top = os.path.join(pdir, "top")
    os.makedirs(srcdir)
    os.makedirs(top)
    arches = pkg.build_arches()
    if not arches:
        raise ValueError(f"{pkg.name}: every arch of {pkg.arches or [pkg.arch]} is excluded")
    specfile = os.path.join(srcdir, pkg.name + ".spec")
    with open(specfile, "w", encoding="utf-8") as fh:
        fh.write(generate_spec(pkg))
    _write_source_tar(pkg, arches, os.path.join(srcdir, pkg.name + "-files.tar"))
    logbuf = io.StringIO()
    # rpmbuild writes into a private directory first: parallel builds then never see each
    # other's files, and the list of what one build wrote is simply that directory.
    pout = os.path.join(pdir, "out")
    os.makedirs(pout)
    if pkg.arch == "noarch":
        pose = _host_arch_for(pkg)
        _run(_rpmbuild_cmd(specfile, top, pout, "-ba", pose, pose), pdir, logbuf)
    else:
        # SRPM and every arch in one process (--target a,b): one rpmbuild start-up per package.
        pose = arches[0] if not _arch_allowed(pkg, os.uname().machine) else None
        _run(_rpmbuild_cmd(specfile, top, pout, "-ba", ",".join(arches), pose), pdir, logbuf)
    written = []
    for fname in sorted(os.listdir(pout)):
        dest = os.path.join(outdir, fname)
        os.replace(os.path.join(pout, fname), dest)
        written.append(dest)
    with open(os.path.join(pdir, "build.log"), "w", encoding="utf-8") as fh:
        fh.write(logbuf.getvalue())
    shutil.rmtree(top, ignore_errors=True)
    return written, time.monotonic() - start, logbuf.getvalue()


def build_packages(packages, outdir, workdir=None, log=None, parallel: int = PARALLEL,
                   progress=None) -> BuildResult:
    """Build every package in ``packages`` into ``outdir`` (flat) and return what was written.

    ``workdir`` keeps spec files, source tars and build logs (a temp dir, removed afterwards, when
    not given). ``log`` is a path to append all rpmbuild output to. ``progress(done, total, name)``
    is called after each package.
    """
    outdir = os.path.abspath(os.fspath(outdir))
    os.makedirs(outdir, exist_ok=True)
    packages = list(packages)
    names = [p.name + "-" + p.evr for p in packages]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"packages given twice: {sorted(dupes)}")
    own_workdir = workdir is None
    workdir = os.path.abspath(workdir or tempfile.mkdtemp(prefix="pl-rpmbuild-"))
    os.makedirs(workdir, exist_ok=True)
    result = BuildResult()
    start = time.monotonic()
    log_fh = open(log, "a", encoding="utf-8") if log else None
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            futures = {pool.submit(_build_one, pkg, workdir, outdir): pkg for pkg in packages}
            done = 0
            for fut in concurrent.futures.as_completed(futures):
                pkg = futures[fut]
                written, seconds, output = fut.result()
                done += 1
                if log_fh:
                    log_fh.write(output)
                srpms = [w for w in written if w.endswith(".src.rpm")]
                rpms = [w for w in written if not w.endswith(".src.rpm")]
                result.srpms += srpms
                result.rpms += rpms
                result.by_package.setdefault(pkg.name, []).extend(srpms + rpms)
                result.timings[pkg.name + "-" + pkg.evr] = seconds
                if progress:
                    progress(done, len(packages), pkg.name)
    finally:
        if log_fh:
            log_fh.close()
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    result.rpms.sort()
    result.srpms.sort()
    for paths in result.by_package.values():
        paths.sort(key=lambda p: (not p.endswith(".src.rpm"), p))
    result.elapsed = time.monotonic() - start
    return result


__all__ = ["Package", "Subpackage", "BuildResult", "build_packages", "generate_spec",
           "SOURCE_DATE_EPOCH"]
