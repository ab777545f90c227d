"""Every path under the build service's top directory, by Koji's layout rules.

The layout is the one Koji clients (and Pungi's pkgset phase, which looks files up on disk)
assume: ``packages/<name>/<version>/<release>/<arch>/<nvra>.rpm``, signed copies under
``<build>/data/signed/<sigkey>/<arch>/``, repos under ``repos/<tag>/<id>/<arch>/``, uploads and
task output under ``work/``, images under ``<build>/images/``.
"""

from __future__ import annotations

import os

#: Directories created by ``pungi-like-hub init``.
TOP_DIRS = ("packages", "repos", "repos-dist", "work", "scratch", "images", "vol")


class PathInfo:
    """Paths below ``topdir``; build and rpm arguments are dicts with Koji's keys."""

    def __init__(self, topdir: str):
        self.topdir = os.path.abspath(topdir)

    def volumedir(self, volume):
        if volume in (None, "DEFAULT"):
            return self.topdir
        return os.path.join(self.topdir, "vol", volume)

    def build(self, build):
        """``packages/<name>/<version>/<release>`` of a build dict."""
        name = build.get("name") or build.get("package_name")
        return os.path.join(self.volumedir(build.get("volume_name")), "packages",
                            name, build["version"], build["release"])

    @staticmethod
    def rpm(rpminfo):
        """Path of an RPM relative to its build dir: ``<arch>/<n>-<v>-<r>.<arch>.rpm``."""
        return "%(arch)s/%(name)s-%(version)s-%(release)s.%(arch)s.rpm" % rpminfo

    @staticmethod
    def signed(rpminfo, sigkey):
        return "data/signed/%s/%s" % (sigkey, PathInfo.rpm(rpminfo))

    @staticmethod
    def sighdr(rpminfo, sigkey):
        return "data/sigcache/%s/%s.sig" % (sigkey, PathInfo.rpm(rpminfo))

    def imagebuild(self, build):
        return os.path.join(self.build(build), "images")

    def work(self):
        return os.path.join(self.topdir, "work")

    def upload_dir(self, relpath):
        """Directory of an upload path; refuses absolute paths and ``..``."""
        norm = os.path.normpath(relpath)
        if os.path.isabs(relpath) or norm.startswith("..") or "/../" in "/%s/" % relpath:
            raise ValueError("invalid upload path: %r" % relpath)
        return os.path.join(self.work(), norm)

    def task(self, task_id):
        return os.path.join(self.work(), "tasks", str(task_id % 10000), str(task_id))

    def repo(self, repo_id, tag_name):
        return os.path.join(self.topdir, "repos", tag_name, str(repo_id))

    def scratch(self):
        return os.path.join(self.topdir, "scratch")

    def make_topdir(self):
        for d in TOP_DIRS:
            os.makedirs(os.path.join(self.topdir, d), exist_ok=True)
