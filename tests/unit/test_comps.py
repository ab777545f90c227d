"""Comps filtering on real comps files (read from ../shared/realworld at test time)."""

import os

import pytest

from pungi_like.rpmtools.comps import Comps, CompsError, filter_for_variant

HERE = os.path.dirname(os.path.abspath(__file__))
REALWORLD = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "realworld", "comps"))
FIXTURES = os.path.join(REALWORLD, "pungi-4.3.6-fixtures")

needs_realworld = pytest.mark.skipif(not os.path.isdir(REALWORLD),
                                     reason="shared realworld comps fixtures not present")


def fixture(name):
    return os.path.join(FIXTURES, name)


@needs_realworld
def test_whitespace_in_package_names_is_reported():
    errors = Comps.from_file(fixture("comps-ws.xml")).whitespace_errors()
    assert errors == [
        "Package name  foo  in group 'core' contains leading or trailing whitespace",
        "Package name bar  in group 'core' contains leading or trailing whitespace",
        "Package name  baz in group 'core' contains leading or trailing whitespace",
    ]
    assert Comps.from_file(fixture("comps.xml")).whitespace_errors() == []


@needs_realworld
def test_unknown_package_type_is_reported():
    errors = Comps.from_file(fixture("comps-typo.xml")).type_errors()
    assert len(errors) == 1 and "'mndatory'" in errors[0] and "dummy-bash" in errors[0]


@needs_realworld
def test_arch_filter_drops_elements_for_other_arches():
    comps = Comps.from_file(fixture("comps-cleanup.xml"))
    comps.filter_arch("ppc64le")
    assert comps.group_ids() == ["core", "standard"]
    assert comps.environment_ids() == ["desktop"]
    assert comps.group_packages(["core"]) == ["Dummy-firefox"]
    comps = Comps.from_file(fixture("comps-cleanup.xml"))
    comps.filter_arch("x86_64")
    assert comps.group_ids() == ["core", "text-internet"]
    assert comps.group_packages(["core"]) == ["dummy-icedtea-web"]


@needs_realworld
def test_variant_filter_and_cleanup():
    comps = Comps.from_file(fixture("comps-cleanup.xml"))
    comps.filter_arch("x86_64")
    comps.filter_variant("Client")
    comps.cleanup()
    # "desktop" (variant Server) is gone, "minimal" still references core
    assert comps.environment_ids() == ["minimal"]
    assert comps.group_packages(["text-internet"]) == ["dummy-tftp"]


@needs_realworld
def test_cleanup_drops_empty_groups_dangling_refs_and_empty_containers():
    comps = Comps.from_file(fixture("comps.xml"))
    comps.keep_groups(["core", "firefox"])
    comps.cleanup()
    assert comps.group_ids() == ["core", "firefox"]
    # "desktop" loses standard/basic-desktop refs but keeps core; "empty" goes; option lists
    # are never cut (Pungi keeps them whole)
    assert comps.environment_ids() == ["minimal", "desktop"]
    assert comps.environment_groups("desktop") == ["core"]
    assert comps.environment_groups("desktop", include_options=True) == ["core", "text-internet"]
    assert comps.category_ids() == ["apps"]


@needs_realworld
def test_filter_for_variant_reports_missing_groups_and_keeps_environments():
    comps = Comps.from_file(fixture("comps.xml"))
    result, missing = filter_for_variant(comps, "x86_64", "Server",
                                         groups=["core", "resilient-*", "nosuchgroup"],
                                         environments=["minimal"])
    assert missing == ["nosuchgroup"]
    assert result.group_ids() == ["core", "resilient-storage"]
    assert result.environment_ids() == ["minimal"]
    # the input is untouched
    assert "standard" in comps.group_ids()
    result, _ = filter_for_variant(comps, "ppc64le", "Server", groups=["core", "resilient-*"])
    assert result.group_ids() == ["core"]


@needs_realworld
def test_group_packages_types():
    comps = Comps.from_file(fixture("comps.xml"))
    assert comps.group_packages(["text-internet"]) == ["dummy-elinks", "dummy-tftp"]
    assert comps.group_packages(["text-internet"], include_optional=False) == []
    assert comps.group_packages(["basic-desktop"], include_conditional=False) == []
    assert comps.group_packages(["*"]) == sorted([
        "dummy-bash", "dummy-lvm2", "dummy-elinks", "dummy-tftp", "Dummy-firefox",
        "dummy-icedtea-web", "dummy-gfs2-utils", "dummy-lvm2-cluster", "dummy-pacemaker",
        "dummy-resource-agents", "dummy-imsettings-gnome"])


@needs_realworld
def test_written_comps_is_deterministic_and_keeps_translations(tmp_path):
    comps = Comps.from_file(fixture("comps.xml"))
    out1, out2 = tmp_path / "a.xml", tmp_path / "b.xml"
    comps.write(out1)
    Comps.from_file(out1).write(out2)
    assert out1.read_bytes() == out2.read_bytes()
    text = out1.read_text()
    assert 'xml:lang="am"' in text and "<langpacks>" in text
    reread = Comps.from_file(out1)
    # groups sorted by id
    assert reread.group_ids() == sorted(comps.group_ids())
    import libcomps
    parsed = libcomps.Comps()
    parsed.fromxml_f(str(out1))
    assert sorted(g.id for g in parsed.groups) == sorted(comps.group_ids())
    assert sorted(e.id for e in parsed.environments) == sorted(comps.environment_ids())


@needs_realworld
@pytest.mark.parametrize("name", ["comps-f40.xml.in", "comps-epel9.xml.in"])
def test_large_real_comps_filter(name, tmp_path):
    comps = Comps.from_file(os.path.join(REALWORLD, "fedora-comps", name))
    before = len(comps.group_ids())
    assert before > 5
    comps.filter_arch("x86_64")
    comps.cleanup()
    comps.write(tmp_path / "out.xml")
    again = Comps.from_file(tmp_path / "out.xml")
    assert again.group_ids() == sorted(comps.group_ids())
    for env in again.environment_ids():
        assert set(again.environment_groups(env)) <= set(again.group_ids())


def test_not_comps_is_an_error(tmp_path):
    bad = tmp_path / "x.xml"
    bad.write_text("<foo/>")
    with pytest.raises(CompsError, match="expected <comps>"):
        Comps.from_file(bad)
    bad.write_text("<comps><group>")
    with pytest.raises(CompsError, match="cannot read comps"):
        Comps.from_file(bad)
