"""Variants XML: real files from Pungi users load as Pungi reads them; broken files are reported
with the file and line of every problem."""

import os
import re

import pytest
from lxml import etree

from pungi_like.errors import ConfigError
from pungi_like.variants import DTD_PATH, all_variants, load_variants

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
CASES = os.path.join(HERE, "variants_cases")
REALWORLD = os.path.join(REPO_ROOT, "..", "shared", "realworld", "pungi-configs")
DEMO = os.path.join(REPO_ROOT, "configs", "demo", "variants.xml")

needs_realworld = pytest.mark.skipif(not os.path.isdir(REALWORLD),
                                     reason="shared/realworld inputs are not beside the repo")


def real(*parts):
    return os.path.join(REALWORLD, *parts)


def flat(top):
    return {v.uid: v for v in all_variants(top)}


# ---- real-world files ----------------------------------------------------------------------

@needs_realworld
def test_pungi_dummy_variants_addons_layered_optional():
    top = load_variants(real("pungi-4.3.6-testdata", "tests", "data", "dummy-variants.xml"))
    # only top-level type="variant" entries are compose variants; addon/LP are templates
    assert sorted(top) == ["Bar-Tools", "Client", "Everything", "Foo-Tools", "Live", "Server"]
    v = flat(top)
    server = top["Server"]
    assert [c.uid for c in server.children] == [
        "Server-Gluster", "Server-ResilientStorage", "Server-optional"]
    rs = v["Server-ResilientStorage"]
    assert (rs.type, rs.id, rs.parent is server) == ("addon", "ResilientStorage", True)
    # addon arches intersected with the parent's
    assert rs.arches == ["x86_64"] and server.arches == ["s390x", "x86_64"]
    gluster = v["Server-Gluster"]
    assert gluster.type == "layered-product"
    assert (gluster.release_name, gluster.release_short, gluster.release_version) == (
        "Gluster", "Gluster", "2.3")
    # explicit optional child keeps its own groups; has_optional does not add a second one
    assert [g.name for g in v["Server-optional"].groups] == ["firefox"]
    assert len(server.get_optional()) == 1
    # has_optional="true" without an explicit child creates Client-optional with Client's arches
    assert v["Client-optional"].type == "optional"
    assert v["Client-optional"].arches == ["i386", "x86_64"]
    assert v["Client-optional"].groups == []
    assert top["Live"].is_empty is True
    assert top["Everything"].is_empty is False and top["Everything"].groups == []
    assert top["Everything"].all_groups is True


@needs_realworld
def test_group_and_environment_attributes():
    top = load_variants(real("pungi-4.3.6-testdata", "tests", "data", "dummy-variants.xml"))
    groups = {g.name: g for g in top["Client"].groups}
    assert [g.name for g in top["Client"].groups] == sorted(groups)
    assert (groups["firefox"].default, groups["firefox"].uservisible) == (True, False)
    assert (groups["text-internet"].default, groups["text-internet"].uservisible) == (False, None)
    assert (groups["skype"].default, groups["skype"].glob) == (None, False)
    envs = {e.name: e.display_order for e in top["Client"].environments}
    assert envs == {"desktop": 1000, "minimal": None}


@needs_realworld
def test_sort_order_is_pungis():
    top = load_variants(real("pungi-4.3.6-testdata", "tests", "data", "dummy-variants.xml"))
    order = [(v.type, v.uid) for v in all_variants(top)]
    assert order == [
        ("variant", "Bar-Tools"), ("variant", "Client"), ("variant", "Everything"),
        ("variant", "Foo-Tools"), ("variant", "Live"), ("variant", "Server"),
        ("layered-product", "Server-Gluster"), ("addon", "Server-ResilientStorage"),
        ("optional", "Client-optional"), ("optional", "Server-optional")]


@needs_realworld
def test_tree_arches_drops_variants_and_arches():
    path = real("pungi-4.3.6-testdata", "tests", "fixtures", "variants.xml")
    assert "Crashy" in load_variants(path)
    top = load_variants(path, tree_arches=["x86_64"])
    assert "Crashy" not in top  # ppc64le only
    v = flat(top)
    assert v["Server"].arches == ["x86_64"] and v["Client"].arches == ["x86_64"]
    assert v["Server-optional"].arches == ["x86_64"]
    # a child whose arches are all filtered is dropped, not an arch-intersection error
    top = load_variants(path, tree_arches=["s390x"])
    assert sorted(flat(top)) == ["Server", "Server-optional"]


@needs_realworld
def test_tree_variants_keeps_listed_uids_only():
    path = real("pungi-4.3.6-testdata", "tests", "fixtures", "variants.xml")
    top = load_variants(path, tree_variants=["Server"])
    # as in Pungi, children must be listed themselves
    assert list(top) == ["Server"] and top["Server"].children == []
    top = load_variants(path, tree_variants=["Server", "Server-optional", "Live"])
    assert sorted(flat(top)) == ["Live", "Server", "Server-optional"]


