"""The proof that a gather over a changed package set gives the old result without solving
(:mod:`pungi_like.rpmtools.gather_proof`): each case changes a small package set, asks the
proof, and solves over the changed set to see that the proof is right - where it holds, the
solve gives the old result; where the solve would differ (a new provider of a required
capability or file, a glob or comps group matching a new name, a removed package revealing an
older build), it does not hold; nor where the package set obsoletes a package of the result."""

import copy
import os

import pytest

from pungi_like.rpmtools import gather_proof
from pungi_like.rpmtools.comps import Comps
from pungi_like.rpmtools.depsolve import Depsolver, Repo
from pungi_like.rpmtools.gathering import gather

from tests.unit.test_depsolve import P, src, write_repo

BASE = [
    P("app-1.0-1.x86_64", requires=["libcap", "/usr/share/app/base.conf", "helper"]),
    src("app"),
    P("app-debuginfo-1.0-1.x86_64", source="app"),
    P("libcap-impl-1.0-1.x86_64", provides=["libcap"]), src("libcap-impl"),
    P("conf-1.0-1.noarch", files=["/usr/share/app/base.conf"]), src("conf"),
    P("helper-1.0-1.x86_64"), src("helper"),
    P("helper-alt-1.0-1.x86_64", provides=["helper"]), src("helper-alt"),
    P("zzz-1.0-1.x86_64", requires=["nothing-at-all"]), src("zzz"),
    # an unrelated name with an older build that provides a capability the result needs
    P("aa-2.0-1.x86_64", source="aa"), P("aa-1.0-1.x86_64", provides=["libcap"], source="aa"),
    src("aa", ver="2.0"), src("aa", ver="1.0"),
]

COMPS = """<comps><group><id>base</id><name>Base</name><packagelist>
  <packagereq type="mandatory">app</packagereq>
  <packagereq type="optional">newcomer</packagereq>
  <packagereq type="conditional" requires="app">plugin</packagereq>
</packagelist></group></comps>"""


def _solver(tmp_path, name, packages):
    return Depsolver([Repo("set", write_repo(str(tmp_path / name), packages))], "x86_64")


def _options(**kw):
    options = dict(packages=[], method="deps", greedy="none", fulltree=False,
                   selfhosting=False, multilib_methods=[], multilib_whitelist=[],
                   multilib_blacklist=[], filter_packages=[], fulltree_excludes=[],
                   prepopulate=[], conditional=[], langpacks=())
    options.update(kw)
    return options


def _changed(before, after):
    """gather_proof.Changed of the packages in one list and not the other."""
    def key(p):
        return (p["name"], p["epoch"], p["ver"], p["rel"], p["arch"], repr(sorted(p.items())))
    old, new = {key(p): p for p in before}, {key(p): p for p in after}
    return [gather_proof.Changed(p["name"], p["arch"], p["sourcerpm"])
            for k, p in sorted({**old, **new}.items()) if (k in old) != (k in new)]


def _case(tmp_path, after, groups=("base",), **kw):
    """(the proof's answer, the old result rebuilt over ``after``, a solve over ``after``)."""
    comps = Comps.from_string(COMPS)
    options = _options(**kw)
    old_solver = _solver(tmp_path, "old", BASE)
    old = gather(None, "x86_64", comps=comps, groups=list(groups), solver=old_solver, **options)
    new_solver = _solver(tmp_path, "new", after)
    prefix = os.path.join(str(tmp_path / "new"), "Packages")
    rebuilt = gather_proof.rebuild(new_solver, old.as_dict(), prefix)
    solved = gather(None, "x86_64", comps=comps, groups=list(groups), solver=new_solver,
                    **options)
    if rebuilt is None:
        return "not rebuilt", None, solved
    why = gather_proof.prove(new_solver, rebuilt[0], rebuilt[1], _changed(BASE, after),
                             options, comps, list(groups))
    return why, rebuilt[0], solved


def _names(result):
    return sorted(p.name for d in (result.binary, result.debug, result.source)
                  for p in d.values())


def test_the_base_result_holds_what_the_cases_assume(tmp_path):
    why, rebuilt, solved = _case(tmp_path, BASE)
    assert why is None
    assert _names(solved) == ["app", "app", "app-debuginfo", "conf", "conf", "helper", "helper",
                              "libcap-impl", "libcap-impl"]
    assert rebuilt.as_dict() == solved.as_dict()


