"""Depsolving cases against metadata-only repos (written here as repodata XML, no RPM files).

The cases are this project's own; they cover what Pungi's gather promises: closure, file deps,
virtual provides and greedy methods, fulltree, selfhosting, multilib methods and lists,
lookaside, filters, nodeps, missing inputs, broken deps, sources and debuginfo.
"""

import gzip
import hashlib
import os
from xml.sax.saxutils import escape, quoteattr

import pytest

from pungi_like.errors import PhaseError
from pungi_like.rpmtools.comps import Comps
from pungi_like.rpmtools.depsolve import Depsolver, Repo
from pungi_like.rpmtools.gathering import gather

OPS = {"=": "EQ", ">=": "GE", "<=": "LE", ">": "GT", "<": "LT"}


def _entry(dep):
    parts = dep.split()
    if len(parts) == 3:
        name, op, evr = parts
        epoch = "0"
        if ":" in evr:
            epoch, evr = evr.split(":", 1)
        ver, _, rel = evr.partition("-")
        attrs = f' flags="{OPS[op]}" epoch="{epoch}" ver={quoteattr(ver)}'
        if rel:
            attrs += f" rel={quoteattr(rel)}"
        return f"<rpm:entry name={quoteattr(name)}{attrs}/>"
    return f"<rpm:entry name={quoteattr(dep)}/>"


def P(nvra, requires=(), provides=(), files=(), source=None):
    """A package: ``name-version-release.arch``; ``source`` names its SRPM (default: name)."""
    nvr, _, arch = nvra.rpartition(".")
    nv, _, rel = nvr.rpartition("-")
    name, _, ver = nv.rpartition("-")
    epoch = "0"
    if ":" in ver:
        epoch, ver = ver.split(":", 1)
    src = f"{source or name}-{ver}-{rel}.src.rpm" if arch != "src" else ""
    return dict(name=name, epoch=epoch, ver=ver, rel=rel, arch=arch, requires=list(requires),
                provides=list(provides), files=list(files), sourcerpm=src)


def write_repo(path, packages):
    """Write primary + filelists repodata (gz) describing ``packages``."""
    os.makedirs(os.path.join(path, "repodata"), exist_ok=True)
    primary, filelists = [], []
    for p in packages:
        pkgid = hashlib.sha256(repr(sorted(p.items())).encode()).hexdigest()
        fname = f"{p['name']}-{p['ver']}-{p['rel']}.{p['arch']}.rpm"
        provides = [f"{p['name']} = {p['epoch']}:{p['ver']}-{p['rel']}"] if p["arch"] != "src" else []
        provides += p["provides"]
        prim_files = [f for f in p["files"] if "/bin/" in f or f.startswith("/etc/")]
        primary.append(
            f'<package type="rpm"><name>{escape(p["name"])}</name><arch>{p["arch"]}</arch>'
            f'<version epoch="{p["epoch"]}" ver="{p["ver"]}" rel="{p["rel"]}"/>'
            f'<checksum type="sha256" pkgid="YES">{pkgid}</checksum><summary>s</summary>'
            f'<description>d</description><packager/><url/><time file="1" build="1"/>'
            f'<size package="10" installed="10" archive="10"/><location href="Packages/{fname}"/>'
            f'<format><rpm:license>MIT</rpm:license><rpm:sourcerpm>{p["sourcerpm"]}</rpm:sourcerpm>'
            f'<rpm:provides>{"".join(_entry(d) for d in provides)}</rpm:provides>'
            f'<rpm:requires>{"".join(_entry(d) for d in p["requires"])}</rpm:requires>'
            + "".join(f'<rpm:{kind}>{"".join(_entry(d) for d in p[kind])}</rpm:{kind}>'
                      for kind in ("obsoletes", "conflicts") if p.get(kind))
            + "".join(f"<file>{escape(f)}</file>" for f in prim_files) + "</format></package>")
        filelists.append(
            f'<package pkgid="{pkgid}" name="{p["name"]}" arch="{p["arch"]}">'
            f'<version epoch="{p["epoch"]}" ver="{p["ver"]}" rel="{p["rel"]}"/>'
            + "".join(f"<file>{escape(f)}</file>" for f in p["files"]) + "</package>")
    docs = {
        "primary": '<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/'
                   'metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="'
                   f'{len(primary)}">' + "".join(primary) + "</metadata>\n",
        "filelists": '<?xml version="1.0" encoding="UTF-8"?>\n<filelists xmlns="http://linux.duke.'
                     f'edu/metadata/filelists" packages="{len(filelists)}">' + "".join(filelists)
                     + "</filelists>\n",
    }
    data = []
    for kind, text in docs.items():
        raw = gzip.compress(text.encode(), mtime=0)
        with open(os.path.join(path, "repodata", f"{kind}.xml.gz"), "wb") as fh:
            fh.write(raw)
        digest = hashlib.sha256(raw).hexdigest()
        data.append(f'<data type="{kind}"><checksum type="sha256">{digest}</checksum>'
                    f'<location href="repodata/{kind}.xml.gz"/><timestamp>1</timestamp>'
                    f'<size>{len(raw)}</size></data>')
    with open(os.path.join(path, "repodata", "repomd.xml"), "w") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<repomd xmlns="http://linux.duke.edu/'
                 'metadata/repo"><revision>1</revision>' + "".join(data) + "</repomd>\n")
    return path


