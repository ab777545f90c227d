"""Kickstart files for image tasks: read with pykickstart, ``%include`` chains flattened, repos
replaced, and the parts an image build needs exposed as plain values.

``%include`` (and ``%ksappend``) lines are expanded textually *before* pykickstart parses the
result, so the file names are resolved the way a kickstart author expects (relative to the
including file, not to the builder's working directory) and the same code serves a kickstart
that comes as a set of files in memory (``files={relative path: text}``, what a task gets when
the kickstart and its includes were uploaded rather than checked out).  As in pykickstart, an
``%include`` line is expanded wherever it is, inside ``%post`` too.

Repos follow Koji's livecd semantics: the task's repos (the build tag's repo, or the user's
``--repo`` list) *replace* every ``repo`` line of the kickstart; ``keep_repos=True`` keeps the
kickstart's own (a local build against the repos the file names).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from pykickstart.constants import GROUP_ALL, GROUP_DEFAULT, GROUP_REQUIRED, KS_MISSING_IGNORE
from pykickstart.errors import KickstartError
from pykickstart.parser import KickstartParser
from pykickstart.version import makeVersion, stringToVersion

from ...errors import PungiLikeError
from ...fileutil import write_atomic

MAX_INCLUDE_DEPTH = 20
_INCLUDE_RE = re.compile(r"^\s*%(include|ksappend)\s+(\S+)\s*$")
_GROUP_INCLUDE = {GROUP_REQUIRED: "mandatory", GROUP_DEFAULT: "default", GROUP_ALL: "all"}
_SCRIPT_TYPES = {0: "pre", 1: "post", 2: "traceback", 3: "pre-install", 4: "onerror"}


class KickstartFileError(PungiLikeError):
    """A kickstart cannot be read, flattened or parsed; the message names file and line."""


@dataclass
class KsGroup:
    """``@name`` in %packages; ``include`` is mandatory (--nodefaults), default, or all
    (--optional)."""
    name: str
    include: str = "default"


@dataclass
class KsPackages:
    groups: list = field(default_factory=list)          # [KsGroup]
    environment: str | None = None                      # @^id
    packages: list = field(default_factory=list)        # names or globs
    excluded: list = field(default_factory=list)        # -name / -glob
    excluded_groups: list = field(default_factory=list)
    nocore: bool = False
    excludedocs: bool = False
    ignoremissing: bool = False
    default: bool = False                               # %packages --default


@dataclass
class KsScript:
    type: str               # pre, post, pre-install, onerror, traceback
    body: str
    interp: str = "/bin/sh"
    in_chroot: bool = True
    error_on_fail: bool = False
    lineno: int = 0


@dataclass
class KsRepo:
    name: str
    baseurl: str | None = None
    mirrorlist: str | None = None
    metalink: str | None = None
    cost: int | None = None
    includepkgs: list = field(default_factory=list)
    excludepkgs: list = field(default_factory=list)

    @property
    def url(self):
        return self.baseurl or self.mirrorlist or self.metalink


@dataclass
class FlatKickstart:
    """The text of a kickstart with every include expanded, and which files went into it."""
    text: str
    files: list             # the top file first, then each include in the order met
    origins: list = field(default_factory=list)   # (file, line) of each line of ``text``

    def origin(self, lineno):
        """``file:line`` where line ``lineno`` (1-based) of the flattened text comes from."""
        if 1 <= lineno <= len(self.origins):
            name, line = self.origins[lineno - 1]
            return f"{name}:{line}"
        return f"line {lineno} of the flattened kickstart"


def flatten_includes(path, files=None):
    """Expand ``%include``/``%ksappend`` in ``path`` recursively.

    With ``files`` ({relative path: text}) every name is looked up there (``path`` too) instead
    of on disk; names are normalised relative to the including file's directory.  A missing or
    circular include raises KickstartFileError naming the including file and line.
    """
    used = []

    def read(name, where):
        if files is not None:
            key = os.path.normpath(name)
            if key not in files:
                raise KickstartFileError(f"{where}: %include {name}: no such file among the "
                                         f"kickstart's files ({', '.join(sorted(files))})")
            return files[key]
        try:
            with open(name, encoding="utf-8") as fh:
                return fh.read()
        except OSError as exc:
            raise KickstartFileError(f"{where}: cannot read {name}: {exc.strerror}") from exc

    def expand(name, where, stack):
        if name in stack:
            raise KickstartFileError(f"{where}: %include {name} is circular "
                                     f"({' -> '.join(stack + [name])})")
        if len(stack) >= MAX_INCLUDE_DEPTH:
            raise KickstartFileError(f"{where}: %include nested deeper than {MAX_INCLUDE_DEPTH}")
        used.append(name)
        text = read(name, where)
        out = []            # (text, (file, line))
        base = os.path.dirname(name)
        for lineno, line in enumerate(text.splitlines(), 1):
            m = _INCLUDE_RE.match(line)
            if m:
                target = m.group(2)
                target = target if os.path.isabs(target) and files is None \
                    else os.path.normpath(os.path.join(base, target))
                out.append((f"# {m.group(1)} {m.group(2)} (from {name}:{lineno})",
                            (name, lineno)))
                out += expand(target, f"{name}:{lineno}", stack + [name])
                continue
            out.append((line, (name, lineno)))
        return out

    top = os.path.normpath(path) if files is not None else path
    lines = expand(top, "kickstart", [])
    return FlatKickstart(text="".join(line + "\n" for line, _ in lines), files=used,
                         origins=[origin for _, origin in lines])


class Kickstart:
    """A parsed, flattened kickstart.

    ``original_text`` is the top file as given; ``flat_text`` the text after include
    expansion; :meth:`text` the kickstart as pykickstart writes it now (after repo changes),
    which is what a build uses and saves beside the image.
    """

    def __init__(self, path, original_text, flat, handler, version_name):
        self.path = path
        self.original_text = original_text
        self.flat = flat
        self.flat_text = flat.text
        self.included_files = flat.files
        self.handler = handler
        self.version = version_name

    # ---- what a build reads ------------------------------------------------------------------
    @property
    def packages(self) -> KsPackages:
        p = self.handler.packages
        return KsPackages(
            groups=[KsGroup(g.name, _GROUP_INCLUDE.get(g.include, "default"))
                    for g in p.groupList],
            environment=p.environment or None,
            packages=list(p.packageList),
            excluded=list(p.excludedList),
            excluded_groups=[g.name for g in p.excludedGroupList],
            nocore=bool(getattr(p, "nocore", False)),
            excludedocs=bool(p.excludeDocs),
            ignoremissing=p.handleMissing == KS_MISSING_IGNORE,
            default=bool(p.default))

    @property
    def scripts(self) -> list:
        return [KsScript(type=_SCRIPT_TYPES.get(s.type, str(s.type)), body=s.script,
                         interp=s.interp or "/bin/sh", in_chroot=bool(s.inChroot),
                         error_on_fail=bool(s.errorOnFail), lineno=s.lineno or 0)
                for s in self.handler.scripts]

    def script_origin(self, script):
        """``file:line`` of a script's section header in the original files."""
        return self.flat.origin(script.lineno) if script.lineno else self.path

    def post_scripts(self):
        return [s for s in self.scripts if s.type == "post"]

    @property
    def repos(self) -> list:
        return [KsRepo(name=r.name, baseurl=r.baseurl or None, mirrorlist=r.mirrorlist or None,
                       metalink=getattr(r, "metalink", None) or None, cost=r.cost,
                       includepkgs=list(r.includepkgs or []),
                       excludepkgs=list(r.excludepkgs or []))
                for r in self.handler.repo.repoList]

    @property
    def bootloader(self) -> dict:
        b = self.handler.bootloader
        return {"location": getattr(b, "location", None),
                "append": getattr(b, "appendLine", "") or "",
                "timeout": getattr(b, "timeout", None)}

    @property
    def partitions(self) -> list:
        result = []
        for p in self.handler.partition.partitions:
            result.append({"mountpoint": p.mountpoint, "fstype": p.fstype or None,
                           "size_mib": p.size, "label": p.label or None, "grow": bool(p.grow)})
        return result

    def root_size_mib(self, default=None):
        """``part / --size`` in MiB (what livecd-creator takes as the root filesystem size)."""
        for p in self.partitions:
            if p["mountpoint"] == "/" and p["size_mib"]:
                return int(p["size_mib"])
        return default

    # ---- changes -----------------------------------------------------------------------------
    def replace_repos(self, repos):
        """Make ``repos`` the kickstart's only repos (and the first one its ``url``).

        ``repos``: URLs / paths (named ``repo-1``, ``repo-2``, ... as Koji names a user's
        ``--repo`` list) or ``(name, url)`` pairs.  Local paths become ``file://`` URLs.
        """
        repo_cmd = self.handler.repo
        data_class = self.handler.RepoData
        new = []
        for i, repo in enumerate(repos, 1):
            name, url = repo if isinstance(repo, (tuple, list)) else (f"repo-{i}", repo)
            url = os.fspath(url)
            if "://" not in url:
                url = "file://" + os.path.abspath(url)
            new.append(data_class(name=name, baseurl=url))
        repo_cmd.repoList = new
        # an install source (``url``) is a repo too: point it at the first of ours
        url = self.handler.url
        if new and (getattr(url, "url", None) or getattr(url, "mirrorlist", None)
                    or getattr(url, "metalink", None)):
            url.url, url.mirrorlist, url.metalink = new[0].baseurl, None, None

    def text(self):
        return str(self.handler)

    def write(self, path):
        """Write the flattened kickstart (as pykickstart renders it now) to ``path``."""
        write_atomic(path, self.text())
        return path


