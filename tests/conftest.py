"""Session-wide fixtures: the demo package universe and a factory for tiny custom RPMs."""

import os

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def universe():
    """The demo universe (RPMs, repodata, comps), built once into ``<repo>/.cache/universe``.

    Later runs reuse it when the generated specs and inputs are unchanged (a stamp with their hash).
    """
    from pungi_like.universe import ensure_universe

    return ensure_universe(os.path.join(REPO_ROOT, ".cache", "universe"), quiet=True)


@pytest.fixture
def rpm_factory(tmp_path):
    """Build tiny custom packages: ``rpm_factory([Package(...), ...]) -> BuildResult``.

    RPMs land in ``tmp_path/rpms`` unless ``outdir`` is given.
    """
    from pungi_like.universe.rpmbuild import build_packages

    def build(packages, outdir=None):
        outdir = outdir or tmp_path / "rpms"
        return build_packages(packages, outdir, workdir=tmp_path / "rpmbuild-work")

    return build