def src(name, ver="1.0", rel="1", buildrequires=()):
    return P(f"{name}-{ver}-{rel}.src", requires=buildrequires)


# The package universe of most cases (x86_64 tree with i686 multilib builds).
UNIVERSE = [
    P("app-1.0-1.x86_64", requires=["libfoo.so.1()(64bit)", "app-data", "/usr/share/cfg/base.conf"],
      files=["/usr/bin/app"]),
    P("app-1.0-1.i686", requires=["libfoo.so.1", "app-data"], files=["/usr/bin/app"], source="app"),
    P("app-data-1.0-1.noarch", source="app", files=["/usr/share/app/data"]),
    P("app-doc-1.0-1.noarch", source="app"),
    P("app-debuginfo-1.0-1.x86_64", source="app"),
    P("app-debuginfo-1.0-1.i686", source="app"),
    P("app-debugsource-1.0-1.x86_64", source="app"),
    src("app", buildrequires=["gcc", "libfoo-devel"]),
    P("cfg-1.0-1.noarch", files=["/usr/share/cfg/base.conf"]),
    src("cfg"),
    P("libfoo-2.0-1.x86_64", provides=["libfoo.so.1()(64bit)"], requires=["libc.so.6()(64bit)"],
      files=["/usr/lib64/libfoo.so.1"]),
    P("libfoo-2.0-1.i686", provides=["libfoo.so.1"], requires=["libc.so.6"],
      files=["/usr/lib/libfoo.so.1"]),
    P("libfoo-devel-2.0-1.x86_64", source="libfoo", requires=["libfoo = 2.0-1"]),
    P("libfoo-devel-2.0-1.i686", source="libfoo", requires=["libfoo = 2.0-1"]),
    P("libfoo-debuginfo-2.0-1.x86_64", source="libfoo"),
    P("libfoo-debuginfo-2.0-1.i686", source="libfoo"),
    src("libfoo", ver="2.0"),
    P("glibc-2.38-1.x86_64", provides=["libc.so.6()(64bit)"], files=["/usr/lib64/libc.so.6"]),
    P("glibc-2.38-1.i686", provides=["libc.so.6"], files=["/usr/lib/libc.so.6"]),
    src("glibc", ver="2.38"),
    P("gcc-13-1.x86_64", requires=["binutils"]),
    src("gcc", ver="13"),
    P("binutils-2.41-1.x86_64"),
    src("binutils", ver="2.41"),
    # a virtual provide with two providers from different sources, and a plugin family
    P("web-1.0-1.x86_64", requires=["webserver"]),
    src("web"),
    P("httpd-2.4-1.x86_64", provides=["webserver"]),
    src("httpd", ver="2.4"),
    P("nginx-1.24-1.x86_64", provides=["webserver"]),
    src("nginx", ver="1.24"),
    P("both-1.0-1.noarch", requires=["webserver", "nginx"]),
    src("both"),
    P("host-1.0-1.x86_64", requires=["host-plugin"]),
    src("host"),
    P("plug-a-1.0-1.noarch", provides=["host-plugin"], source="plugs"),
    P("plug-b-1.0-1.noarch", provides=["host-plugin"], source="plugs"),
    P("zz-other-plugin-1.0-1.noarch", provides=["host-plugin"]),
    src("plugs"), src("zz-other-plugin"),
    # two versions: only the newest counts
    P("tool-1.0-1.x86_64"), P("tool-2.0-1.x86_64"), src("tool"), src("tool", ver="2.0"),
    # broken and arch-only deps
    P("broken-1.0-1.x86_64", requires=["does-not-exist >= 2"]), src("broken"),
    P("needs32-1.0-1.x86_64", requires=["only32"]), src("needs32"),
    P("only32-1.0-1.i686"), src("only32"),
    # same-source preference for a virtual provide
    P("kit-1.0-1.x86_64", requires=["kit-engine"]),
    P("kit-engine-1.0-1.x86_64", source="kit", provides=["kit-engine"]),
    P("aa-engine-1.0-1.x86_64", provides=["kit-engine"]),
    src("kit"), src("aa-engine"),
]


