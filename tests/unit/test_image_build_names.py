"""image_build's version and release as Pungi computes them (image_release, image_version,
the ``!NAME`` generators, the block -> image_build_* -> global_* look-up)."""

import types

import pytest

from phases.image_build import (ImageBuildPhase, formats_of, image_release, image_version,
                                version_generator)
from pungi_like.errors import PhaseError

pytestmark = pytest.mark.unit


class Conf(types.SimpleNamespace):
    """The typed config's look-alike: unset options are None, ``is_set`` knows what was set."""

    def is_set(self, name):
        return name in self.set_keys


def compose(label=None, **conf):
    values = dict(release_version="40", image_build_release=None, global_release=None,
                  image_build_version=None, global_version=None, set_keys=set(conf))
    values.update(conf)
    return types.SimpleNamespace(conf=Conf(**values), compose_label=label,
                                 compose_date="20261204", compose_type_suffix=".n",
                                 compose_respin=2)


def phase_for(c):
    phase = ImageBuildPhase.__new__(ImageBuildPhase)
    phase.compose, phase.conf = c, c.conf
    return phase


def test_image_release_and_version_follow_the_label():
    assert image_release(compose()) == "20261204.n.2"
    assert image_version(compose()) == "40"
    assert image_release(compose("Beta-1.2")) == "1.2"
    assert image_version(compose("Beta-1.2")) == "40_Beta"
    assert image_version(compose("RC-1.0")) == "40"


def test_generators():
    c = compose("Beta-1.2")
    assert version_generator(c, "!RELEASE_FROM_LABEL_DATE_TYPE_RESPIN") == "1.2"
    assert version_generator(c, "!OSTREE_VERSION_FROM_LABEL_DATE_TYPE_RESPIN") == "40_Beta.1.2"
    assert version_generator(c, "!RELEASE_FROM_DATE_RESPIN") == "20261204.2"
    assert version_generator(c, "!VERSION_FROM_VERSION_DATE_RESPIN") == "40.20261204.2"
    assert version_generator(c, "!VERSION_FROM_VERSION") == "40"
    assert version_generator(c, "Rawhide") == "Rawhide"
    with pytest.raises(PhaseError, match="Unknown version generator '!NO_SUCH'"):
        version_generator(c, "!NO_SUCH")


def test_release_lookup_block_then_phase_then_global():
    phase = phase_for(compose(global_release="!RELEASE_FROM_DATE_RESPIN"))
    assert phase.release({}) == "20261204.2"                     # global, generated
    assert phase.release({"release": "7"}) == "7"                # the block wins
    assert phase.release({"release": None}) == "20261204.n.2"    # None: the image release
    phase = phase_for(compose(image_build_release="3", global_release="9"))
    assert phase.release({}) == "3"
    assert phase_for(compose()).release({}) is None              # nothing set: no release
    # set to None at the phase level (Pungi's deprecated spelling): the image release
    assert phase_for(compose(image_build_release=None)).release({}) == "20261204.n.2"


def test_version_lookup_and_formats():
    assert phase_for(compose()).version({}) == "40"
    assert phase_for(compose(global_version="Rawhide")).version({}) == "Rawhide"
    assert phase_for(compose(global_version="x")).version({"version": "1"}) == "1"
    assert formats_of({"format": [("qcow2", "qcow2"), "raw-xz"]}) == ["qcow2", "raw-xz"]
    assert formats_of({"format": "tar-gz"}) == ["tar-gz"]
