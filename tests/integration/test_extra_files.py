"""extra_files on real composes: files from a directory, a local git repository and an RPM of
the package set land in the variant trees, on the DVDs, and in extra_files.json (productmd)."""

import hashlib
import json
import os
import subprocess

import pytest
from productmd.extra_files import ExtraFiles

from tests.integration.test_driver import make_config, only_compose

pytestmark = pytest.mark.integration


def git(repo, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)


def make_git_repo(path):
    """Branch ``master`` says "draft", branch ``stable`` says "final" and has licenses/."""
    path.mkdir()
    git(path, "init", "-q", "-b", "master")
    (path / "notes").mkdir()
    (path / "notes" / "RELEASE-NOTES").write_text("draft notes\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "draft")
    git(path, "checkout", "-q", "-b", "stable")
    (path / "notes" / "RELEASE-NOTES").write_text("final notes\n")
    (path / "licenses" / "sub").mkdir(parents=True)
    (path / "licenses" / "GPL").write_text("GPL text\n")
    (path / "licenses" / "sub" / "MIT").write_text("MIT text\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "final")
    git(path, "checkout", "-q", "master")
    return path


def run(tmp_path, universe, extra):
    from pungi_like.cli.compose_driver import main

    conf = make_config(tmp_path, universe, extra)
    target = tmp_path / "composes"
    code = main(["--config", conf, "--target-dir", str(target), "--test", "--quiet"])
    return code, only_compose(str(target))


def iso_files(manifest):
    with open(manifest) as fh:
        return {line.strip() for line in fh if line.strip()}


@pytest.fixture(scope="module")
def compose(universe, tmp_path_factory):
    base = tmp_path_factory.mktemp("extrafiles")
    (base / "extra").mkdir()
    (base / "extra" / "README.demo").write_text("Read me first.\n")
    (base / "extra" / "RPM-GPG-KEY-demo").write_text("not really a key\n")
    repo = make_git_repo(base / "notes.git")
    extra = f"""
extra_files = [
    ("^Server$", {{
        "*": [
            {{"scm": "file", "repo": "", "file": ["extra/README.demo", "extra/RPM-GPG-KEY-demo"],
              "target": ""}},
            {{"scm": "file", "repo": "", "file": "extra/README.demo", "target": "docs"}},
            {{"scm": "git", "repo": {str(repo)!r}, "branch": "stable",
              "file": "notes/RELEASE-NOTES"}},
            {{"scm": "git", "repo": {str(repo)!r}, "branch": "stable", "dir": "licenses",
              "target": "/licenses"}},
            {{"scm": "rpm", "repo": "demo-release", "file": "/etc/os-release",
              "target": "release"}},
            {{"scm": "rpm", "repo": "demo-rel*.noarch", "file": "/etc/demo-release",
              "target": "release"}},
        ],
        "src": [{{"scm": "file", "repo": "", "file": "extra/README.demo"}}],
    }}),
]
"""
    code, topdir = run(base, universe, extra)
    return {"code": code, "topdir": topdir, "compose": os.path.join(topdir, "compose")}


SERVER_FILES = ["README.demo", "RPM-GPG-KEY-demo", "RELEASE-NOTES", "docs/README.demo",
                "licenses/GPL", "licenses/sub/MIT", "release/os-release",
                "release/demo-release"]


def test_extra_files_are_in_the_trees_with_their_content(compose):
    assert compose["code"] == 0
    tree = os.path.join(compose["compose"], "Server", "x86_64", "os")
    for rel in SERVER_FILES:
        assert os.path.isfile(os.path.join(tree, rel)), rel
    read = lambda rel: open(os.path.join(tree, rel)).read()  # noqa: E731
    assert read("RELEASE-NOTES") == "final notes\n"          # the branch asked for
    assert read("licenses/sub/MIT") == "MIT text\n"
    assert read("release/os-release").startswith('NAME="Demo Linux"')  # from the package
    assert read("release/demo-release").startswith("Demo Linux release")  # name glob + .arch
    source = os.path.join(compose["compose"], "Server", "source", "tree")
    assert os.path.isfile(os.path.join(source, "README.demo"))
    # `*` never reaches src, and other variants get nothing
    assert not os.path.exists(os.path.join(source, "RELEASE-NOTES"))
    assert not os.path.exists(
        os.path.join(compose["compose"], "Workstation", "x86_64", "os", "extra_files.json"))


def test_tree_and_compose_metadata_list_every_file_with_checksums(compose):
    top = compose["compose"]
    tree = os.path.join(top, "Server", "x86_64", "os")
    local = json.load(open(os.path.join(tree, "extra_files.json")))
    assert local["header"] == {"version": "1.0"}
    assert sorted(e["file"] for e in local["data"]) == sorted(SERVER_FILES)
    for entry in local["data"]:
        data = open(os.path.join(tree, entry["file"]), "rb").read()
        assert entry["size"] == len(data)
        # the demo config's media_checksums
        assert entry["checksums"] == {"sha256": hashlib.sha256(data).hexdigest()}
    extra = ExtraFiles()
    extra.load(os.path.join(top, "metadata", "extra_files.json"))
    assert extra.compose.id == os.path.basename(compose["topdir"])
    assert sorted(extra.extra_files) == ["Server"]
    assert sorted(extra["Server"]) == ["src", "x86_64"]
    assert sorted(e["file"] for e in extra["Server"]["x86_64"]) == sorted(
        f"Server/x86_64/os/{rel}" for rel in SERVER_FILES)
    assert [e["file"] for e in extra["Server"]["src"]] == ["Server/source/tree/README.demo"]


def test_extra_files_are_on_the_dvds(compose):
    top = compose["compose"]
    (manifest,) = [os.path.join(top, "Server", "x86_64", "iso", f) for f in
                   os.listdir(os.path.join(top, "Server", "x86_64", "iso"))
                   if f.endswith(".iso.manifest")]
    on_iso = iso_files(manifest)
    for rel in SERVER_FILES + ["extra_files.json"]:
        assert "/" + rel in on_iso, rel
    (src_manifest,) = [os.path.join(top, "Server", "source", "iso", f) for f in
                       os.listdir(os.path.join(top, "Server", "source", "iso"))
                       if f.endswith(".iso.manifest")]
    assert {"/README.demo", "/extra_files.json"} <= iso_files(src_manifest)


def test_a_missing_extra_file_dooms_the_compose_naming_it(universe, tmp_path):
    code, topdir = run(tmp_path, universe, """
extra_files = [("^Server$", {"*": [{"scm": "file", "repo": "", "file": "no-such-README"}]})]
""")
    assert code != 0
    assert open(os.path.join(topdir, "STATUS")).read() == "DOOMED\n"
    log = open(os.path.join(topdir, "logs", "global", "pungi.global.log")).read()
    assert "extra_files.Server.x86_64 failed" in log
    assert "extra file no-such-README matches no file" in log


def test_an_rpm_source_naming_no_package_of_the_set_dooms_the_compose(universe, tmp_path):
    code, topdir = run(tmp_path, universe, """
extra_files = [("^Server$", {"x86_64": [{"scm": "rpm", "repo": "no-such-package",
                                         "file": "/etc/x"}]})]
""")
    assert code != 0
    log = open(os.path.join(topdir, "logs", "global", "pungi.global.log")).read()
    assert "No package matching no-such-package in the package set (x86_64)." in log