@pytest.fixture(scope="module")
def solver(tmp_path_factory):
    repo = write_repo(str(tmp_path_factory.mktemp("repo")), UNIVERSE)
    return Depsolver([Repo("set", repo)], "x86_64")


def go(solver, packages=(), **kw):
    return gather(None, "x86_64", packages=packages, solver=solver, **kw)


def names(result, category="binary"):
    return sorted(f"{p.name}.{p.arch}" for p in getattr(result, category).values())


def test_simple_closure_with_file_dep_from_filelists(solver):
    res = go(solver, ["app"])
    assert names(res) == ["app-data.noarch", "app.x86_64", "cfg.noarch", "glibc.x86_64",
                          "libfoo.x86_64"]
    assert res.binary["app-0:1.0-1.x86_64"].flags == {"input"}
    assert res.binary["cfg-0:1.0-1.noarch"].flags == {"dep"}
    assert not res.broken_deps


def test_greedy_none_picks_one_provider(solver):
    res = go(solver, ["web"])
    assert names(res) == ["httpd.x86_64", "web.x86_64"]


def test_greedy_all_takes_every_provider(solver):
    res = go(solver, ["web"], greedy="all")
    assert names(res) == ["httpd.x86_64", "nginx.x86_64", "web.x86_64"]


def test_greedy_build_takes_providers_of_the_same_source(solver):
    res = go(solver, ["host"], greedy="build")
    assert names(res) == ["host.x86_64", "plug-a.noarch", "plug-b.noarch"]
    res = go(solver, ["host"], greedy="none")
    assert names(res) == ["host.x86_64", "plug-a.noarch"]


def test_virtual_provide_already_satisfied_adds_nothing(solver):
    # nginx is chosen first (an input), so web's "webserver" is answered by it
    res = go(solver, ["nginx", "web"])
    assert names(res) == ["nginx.x86_64", "web.x86_64"]
    # each Requires of one package is answered on its own: "webserver" picks httpd (name tie
    # with nginx, alphabetical) before "nginx" itself is added
    res = go(solver, ["both"])
    assert names(res) == ["both.noarch", "httpd.x86_64", "nginx.x86_64"]


def test_provider_choice_is_shortest_name_not_same_source(solver):
    # Pungi has no same-source preference: the shortest name wins, then the alphabet
    res = go(solver, ["kit"])
    assert names(res) == ["aa-engine.x86_64", "kit.x86_64"]