@needs_realworld
@pytest.mark.parametrize("rel,expected", [
    (("ultramarine", "variants.xml"),
     {"Everything": False, "Flagship": True, "Pantheon": True, "Cutefish": True, "GNOME": True,
      "Lapis": True}),
    (("foreman", "variants-foreman-rhel7.xml"), {"Foreman": False}),
    (("fedora-offline-gateway", "variants.xml"), {"Gateway": False}),
    (("pungi-4.3.6-testdata", "tests", "data", "multi-compose-variants.xml"),
     {"ResilientStorage": False, "Client": False, "Server": False}),
])
def test_other_real_files(rel, expected):
    top = load_variants(real(*rel))
    assert {uid: v.is_empty for uid, v in top.items()} == expected


@needs_realworld
def test_real_details():
    ultra = load_variants(real("ultramarine", "variants.xml"))
    assert ultra["Everything"].buildinstall_packages == [
        "ultramarine-release", "ultramarine-release-basic"]
    assert ultra["Everything"].groups == []  # the <groups> block there is commented out
    foreman = load_variants(real("foreman", "variants-foreman-rhel7.xml"))["Foreman"]
    assert foreman.children == [] and foreman.has_optional is False  # has_optional='false'
    gateway = load_variants(real("fedora-offline-gateway", "variants.xml"))["Gateway"]
    assert gateway.buildinstall_packages == ["fedora-productimg-workstation"]
    assert gateway.environments[0].display_order == 10
    assert len(gateway.groups) == 10 and all(g.default for g in gateway.groups)


def _render_bodhi(src, dest, id_value):
    """Bodhi's second template pass, reduced to what these files use: drop [% %] lines, fill
    [[ id ]]."""
    with open(src, encoding="utf-8") as fh:
        lines = [ln for ln in fh if not re.match(r"^\s*\[%.*%\]\s*$", ln)]
    dest.write_text("".join(lines).replace("[[ id ]]", id_value))
    return str(dest)


@needs_realworld
def test_bodhi_templates_rendered(tmp_path):
    rpm = _render_bodhi(real("fedora-bodhi-updates", "variants.rpm.xml.j2"),
                        tmp_path / "rpm.xml", "FEDORA-2024")
    top = load_variants(rpm)
    assert sorted(uid for uid, v in top.items() if v.is_empty) == [
        "COSMIC-Atomic", "Kinoite", "Onyx", "Sericea", "Silverblue"]
    assert top["Everything"].arches == ["aarch64", "ppc64le", "s390x", "x86_64"]
    mod = _render_bodhi(real("fedora-bodhi-updates", "variants.module.xml.j2"),
                        tmp_path / "module.xml", "f38-modular-updates")
    everything = load_variants(mod)["Everything"]
    assert everything.modular_koji_tags == ["f38-modular-updates"]
    assert everything.modules == []


@needs_realworld
def test_our_dtd_accepts_what_pungis_accepts():
    """Every real file valid under Pungi's own DTD is valid under ours."""
    pungi_dtd = etree.DTD(real("pungi-4.3.6-testdata", "share", "variants.dtd"))
    ours = etree.DTD(DTD_PATH)
    files = [real("pungi-4.3.6-testdata", "tests", "data", "dummy-variants.xml"),
             real("pungi-4.3.6-testdata", "tests", "fixtures", "variants.xml"),
             real("pungi-4.3.6-testdata", "tests", "data", "multi-compose-variants.xml"),
             real("ultramarine", "variants.xml"), real("foreman", "variants-foreman-rhel7.xml"),
             real("fedora-offline-gateway", "variants.xml"), DEMO]
    for path in files:
        tree = etree.parse(path)
        assert pungi_dtd.validate(tree), path
        assert ours.validate(tree), (path, ours.error_log)


# ---- semantics we chose where Pungi surprises ------------------------------------------------

def _write(tmp_path, body, name="v.xml"):
    path = tmp_path / name
    path.write_text('<?xml version="1.0"?>\n<variants>\n' + body + "</variants>\n")
    return str(path)


def test_is_empty_false_means_not_empty(tmp_path):
    path = _write(tmp_path, """
  <variant id="A" name="A" type="variant" is_empty="false"><arches><arch>x86_64</arch></arches></variant>
  <variant id="B" name="B" type="variant" is_empty="true"><arches><arch>x86_64</arch></arches></variant>
""")
    top = load_variants(path)
    assert top["A"].is_empty is False  # Pungi would call A empty
    assert top["B"].is_empty is True