def test_an_unrelated_rebuild_is_proven_and_the_solve_agrees(tmp_path):
    after = [p for p in BASE if p["name"] != "zzz"] + [
        P("zzz-1.1-1.x86_64", requires=["nothing-at-all"]), src("zzz", ver="1.1")]
    why, rebuilt, solved = _case(tmp_path, after)
    assert why is None
    assert rebuilt.as_dict() == solved.as_dict()


def test_a_removed_provider_that_lost_is_proven(tmp_path):
    after = [p for p in BASE if p["name"] != "helper-alt"]
    why, rebuilt, solved = _case(tmp_path, after)
    assert why is None
    assert rebuilt.as_dict() == solved.as_dict()


@pytest.mark.parametrize("case, added", [
    ("a new provider of a required capability", P("lc-1.0-1.x86_64", provides=["libcap"])),
    ("a new provider of a required file", P("cf-1.0-1.noarch",
                                            files=["/usr/share/app/base.conf"])),
    ("a package the comps group lists", P("newcomer-1.0-1.x86_64")),
    ("a conditional package whose condition holds", P("plugin-1.0-1.x86_64")),
    ("a debug package of a source the result holds",
     P("app-debugsource-1.0-1.x86_64", source="app")),
])
def test_a_package_the_solve_takes_is_not_proven(tmp_path, case, added):
    after = BASE + [added, src(added["name"])]
    why, rebuilt, solved = _case(tmp_path, after)
    assert why is not None, case
    assert added["name"] in _names(solved)      # the solve would change the result


def test_a_glob_matching_the_new_name_is_not_proven(tmp_path):
    after = BASE + [P("zzz-extra-1.0-1.x86_64", source="zzz")]
    why, _rebuilt, solved = _case(tmp_path, after, packages=["zzz-*"])
    assert why is not None
    assert "zzz-extra" in _names(solved)


def test_a_filter_matching_the_new_name_is_not_proven(tmp_path):
    after = BASE + [P("zzz-extra-1.0-1.x86_64", source="zzz")]
    why, _rebuilt, _solved = _case(tmp_path, after, filter_packages=["zzz-e*"])
    assert why is not None


def test_a_removed_build_that_hid_an_older_provider_is_not_proven(tmp_path):
    # aa-2.0 goes: aa-1.0 is the newest aa again and provides libcap with a shorter name
    after = [p for p in BASE if (p["name"], p["ver"]) != ("aa", "2.0")]
    why, _rebuilt, solved = _case(tmp_path, after)
    assert why is not None
    assert "aa" in _names(solved) and "libcap-impl" not in _names(solved)


def test_a_new_package_obsoleting_one_of_the_result_is_not_proven(tmp_path):
    # the gather follows no Obsoletes: the proof refuses all the same
    added = P("successor-1.0-1.x86_64")
    added["obsoletes"] = ["helper"]
    why, _rebuilt, _solved = _case(tmp_path, BASE + [added, src("successor")])
    assert why is not None and "obsoletes" in why


def test_a_rebuild_of_a_package_of_the_result_is_not_proven(tmp_path):
    after = copy.deepcopy(BASE)
    for p in after:
        if p["name"] == "helper" and p["arch"] != "src":
            p["requires"] = ["zzz"]
    why, _rebuilt, solved = _case(tmp_path, after)
    assert why is not None
    assert "zzz" in _names(solved)


@pytest.mark.parametrize("option", [dict(greedy="all"), dict(fulltree=True),
                                    dict(selfhosting=True), dict(method="nodeps")])
def test_gathers_the_argument_does_not_cover_are_not_proven(tmp_path, option):
    after = [p for p in BASE if p["name"] != "zzz"] + [P("zzz-1.1-1.x86_64"), src("zzz", "1.1")]
    if option.get("method") == "nodeps":
        options = _options(**option)
        solver = _solver(tmp_path, "n", after)
        assert gather_proof.why_not(options, solver)
        return
    why, _rebuilt, _solved = _case(tmp_path, after, **option)
    assert why is not None