def test_fulltree_adds_native_and_noarch_siblings_only(solver):
    res = go(solver, ["app"], fulltree=True)
    assert "app-doc.noarch" in names(res)
    assert res.binary["app-doc-0:1.0-1.noarch"].flags == {"fulltree"}
    assert "app.i686" not in names(res)
    assert not any("debuginfo" in n for n in names(res))
    res = go(solver, ["app"], fulltree=True, fulltree_excludes=["app"])
    assert "app-doc.noarch" not in names(res)


def test_selfhosting_follows_buildrequires(solver):
    res = go(solver, ["app"], selfhosting=True)
    assert {"gcc.x86_64", "binutils.x86_64", "libfoo-devel.x86_64"} <= set(names(res))
    assert "gcc.x86_64" not in names(go(solver, ["app"]))


def test_multilib_runtime_adds_libraries_and_their_deps(solver):
    res = go(solver, ["app"], multilib_methods=["runtime"])
    assert "libfoo.i686" in names(res)
    assert res.binary["libfoo-0:2.0-1.i686"].flags == {"multilib"}
    assert "glibc.i686" in names(res)           # dep of the multilib library, same arch
    assert "app.i686" not in names(res)         # not a library


def test_multilib_devel(solver):
    res = go(solver, ["libfoo-devel"], multilib_methods=["devel"])
    assert "libfoo-devel.i686" in names(res)
    res = go(solver, ["libfoo-devel"], multilib_methods=["runtime"])
    assert "libfoo-devel.i686" not in names(res)
    assert "libfoo.i686" in names(res)


def test_multilib_none_and_all(solver):
    assert not [n for n in names(go(solver, ["app"], multilib_methods=["none"])) if n.endswith(".i686")]
    res = go(solver, ["app"], multilib_methods=["all"])
    assert {"app.i686", "libfoo.i686", "glibc.i686"} <= set(names(res))


def test_multilib_blacklist_and_whitelist(solver):
    res = go(solver, ["app"], multilib_methods=["runtime"], multilib_blacklist=["libfoo"])
    assert "libfoo.i686" not in names(res)
    res = go(solver, ["app"], multilib_methods=["runtime"], multilib_whitelist=["app"])
    assert "app.i686" in names(res)


def test_lookaside_satisfies_but_is_not_included(tmp_path, solver):
    base = write_repo(str(tmp_path / "base"), [p for p in UNIVERSE if p["name"] != "glibc"])
    look = write_repo(str(tmp_path / "look"), [p for p in UNIVERSE if p["name"] in ("glibc", "cfg")])
    res = gather([Repo("set", base), Repo("look", look, lookaside=True)], "x86_64",
                 packages=["app", "cfg"])
    assert "glibc.x86_64" not in names(res)
    assert "cfg.noarch" not in names(res)       # an input found in the lookaside stays out
    assert {"glibc.x86_64", "cfg.noarch"} <= set(names(res, "lookaside"))
    assert "glibc-0:2.38-1.src" not in res.source
    assert not res.missing_sources
    assert not res.broken_deps


def test_filter_packages(solver):
    res = go(solver, ["web"], filter_packages=["httpd"])
    assert names(res) == ["nginx.x86_64", "web.x86_64"]
    res = go(solver, ["app"], filter_packages=["cfg"])
    assert "cfg.noarch" not in names(res)
    assert res.broken_deps_messages() == [
        "Unresolvable dependency /usr/share/cfg/base.conf in app-0:1.0-1.x86_64"]
    res = go(solver, ["tool", "httpd"], filter_packages=["httpd"])
    assert res.filtered == ["httpd"]
    # as in Pungi, "name.arch" is a name glob: it matches no package and filters nothing
    res = go(solver, ["tool", "httpd"], filter_packages=["httpd.x86_64"])
    assert "httpd.x86_64" in names(res) and not res.filtered
    # ".+" filters the multilib builds only, ".src" the source package
    res = go(solver, ["app"], multilib_methods=["all"], filter_packages=["libfoo.+"])
    assert "libfoo.i686" not in names(res) and "libfoo.x86_64" in names(res)
    res = go(solver, ["app"], filter_packages=["app.src"])
    assert "app.src" not in names(res, "source") and "app.x86_64" in names(res)


