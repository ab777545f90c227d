"""Every path under the build service's top directory, by Koji's layout rules.

The layout is the one Koji clients (and Pungi's pkgset phase, which looks files up on disk)
assume: ``packages/<name>/<version>/<release>/<arch>/<nvra>.rpm``, signed copies under
``<build>/data/signed/<sigkey>/<arch>/``, repos under ``repos/<tag>/<id>/<arch>/``, uploads and
task output under ``work/``, images under ``<build>/images/``.

Names in these paths come from the database and from callers (tag, package and user names, NVRs,
arches, signing keys, uploaded file names). The hub validates names when they are created
(``hub/names.py``), but a path is built only through :func:`safe_join`, which refuses absolute
parts, ``..``, NUL and anything whose real path leaves its base, so a bad name that is already
stored (a tag called ``../../x`` from before validation) cannot make the hub or a builder write,
link or delete outside the top directory.
"""

from __future__ import annotations

import os

import koji

#: Directories created by ``pungi-like-hub init``.
TOP_DIRS = ("packages", "repos", "repos-dist", "work", "scratch", "images", "vol")


class UnsafePathError(koji.GenericError, ValueError):
    """A name or path that would leave its base directory (a Koji GenericError for API callers,
    a ValueError for code that validated paths with ``except ValueError`` before)."""


def _check_part(part, base):
    if isinstance(part, int) and not isinstance(part, bool):
        part = str(part)
    if not isinstance(part, str):
        raise UnsafePathError("Invalid path component under %s: %r (not a string)"
                              % (os.path.basename(base) or base, part))
    if "\0" in part or os.path.isabs(part) or {"", ".", ".."} & set(part.split("/")):
        raise UnsafePathError("Invalid path component under %s: %r (empty, absolute, NUL, '.' "
                              "or '..' are refused)" % (os.path.basename(base) or base, part))
    return part


def safe_join(base, *parts, resolve=True):
    """``base/part/...``, refusing parts that are not plain relative paths below ``base``.

    Each part may hold several components (``"data/signed/abcd"``) but no ``..``, no NUL and no
    leading ``/``. With ``resolve`` (the default) the real path (symlinks followed) must also
    stay under the real path of ``base``, so a symlink planted inside cannot lead out either.
    Returns the joined path (normalised, symlinks not resolved) or raises UnsafePathError.
    """
    parts = [_check_part(p, base) for p in parts]
    path = os.path.normpath(os.path.join(base, *parts))
    if resolve:
        real_base = os.path.realpath(base)
        real = os.path.realpath(path)
        if real != real_base and not real.startswith(real_base.rstrip(os.sep) + os.sep):
            raise UnsafePathError("Path %s leaves its base directory %s"
                                  % (os.path.join(*parts) if parts else ".", base))
    return path


def component(value, what):
    """``value`` as one path component (no ``/``): an arch, a version, a signing key, a file name."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or value in (".", "..") or "/" in value \
            or "\0" in value:
        raise UnsafePathError("Invalid %s for a path: %r" % (what, value))
    return value


class PathInfo:
    """Paths below ``topdir``; build and rpm arguments are dicts with Koji's keys."""

    def __init__(self, topdir: str):
        self.topdir = os.path.abspath(topdir)

    def join(self, *parts):
        """A path below the top directory (see :func:`safe_join`)."""
        return safe_join(self.topdir, *parts)

    def volumedir(self, volume):
        if volume in (None, "DEFAULT"):
            return self.topdir
        # Volumes are admin-made symlinks to other file systems: checked by name, not realpath.
        return safe_join(self.topdir, "vol", component(volume, "volume name"), resolve=False)

    def build(self, build):
        """``packages/<name>/<version>/<release>`` of a build dict."""
        name = build.get("name") or build.get("package_name")
        base = self.volumedir(build.get("volume_name"))
        return safe_join(base, "packages", component(name, "package name"),
                         component(build["version"], "version"),
                         component(build["release"], "release"))

    def build_file(self, build, *parts):
        """A path inside a build's directory (``data/logs/...``, ``files/...``)."""
        return safe_join(self.build(build), *parts)

    @staticmethod
    def rpm(rinfo):
        """Path of an RPM relative to its build dir: ``<arch>/<n>-<v>-<r>.<arch>.rpm``."""
        arch = component(rinfo["arch"], "arch")
        fname = "%s-%s-%s.%s.rpm" % (rinfo["name"], rinfo["version"], rinfo["release"], arch)
        return "%s/%s" % (arch, component(fname, "rpm file name"))

    @staticmethod
    def _sigkey_dir(top, sigkey):
        # Unsigned RPMs have the empty key: Koji's "data/sigcache//<arch>/..." is this, normalised
        if sigkey == "":
            return top
        return "%s/%s" % (top, component(sigkey, "signing key"))

    @staticmethod
    def signed(rinfo, sigkey):
        return "%s/%s" % (PathInfo._sigkey_dir("data/signed", sigkey), PathInfo.rpm(rinfo))

    @staticmethod
    def sighdr(rinfo, sigkey):
        return "%s/%s.sig" % (PathInfo._sigkey_dir("data/sigcache", sigkey), PathInfo.rpm(rinfo))

    def imagebuild(self, build):
        return safe_join(self.build(build), "images")

    def work(self):
        return os.path.join(self.topdir, "work")

    def upload_dir(self, relpath):
        """Directory of an upload path below ``work/``; refuses absolute paths and ``..``."""
        return safe_join(self.work(), relpath)

    def task(self, task_id):
        if isinstance(task_id, bool) or not isinstance(task_id, int):
            raise UnsafePathError("Invalid task id for a path: %r" % (task_id,))
        return os.path.join(self.work(), "tasks", str(task_id % 10000), str(task_id))

    def task_file(self, task_id, relpath):
        """A file in a task's output directory."""
        return safe_join(self.task(task_id), relpath)

    def repo(self, repo_id, tag_name):
        return safe_join(self.topdir, "repos", tag_name, str(int(repo_id)))

    def distrepo(self, repo_id, tag_name):
        """A dist repo (``koji dist-repo``): ``repos-dist/<tag>/<id>``, as Koji lays it out."""
        return safe_join(self.topdir, "repos-dist", tag_name, str(int(repo_id)))

    def repo_latest(self, tag_name):
        """The ``latest`` link of a tag's repos (``repos/<tag>/latest``)."""
        return safe_join(self.topdir, "repos", tag_name, "latest")

    def scratch(self):
        return os.path.join(self.topdir, "scratch")

    def scratch_task(self, owner, task_id):
        """``scratch/<owner>/task_<id>``: where scratch images of a task are kept."""
        return safe_join(self.scratch(), component(owner, "user name"), "task_%d" % int(task_id))

    def make_topdir(self):
        for d in TOP_DIRS:
            os.makedirs(os.path.join(self.topdir, d), exist_ok=True)
