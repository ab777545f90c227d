"""Fixtures of the koji-source tests: one hub seeded with the demo universe, signed.

The hub is started as ``tests/integration/hub/conftest.py`` does (HTTPS with a local PKI, the
real koji CLI configured with one profile per user); the universe is imported with
``pungi_like.buildsvc.seed`` and every RPM signed with a throwaway GnuPG key. The seeding costs
most of the module's time, so the hub lives for the whole session; tests that change it (tag a
newer build) pin the other tests to ``seed.event``, the event right after seeding.
"""

import importlib.util
import os
import shutil

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
DEMO_DIR = os.path.join(ROOT, "configs", "demo")

from kojisrc_helpers import NEWER_NAME, NEWER_OLD, NEWER_VERSION  # noqa: E402


def _hub_helpers():
    spec = importlib.util.spec_from_file_location(
        "kojisrc_hub_helpers", os.path.join(HERE, os.pardir, "hub", "conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hubmod = _hub_helpers()


@pytest.fixture(scope="session")
def kojisrc_pki(tmp_path_factory):
    import subprocess

    d = tmp_path_factory.mktemp("pki")
    args = ["certs", "--dir", str(d)]
    for u in hubmod.USERS:
        args += ["--user", u]
    subprocess.run(hubmod.HUB + args, check=True, capture_output=True, cwd=ROOT)
    return d


class Seeded:
    """The seeded hub: ``hub`` (conftest Hub), ``key`` (GpgKey), ``result`` (SeedResult),
    ``event`` (id right after seeding), ``home`` (a HOME whose ~/.koji holds the profiles)."""


@pytest.fixture(scope="session")
def seeded(tmp_path_factory, kojisrc_pki, universe):
    if shutil.which("rpmsign") is None or shutil.which("gpg") is None:
        pytest.fail("rpmsign and gpg are needed; run .ci/setup")
    import koji

    from pungi_like.buildsvc.seed import GpgKey, import_universe

    base = tmp_path_factory.mktemp("seeded")
    hub = hubmod.start_hub(base, kojisrc_pki, "sqlite")
    key = GpgKey.create(str(base / "gnupg"))
    try:
        opts = koji.read_config("kojiadmin", user_config=hub.conf)
        session = koji.ClientSession(opts["server"], opts)
        session.ssl_login(opts["cert"], None, opts["serverca"])
        result = import_universe(session, universe, sign_key=key, workdir=str(base),
                                 log_path=str(base / "sign.log"))
        home = base / "home"
        (home / ".koji" / "config.d").mkdir(parents=True)
        shutil.copy(hub.conf, home / ".koji" / "config.d" / "kojisrc.conf")
        s = Seeded()
        s.hub, s.key, s.result, s.session = hub, key, result, session
        s.event = result.event["id"]
        s.home = str(home)
        s.base = base
        yield s
    finally:
        key.stop_agent()
        hubmod.stop_hub(hub)


@pytest.fixture
def koji_home(seeded, monkeypatch):
    """HOME pointing at a directory whose ~/.koji/config.d has the hub's profiles."""
    monkeypatch.setenv("HOME", seeded.home)
    return seeded.home


class Newer:
    """A newer build tagged after the seeding: ``nvr``, ``nvras``, ``event_before`` (the newest
    event before it was tagged), ``old_nvr`` (the build it supersedes)."""




@pytest.fixture(scope="session")
def newer_build(seeded):
    """A newer, unsigned build of a leaf package, imported and tagged into demo-1.0-updates
    with the real koji CLI after noting the last event."""
    from pungi_like.universe.rpmbuild import Package, build_packages

    out = seeded.base / "newer"
    res = build_packages([Package(NEWER_NAME, NEWER_VERSION, "1", arch="noarch",
                                  files={"/usr/share/figlet/NEWS": "2.9: a newer build\n"})],
                         out / "rpms", workdir=out / "work")
    hub = seeded.hub
    hub.koji("import", *(res.srpms + res.rpms))
    before = seeded.session.getLastEvent()["id"]
    nvr = f"{NEWER_NAME}-{NEWER_VERSION}-1"
    hub.koji("call", "tagBuildBypass", "demo-1.0-updates", nvr)
    n = Newer()
    n.nvr, n.old_nvr, n.event_before = nvr, NEWER_OLD, before
    n.nvras = sorted(os.path.basename(p)[:-len(".rpm")] for p in res.srpms + res.rpms)
    return n