def test_nodeps_takes_inputs_sources_and_debuginfo(solver):
    # an additional package without arch matches every arch of the package set; every debug
    # package of its source built for a compatible arch comes along; filters do not apply
    res = go(solver, ["app"], method="nodeps", filter_packages=["app"])
    assert names(res) == ["app.i686", "app.x86_64"]
    assert names(res, "source") == ["app.src"]
    assert names(res, "debug") == ["app-debuginfo.i686", "app-debuginfo.x86_64",
                                   "app-debugsource.x86_64"]
    res = go(solver, ["app.x86_64"], method="nodeps")
    assert names(res) == ["app.x86_64"]
    assert names(res, "debug") == ["app-debuginfo.x86_64", "app-debugsource.x86_64"]


def test_missing_input_is_reported_not_fatal(solver):
    res = go(solver, ["tool", "no-such-package", "nothing-*"])
    assert res.missing == ["no-such-package", "nothing-*"]
    assert names(res) == ["tool.x86_64"]


def test_broken_dependency_message(solver):
    res = go(solver, ["broken"])
    assert res.broken_deps_messages() == [
        "Unresolvable dependency does-not-exist >= 2 in broken-0:1.0-1.x86_64"]
    with pytest.raises(PhaseError) as exc:
        res.check()
    assert str(exc.value).endswith("Unresolved dependencies detected")


def test_multilib_arch_provider_answers_when_nothing_native_does(solver):
    res = go(solver, ["needs32"])
    assert names(res) == ["needs32.x86_64", "only32.i686"]
    assert not res.broken_deps


def test_sources_and_debuginfo_follow_chosen_arches(solver):
    res = go(solver, ["app"], multilib_methods=["runtime"])
    assert names(res, "source") == ["app.src", "cfg.src", "glibc.src", "libfoo.src"]
    assert "libfoo-debuginfo.i686" in names(res, "debug")      # multilib libfoo is in
    assert "app-debuginfo.i686" not in names(res, "debug")     # app.i686 is not
    src_paths = [p.path for p in res.source.values()]
    assert all(p.endswith(".src.rpm") for p in src_paths)
    assert res.srpm_nevra(res.binary["libfoo-0:2.0-1.i686"]) == "libfoo-0:2.0-1.src"


def test_globs_and_explicit_arch(solver):
    res = go(solver, ["libfoo*", "glibc.i686"], method="nodeps")
    assert names(res) == ["glibc.i686", "libfoo-devel.i686", "libfoo-devel.x86_64",
                          "libfoo.i686", "libfoo.x86_64"]
    assert "libfoo-debuginfo.x86_64" in names(res, "debug")
    # deps: the glob matches names; the best arch of each name is taken
    res = go(solver, ["libfoo*"])
    assert names(res) == ["glibc.x86_64", "libfoo-devel.x86_64", "libfoo.x86_64"]
    assert go(solver, ["glibc.i686"]).missing == ["glibc.i686"]


def test_multilib_only_input_is_taken_as_it_is(solver):
    res = go(solver, ["only32"])
    assert names(res) == ["only32.i686"]
    assert res.binary["only32-0:1.0-1.i686"].flags == {"input"}
    # "name.+" asks for the multilib build explicitly
    res = go(solver, ["libfoo.+"])
    assert "libfoo.i686" in names(res) and "libfoo.x86_64" not in names(res)


def test_only_newest_version_is_used(solver):
    res = go(solver, ["tool"])
    assert list(res.binary) == ["tool-0:2.0-1.x86_64"]
    assert list(res.source) == ["tool-0:2.0-1.src"]