def test_addon_shared_by_two_variants_gets_each_parents_arches(tmp_path):
    path = _write(tmp_path, """
  <variant id="HA" name="HA" type="addon">
    <arches><arch>x86_64</arch><arch>s390x</arch><arch>ppc64le</arch></arches>
  </variant>
  <variant id="Server" name="Server" type="variant">
    <arches><arch>x86_64</arch><arch>s390x</arch></arches>
    <variants><ref id="HA"/></variants>
  </variant>
  <variant id="Compute" name="Compute" type="variant">
    <arches><arch>ppc64le</arch></arches>
    <variants><ref id="HA"/></variants>
  </variant>
""")
    v = flat(load_variants(path))
    assert v["Server-HA"].arches == ["s390x", "x86_64"]
    assert v["Compute-HA"].arches == ["ppc64le"]
    assert v["Server-HA"] is not v["Compute-HA"]


def test_get_variants_by_arch_and_type():
    top = load_variants(DEMO)
    server = top["Server"]
    assert [v.uid for v in server.get_variants(types=["self", "addon"])] == [
        "Server", "Server-HighAvailability"]
    assert [v.uid for v in server.get_variants(arch="x86_64")] == [
        "Server-HighAvailability", "Server-optional"]
    assert server.get_variants(arch="s390x") == []
    assert [v.uid for v in server.get_variants(arch="src")] == [
        "Server-HighAvailability", "Server-optional"]
    assert "ha" in [g.name for g in server.get_groups(types=["addon"])]
    assert "Server-HighAvailability" in repr(server.children[0])


def test_demo_variants():
    top = load_variants(DEMO)
    assert sorted(top) == ["Everything", "Server", "Workstation"]
    v = flat(top)
    assert sorted(v) == ["Everything", "Server", "Server-HighAvailability", "Server-optional",
                         "Workstation"]
    assert all(x.arches == ["x86_64"] for x in v.values())
    assert [g.name for g in v["Server"].groups] == ["base", "core", "server-tools", "web-server"]
    assert [e.name for e in v["Server"].environments] == ["server-environment"]
    assert v["Server"].buildinstall_packages == ["demo-installer"]
    assert [g.name for g in v["Server-optional"].groups] == ["optional-extras"]
    assert (v["Server-HighAvailability"].id, v["Server-HighAvailability"].type) == (
        "HighAvailability", "addon")
    assert [g.name for g in v["Server-HighAvailability"].groups] == ["ha"]
    assert [g.name for g in v["Workstation"].groups] == [
        "base", "core", "development", "workstation-apps"]
    assert [e.name for e in v["Workstation"].environments] == ["workstation-environment"]
    assert v["Everything"].groups == [] and v["Everything"].all_groups


# ---- broken files: every error names file and line ----------------------------------------

MALFORMED = {
    "syntax_unclosed.xml": [(8, "XML syntax error")],
    "dtd_unknown_element.xml": [(3, "does not match variants.dtd"),
                                (7, "No declaration for element packages")],
    "dtd_bad_type.xml": [(8, 'Value "add-on" for attribute type')],
    "dtd_bad_boolean.xml": [(3, 'Value "yes" for attribute has_optional')],
    "whitespace_arch.xml": [(6, "<arch> 's390x' has leading or trailing whitespace")],
    "whitespace_group.xml": [(9, "<group> 'base' has leading or trailing whitespace")],
    "unknown_ref.xml": [(13, "references non-existing variant 'HighAvailabilty'; did you mean "
                             "'HighAvailability'?")],
    "ref_to_plain_variant.xml": [(13, "the variant on line 3 has type 'variant'")],
    "arches_disjoint.xml": [(13, "variant Server-HA: arches ['ppc64le'] do not intersect")],
    "addon_with_children.xml": [(8, "addon 'HA' cannot have child variants")],
    "child_same_id.xml": [(8, "child variant id 'Server' equals its parent's id")],
    "layered_no_release.xml": [(3, "layered-product 'Gluster' needs <release")],
    "layered_partial_release.xml": [(4, "lacks version")],
    "display_order_text.xml": [(8, "display_order='first'")],
    "duplicate_id.xml": [(8, "variant id 'Server' is already defined on line 3")],
    "top_level_optional.xml": [(8, "optional variant 'optional' at the top level")],
    "no_arches.xml": [(8, "variant 'Empty' lists no arches")],
    "release_on_variant.xml": [(4, "<release> is only meaningful in a layered-product")],
    "several_errors.xml": [(8, "'Missing1'"), (9, "'Missing2'"), (17, "display_order='x'")],
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_file_reports_file_and_line(name):
    path = os.path.join(CASES, name)
    with pytest.raises(ConfigError) as info:
        load_variants(path)
    messages = info.value.errors
    expected = MALFORMED[name]
    assert len(messages) == len(expected), messages
    for message, (line, fragment) in zip(messages, expected):
        assert message.startswith(f"{path}:{line}: "), message
        assert fragment in message, message


def test_every_case_file_is_covered():
    assert sorted(f for f in os.listdir(CASES) if f.endswith(".xml")) == sorted(MALFORMED)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read variants file"):
        load_variants(tmp_path / "nope.xml")