def load_kickstart(path, *, files=None, version=None) -> Kickstart:
    """Read ``path`` (or ``files[path]``), flatten its includes and parse it.

    ``version``: a pykickstart syntax version name (``"F13"``, ``"RHEL9"``); the newest one by
    default.  Parse errors raise KickstartFileError with pykickstart's message; its line numbers
    refer to the flattened text, whose comments say where each include starts.
    """
    flat = flatten_includes(path, files)
    original = files[os.path.normpath(path)] if files is not None else open(
        path, encoding="utf-8").read()
    try:
        handler = makeVersion(stringToVersion(version)) if version else makeVersion()
    except KickstartError as exc:
        raise KickstartFileError(f"unknown kickstart version {version!r}: {exc}") from exc
    parser = KickstartParser(handler, followIncludes=False, missingIncludeIsFatal=False)
    try:
        parser.readKickstartFromString(flat.text)
    except KickstartError as exc:
        lineno = getattr(exc, "lineno", None)
        message = getattr(exc, "message", None) or str(exc)
        where = flat.origin(lineno) if lineno else path
        raise KickstartFileError(f"{where}: {message.strip()} (kickstart syntax "
                                 f"{version or 'DEVEL'}; read from {path})") from exc
    return Kickstart(path, original, flat, handler, version or "DEVEL")


def prepare_kickstart(path, out_dir, *, repos=None, keep_repos=False, files=None, version=None,
                      name=None):
    """What an image task does first: load, replace the repos, write both kickstarts.

    Writes ``<out_dir>/<name>.ks`` (the original top file, as given) and
    ``<out_dir>/<name>-flat.ks`` (flattened, repos replaced).  Returns (Kickstart,
    original_path, flattened_path).
    """
    ks = load_kickstart(path, files=files, version=version)
    if not keep_repos:
        if not repos:
            raise KickstartFileError(f"{path}: no repos given to replace the kickstart's "
                                     f"(pass keep_repos=True to use its own)")
        ks.replace_repos(repos)
    base = name or os.path.splitext(os.path.basename(path))[0]
    os.makedirs(out_dir, exist_ok=True)
    original_path = os.path.join(out_dir, f"{base}.ks")
    flat_path = os.path.join(out_dir, f"{base}-flat.ks")
    write_atomic(original_path, ks.original_text)
    ks.write(flat_path)
    return ks, original_path, flat_path