def test_groups_from_comps_with_optional_and_conditional(solver):
    comps = Comps.from_string("""<comps>
      <group><id>base</id><name>Base</name><packagelist>
        <packagereq type="mandatory">tool</packagereq>
        <packagereq type="optional">web</packagereq>
        <packagereq type="conditional" requires="tool">kit</packagereq>
        <packagereq type="conditional" requires="absent">host</packagereq>
      </packagelist></group></comps>""")
    res = go(solver, groups=["base"], comps=comps)
    assert names(res) == ["aa-engine.x86_64", "httpd.x86_64", "kit.x86_64", "tool.x86_64",
                          "web.x86_64"]
    assert "conditional" in res.binary["kit-0:1.0-1.x86_64"].flags


def test_result_as_dict_is_sorted_and_json_ready(solver):
    import json
    data = go(solver, ["web"]).as_dict()
    json.dumps(data)
    assert [p["nevra"] for p in data["rpm"]] == ["httpd-0:2.4-1.x86_64", "web-0:1.0-1.x86_64"]
    assert data["srpm"][0]["flags"] == ["source"]


def test_package_paths_are_the_normalised_locations(tmp_path):
    """Each package's path is normpath(join(directory, href)), the directory being xml:base's
    (file://) or the repo's: plain hrefs, hrefs with ".", ".." or "//" parts, absolute ones."""
    repo = write_repo(str(tmp_path / "repo"), [P(f"p{i}-1-1.noarch") for i in range(7)])
    hrefs = ["Packages/p0-1-1.noarch.rpm", "./p1-1-1.noarch.rpm", "../up/p2-1-1.noarch.rpm",
             "a//b/p3-1-1.noarch.rpm", "/abs/p4-1-1.noarch.rpm", "x/../p5-1-1.noarch.rpm",
             "...dots/.p6-1-1.noarch.rpm"]
    bases = [None, "file:///base/dir", None, "file:///base/./dir/", None, "file:///b", None]
    path = os.path.join(repo, "repodata", "primary.xml.gz")
    with gzip.open(path, "rt") as fh:
        text = fh.read()
    for i, (href, base) in enumerate(zip(hrefs, bases)):
        attr = f'xml:base="{base}" ' if base else ""
        text = text.replace(f'<location href="Packages/p{i}-1-1.noarch.rpm"/>',
                            f'<location {attr}href="{href}"/>')
    with open(path, "wb") as fh:
        fh.write(gzip.compress(text.encode(), mtime=0))
    solver = Depsolver([Repo("r", repo)], "x86_64")
    found = {p.name: p.path for p in solver.pkgs.values()}
    for i, (href, base) in enumerate(zip(hrefs, bases)):
        folder = base[len("file://"):] if base else repo
        assert found[f"p{i}"] == os.path.normpath(os.path.join(folder, href)), href


def _filename(p):
    return f"{p['name']}-{p['ver']}-{p['rel']}.{p['arch']}.rpm"


#: gathers a view must answer as a load of the package set repo does
VIEW_CASES = [
    dict(packages=["web", "host", "kit", "tool"]),
    dict(packages=["web", "host"], greedy="all"),
    dict(packages=["host"], greedy="build"),
    dict(packages=["app", "both"], fulltree=True, selfhosting=True),
    dict(packages=["app"], multilib_methods=["all"], multilib_whitelist=["glibc"]),
    dict(packages=["app", "needs32", "broken", "nothing-*"], filter_packages=["nginx"]),
    dict(packages=["app.+", "libfoo-debuginfo", "tool"], fulltree=True),
]


