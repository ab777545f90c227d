"""Build script: the metadata is in setup.cfg.

A wheel (``pip wheel . -w dist``) also carries the repository's ``share/`` (templates, the
variants DTD) inside the package as ``pungi_like/_share``, which ``pungi_like.resources`` finds
when there is no checkout. Editable installs keep reading the checkout's ``share/``.
"""

import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildWithShare(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = os.path.join(self.build_lib, "pungi_like", "_share")
        if os.path.exists(target):
            shutil.rmtree(target)
        shutil.copytree(os.path.join(HERE, "share"), target,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithShare})
