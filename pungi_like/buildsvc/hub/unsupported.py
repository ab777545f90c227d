"""Hub methods of Koji this hub exports only to refuse them with a clear fault.

Two kinds:

* features a Koji hub can have switched off (Maven, Windows) or leave to plugins (kiwi, dud):
  they answer with Koji's own fault for a disabled feature ("Maven support not enabled"), as a
  Koji hub with ``EnableMaven = False`` does;
* features this hub has no task handler for yet (failed-tree saves, image build
  indirection): a GenericError saying so, instead of Koji's "Invalid method" which reads like
  a client bug. (Notifications, content generators, side tags and draft promotion are built:
  notifications.py, cgen.py, sidetags.py, drafts.py.)

Arguments are Koji's, so ``koji call`` and ``_listapi`` show the same signatures.
"""

from __future__ import annotations

import koji

from .common import assert_login
from .registry import export


def _disabled(feature):
    raise koji.GenericError("%s support not enabled" % feature)


def _unsupported(what):
    raise koji.GenericError("%s is not supported by this hub" % what)


# ---------------------------------------------------------------------------------------------
# disabled features (Koji's own faults)


@export
def mavenBuild(url, target, opts=None, priority=None, channel="maven"):
    """Maven builds: disabled on this hub."""
    assert_login()
    _disabled("Maven")


@export
def chainMaven(builds, target, opts=None, priority=None, channel="maven"):
    """Maven chain builds: disabled on this hub."""
    assert_login()
    _disabled("Maven")


@export
def wrapperRPM(build, url, target, priority=None, channel="maven", opts=None):
    """wrapperRPM tasks wrap Maven builds: disabled with Maven (a login first, as Koji)."""
    assert_login()
    _disabled("Maven")


@export
def createMavenBuild(build_info, maven_info):
    """Maven build import: disabled on this hub."""
    _disabled("Maven")


@export
def winBuild(vm, url, target, opts=None, priority=None, channel="vm"):
    """Windows builds: disabled on this hub."""
    _disabled("Windows")


@export
def createWinBuild(build_info, win_info):
    """Windows build import: disabled on this hub."""
    _disabled("Windows")


@export
def kiwiBuild(target, arches, desc_url, desc_path, optional_arches=None, profile=None,
              scratch=False, priority=None, make_prep=False, repos=None, release=None,
              type=None, type_attr=None, result_bundle_name_format=None,
              use_buildroot_repo=True, version=None, repo_releasever=None):
    """kiwi image builds (Koji's kiwi plugin): not enabled on this hub."""
    _disabled("kiwi")


@export
def dudBuild(dud_name, dud_version, arches, target, pkg_list, optional_arches=None,
             scratch=False, alldeps=False, scmurl=None, priority=None):
    """Driver update disk builds (Koji's dud plugin): not enabled on this hub."""
    _disabled("dud")


# ---------------------------------------------------------------------------------------------
# tasks without a handler here


@export
def saveFailedTree(buildrootID, full=False, **opts):
    assert_login()
    _unsupported("saveFailedTree")


@export
def buildImageIndirection(opts=None, priority=None):
    assert_login()
    _unsupported("buildImageIndirection")

