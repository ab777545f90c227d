"""Pungi 4.3.2's gather rules, one case each, on small generated repos (metadata only).

Each case states the rule as Pungi's gather applies it; the repos are written by the helpers
of test_depsolve.
"""

import pytest

from pungi_like.rpmtools.comps import Comps
from pungi_like.rpmtools.depsolve import Depsolver, Repo
from pungi_like.rpmtools.gathering import gather

from tests.unit.test_depsolve import P, src, write_repo

UNIVERSE = [
    # a library family with debug packages for both arches and a noarch sibling
    P("lib-1.0-1.x86_64", requires=["lib-common"], files=["/usr/lib64/liblib.so.1"]),
    P("lib-1.0-1.i686", requires=["lib-common"], files=["/usr/lib/liblib.so.1"]),
    P("lib-devel-1.0-1.x86_64", source="lib", requires=["lib"]),
    P("lib-devel-1.0-1.i686", source="lib", requires=["lib"]),
    P("lib-common-1.0-1.noarch", source="lib"),
    P("lib-debuginfo-1.0-1.x86_64", source="lib"),
    P("lib-debuginfo-1.0-1.i686", source="lib"),
    P("lib-devel-debuginfo-1.0-1.x86_64", source="lib"),
    P("lib-debugsource-1.0-1.x86_64", source="lib"),
    src("lib"),
    # a runtime library whose multilib build needs a tool by name
    P("plug-1.0-1.x86_64", requires=["plug-tool"], files=["/usr/lib64/libplug.so.1"]),
    P("plug-1.0-1.i686", requires=["plug-tool"], files=["/usr/lib/libplug.so.1"]),
    src("plug"),
    P("plug-tool-1.0-1.x86_64"), P("plug-tool-1.0-1.i686", source="plug-tool"), src("plug-tool"),
    # a noarch-only family
    P("docs-1.0-1.noarch"), P("docs-extra-1.0-1.noarch", source="docs"),
    P("docs-debugsource-1.0-1.x86_64", source="docs"), src("docs"),
    # providers of a capability, two from one source
    P("user-1.0-1.x86_64", requires=["cap"]), src("user"),
    P("prov-a-1.0-1.x86_64", provides=["cap"], source="prov-a"),
    P("prov-a-x-1.0-1.x86_64", provides=["cap"], source="prov-a"),
    P("prov-a-other-1.0-1.x86_64", source="prov-a"),
    src("prov-a"),
    P("prov-b-1.0-1.x86_64", provides=["cap"]), src("prov-b"),
    # a 32-bit-only package whose family has native builds too
    P("compat-1.0-1.i686"), P("compat-data-1.0-1.noarch", source="compat"),
    P("compat-tools-1.0-1.x86_64", source="compat"), P("compat-tools-1.0-1.i686", source="compat"),
    src("compat"),
    # langpacks
    P("office-1.0-1.x86_64"), src("office"),
    P("office-langpack-de-1.0-1.noarch", source="office"),
    P("office-langpack-devel-1.0-1.noarch", source="office"),
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return write_repo(str(tmp_path_factory.mktemp("rules")), UNIVERSE)


@pytest.fixture(scope="module")
def solver(repo):
    return Depsolver([Repo("set", repo)], "x86_64")


def go(solver, packages=(), **kw):
    return gather(None, "x86_64", packages=packages, solver=solver, **kw)


def names(result, category="binary"):
    return sorted(f"{p.name}.{p.arch}" for p in getattr(result, category).values())


def test_debug_packages_are_named_after_a_binary_of_the_same_arch(solver):
    res = go(solver, ["lib"])
    # lib.x86_64 pulls lib-debuginfo.x86_64 and the debugsource; not the i686 debuginfo, not the
    # debuginfo of lib-devel (not in the tree)
    assert names(res, "debug") == ["lib-debuginfo.x86_64", "lib-debugsource.x86_64"]
    res = go(solver, ["lib-devel"])
    assert "lib-devel-debuginfo.x86_64" in names(res, "debug")


def test_noarch_binaries_pull_no_debug_packages(solver):
    res = go(solver, ["docs"])
    assert names(res) == ["docs.noarch"]
    assert names(res, "debug") == []
    assert names(res, "source") == ["docs.src"]


def test_multilib_build_pulls_its_own_arch_debuginfo(solver):
    res = go(solver, ["lib"], multilib_methods=["runtime"])
    assert "lib.i686" in names(res)
    assert "lib-debuginfo.i686" in names(res, "debug")


def test_debug_input_goes_to_the_debug_tree(solver):
    res = go(solver, ["lib-debuginfo"])
    assert names(res) == []
    assert names(res, "debug") == ["lib-debuginfo.x86_64"]


def test_multilib_dependencies_prefer_chosen_native_packages(solver):
    # plug.i686 (runtime multilib) requires plug-tool by name: the chosen plug-tool.x86_64
    # answers it, so plug-tool.i686 stays out
    res = go(solver, ["plug"], multilib_methods=["runtime"])
    assert names(res) == ["plug-tool.x86_64", "plug.i686", "plug.x86_64"]
    assert res.binary["plug-0:1.0-1.i686"].flags == {"multilib"}


def test_multilib_needs_the_same_version_and_a_method(solver):
    assert "plug.i686" not in names(go(solver, ["plug"]))
    assert "plug.i686" not in names(go(solver, ["plug"], multilib_methods=["devel"],
                                           multilib_blacklist=["plug"]))
    # the devel method covers what runtime covers, and -devel names
    res = go(solver, ["lib-devel"], multilib_methods=["devel"])
    assert {"lib-devel.i686", "lib.i686"} <= set(names(res))


def test_multilib_blacklist_hides_the_build_even_as_a_dependency(solver):
    res = go(solver, ["compat"], multilib_blacklist=["compat"])
    assert res.missing == [] and res.filtered == ["compat"]
    assert names(res) == []


def test_whitelist_works_without_methods(solver):
    res = go(solver, ["plug"], multilib_whitelist=["plug"])
    assert "plug.i686" in names(res)


def test_greedy_methods(solver):
    assert names(go(solver, ["user"])) == ["prov-a.x86_64", "user.x86_64"]
    # build: the best provider and the other providers from its source, not the rest of it
    assert names(go(solver, ["user"], greedy="build")) == ["prov-a-x.x86_64", "prov-a.x86_64",
                                                           "user.x86_64"]
    assert names(go(solver, ["user"], greedy="all")) == ["prov-a-x.x86_64", "prov-a.x86_64",
                                                         "prov-b.x86_64", "user.x86_64"]
    # all: an input name takes every arch
    assert names(go(solver, ["plug-tool"], greedy="all")) == ["plug-tool.i686", "plug-tool.x86_64"]


def test_fulltree_follows_the_arch_of_what_is_chosen(solver):
    # only the multilib build of compat is chosen: its multilib and noarch siblings come
    res = go(solver, ["compat"], fulltree=True)
    assert names(res) == ["compat-data.noarch", "compat-tools.i686", "compat.i686"]
    res = go(solver, ["lib"], fulltree=True)
    assert names(res) == ["lib-common.noarch", "lib-devel.x86_64", "lib.x86_64"]
    res = go(solver, ["lib"], fulltree=True, fulltree_excludes=["lib"])
    assert names(res) == ["lib-common.noarch", "lib.x86_64"]


def test_filter_suffixes(solver):
    assert names(go(solver, ["lib"], filter_packages=["lib-c*"])) == ["lib.x86_64"]
    assert go(solver, ["lib"], filter_packages=["lib-c*"]).broken_deps == [
        ("lib-common", "lib-0:1.0-1.x86_64")]
    res = go(solver, ["lib"], filter_packages=["lib-debuginfo"])
    assert names(res, "debug") == ["lib-debugsource.x86_64"]
    res = go(solver, ["lib"], filter_packages=["lib.src"])
    assert names(res, "source") == [] and res.missing_sources == ["lib-1.0-1.src.rpm"]


def test_lookaside_copy_of_the_same_build_wins(repo, tmp_path):
    look = write_repo(str(tmp_path / "look"), [p for p in UNIVERSE if p["name"] == "lib-common"])
    res = gather([Repo("set", repo), Repo("look", look, lookaside=True)], "x86_64", packages=["lib"])
    assert "lib-common.noarch" not in names(res)
    assert names(res, "lookaside") == ["lib-common.noarch"]


def test_langpacks_from_comps(solver):
    res = go(solver, ["office"], langpacks=[("office", "office-langpack-%s")])
    assert names(res) == ["office-langpack-de.noarch", "office.x86_64"]   # never -devel


def test_conditional_needs_its_condition(solver):
    comps = Comps.from_string("""<comps><group><id>g</id><name>G</name><packagelist>
        <packagereq type="mandatory">docs</packagereq>
        <packagereq type="conditional" requires="docs">docs-extra</packagereq>
        <packagereq type="conditional" requires="office">plug</packagereq>
        </packagelist></group></comps>""")
    res = go(solver, groups=["g"], comps=comps)
    assert names(res) == ["docs-extra.noarch", "docs.noarch"]


def test_name_arch_items_are_pointed_out():
    # the gather phase warns about these: Pungi's deps method reads them as names
    from phases.gather import _name_arch_items
    assert _name_arch_items(["a.x86_64", "b.i686", "c.noarch", "python3.11", "d.+", "e.src",
                             "f"]) == ["a.x86_64", "b.i686", "c.noarch"]


def test_conditional_packages_of_other_groups_apply(solver):
    # a child variant gets its parent's conditional entries: they are passed in as pairs
    comps = Comps.from_string("""<comps><group><id>parent</id><name>P</name><packagelist>
        <packagereq type="conditional" requires="docs">docs-extra</packagereq>
        <packagereq type="mandatory">office</packagereq>
        </packagelist></group></comps>""")
    pairs = comps.conditional_packages(["par*"])
    assert pairs == [("docs-extra", "docs")]
    assert names(go(solver, ["docs"], conditional=pairs)) == ["docs-extra.noarch", "docs.noarch"]
    assert names(go(solver, ["docs"])) == ["docs.noarch"]