def test_view_of_a_closure_answers_as_the_package_set_repo(tmp_path):
    """A package set repo written from records of the repos a closure loaded (its packages
    sorted by file name) and a view of those packages in the closure's pool: the same gathers,
    though the closure's pool holds more packages (a newer build of one, another provider)
    and its ids differ (the binary repo first, then the source one)."""
    extra = [P("httpd-2.6-1.x86_64", provides=["webserver"]), P("aaa-1.0-1.noarch",
                                                                provides=["host-plugin"])]
    binaries = sorted((p for p in UNIVERSE + extra if p["arch"] != "src"), key=_filename)
    sources = sorted((p for p in UNIVERSE if p["arch"] == "src"), key=_filename)
    closure = Depsolver([Repo("repo-0", write_repo(str(tmp_path / "os"), binaries)),
                         Repo("repo-1", write_repo(str(tmp_path / "src"), sources))], "x86_64")
    in_set = sorted(UNIVERSE, key=_filename)
    set_dir = write_repo(str(tmp_path / "set"), in_set)
    repo = Repo("pkgset", set_dir)
    loaded = Depsolver([repo], "x86_64")
    by_file = {os.path.basename(p.path): p for p in closure.pkgs.values()}
    packages = [(by_file[_filename(p)], os.path.join(set_dir, "Packages", _filename(p)))
                for p in in_set]
    view = Depsolver.view(closure, repo, packages)
    assert view is not None
    assert sorted(p.nevra for p in view.pkgs.values()) \
        == sorted(p.nevra for p in loaded.pkgs.values())
    assert sorted((p.nevra, p.path, p.repo.name) for p in view.latest.values()) \
        == sorted((p.nevra, p.path, p.repo.name) for p in loaded.latest.values())
    assert view.buildtime(packages[0][1]) == loaded.buildtime(packages[0][1]) == 1
    for case in VIEW_CASES:
        assert go(view, **case).as_dict() == go(loaded, **case).as_dict(), case


def test_view_refuses_packages_out_of_the_pools_order(tmp_path):
    """The ids of each kind (sources, the others) must follow the repo's order."""
    binaries = sorted((p for p in UNIVERSE if p["arch"] != "src"), key=_filename)
    closure = Depsolver([Repo("r", write_repo(str(tmp_path / "os"), binaries))], "x86_64")
    repo = Repo("pkgset", str(tmp_path / "set"))
    pkgs = sorted(closure.pkgs.values(), key=lambda p: p.sid)
    assert Depsolver.view(closure, repo, [(p, p.path) for p in pkgs]) is not None
    assert Depsolver.view(closure, repo, [(p, p.path) for p in reversed(pkgs)]) is None
    assert Depsolver.view(closure, Repo("l", repo.path, lookaside=True),
                          [(p, p.path) for p in pkgs]) is None


def test_deps_of_by_requirement_ids_is_deps_of_by_dependency_objects(solver):
    # deps_of looks the requirements up as libsolv's interned ids, each turned into text once:
    # the same (provider, requirement text) pairs as through Dep objects and their text, a
    # requirement shared by packages answered from the cache the same way
    import solv

    from pungi_like.rpmtools import gathering

    def by_objects(g, p, debuginfo=False):
        ids = g.debug_ids if debuginfo else g.binary_ids
        found = []
        for dep in p.solvable.lookup_deparray(solv.SOLVABLE_REQUIRES, 0):
            text = str(dep)
            if dep.id == solv.SOLVABLE_PREREQMARKER or text.startswith(("rpmlib(", "solvable:")):
                continue
            providers = [solver.latest[s.id] for s in solver.pool.whatprovides(dep)
                         if s.id in solver.latest and s.id in ids]
            if providers:
                found += [(q, text) for q in g.best(providers, req=text, debuginfo=debuginfo)]
        return found

    g = gathering._Gather(solver, greedy="none", fulltree=False, selfhosting=False,
                          multilib_methods=["all"], multilib_whitelist=(), multilib_blacklist=(),
                          excludes=(), fulltree_excludes=(), with_source=True, with_debug=True,
                          conditional=[], langpacks=())
    packages = sorted(solver.latest.values(), key=lambda p: p.sid)
    compared = 0
    for _round in range(2):     # the second round from the cache
        for p in packages:
            for debuginfo in (False, True):
                assert g.deps_of(p, debuginfo) == by_objects(g, p, debuginfo), p.nevra
                compared += bool(by_objects(g, p, debuginfo))
    assert compared > 10
    assert g.req_cache and all(type(key[1]) is int for key in g.req_cache)
