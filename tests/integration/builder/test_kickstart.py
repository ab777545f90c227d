"""Kickstart reading and flattening: real-world kickstarts and a demo with %include."""

import glob
import os
import warnings

import pytest

from builder_testdata import REALWORLD_KICKSTARTS
from pungi_like.buildsvc.builder.kickstart import (KickstartFileError, flatten_includes,
                                                    load_kickstart, prepare_kickstart)

pytestmark = pytest.mark.integration

# kickstarts of the collection that cannot parse, and why (the error must name file:line)
EXPECTED_FAILURES = {
    # includes a file the collection does not have
    "fedora-kickstarts-rawhide-fedora-repo.ks": "fedora-repo-rawhide.ks",
    # Qubes' patched pykickstart accepts repo --gpgkey; upstream does not
    "qubes/iso-online.ks": "qubes-kickstart.cfg:7: unrecognized arguments: --gpgkey",
    "qubes/iso-online-testing.ks": "qubes-kickstart.cfg:7: unrecognized arguments: --gpgkey",
    "qubes/qubes-kickstart.cfg": "qubes-kickstart.cfg:7: unrecognized arguments: --gpgkey",
    "qubes/liveusb.ks": "liveusb.ks:13: auth has been removed",
}
# syntax versions that are not the newest
VERSIONS = {"spin-kickstarts-f13-2010": "F13", "rocky-9/live/9/x86_64/prod/mainline": "RHEL8"}


def _realworld():
    if not os.path.isdir(REALWORLD_KICKSTARTS):
        pytest.skip(f"{REALWORLD_KICKSTARTS} is not on this machine")
    found = []
    for path in sorted(glob.glob(os.path.join(REALWORLD_KICKSTARTS, "**", "*.ks"),
                                 recursive=True)
                       + glob.glob(os.path.join(REALWORLD_KICKSTARTS, "qubes", "*.cfg"))):
        rel = os.path.relpath(path, REALWORLD_KICKSTARTS)
        if "/templates/" in rel:        # language snippets with shell text, not kickstarts
            continue
        found.append(rel)
    return found


def _version(rel):
    return next((v for prefix, v in VERSIONS.items() if rel.startswith(prefix)), None)


def test_realworld_kickstarts_parse_and_flatten(tmp_path):
    warnings.simplefilter("ignore")
    parsed, failed = 0, {}
    for rel in _realworld():
        path = os.path.join(REALWORLD_KICKSTARTS, rel)
        try:
            ks = load_kickstart(path, version=_version(rel))
        except KickstartFileError as exc:
            failed[rel] = str(exc)
            continue
        parsed += 1
        flat = ks.text()
        assert "%include" not in "\n".join(line for line in flat.splitlines()
                                           if not line.startswith("#")), rel
        # the flattened text parses again to the same packages (flattening is complete)
        out = tmp_path / (rel.replace("/", "_") + "-flat.ks")
        out.write_text(flat)
        again = load_kickstart(str(out), version=_version(rel))
        assert again.packages == ks.packages, rel
        assert len(again.scripts) == len(ks.scripts), rel
    for rel, expected in EXPECTED_FAILURES.items():
        assert rel in failed, f"{rel} was expected to fail"
        assert expected in failed[rel], failed[rel]
    # l10n kickstarts include spins (livecd-kde, ...) this collection lacks: the error names
    # the including line and the missing file
    unexpected = {rel: msg for rel, msg in failed.items() if rel not in EXPECTED_FAILURES
                  and not (rel.startswith("fedora-kickstarts-f43/l10n/")
                           and "cannot read" in msg and ".ks:" in msg)}
    assert not unexpected, unexpected
    assert parsed >= 120


def test_fedora_live_workstation_flattened_content():
    path = os.path.join(REALWORLD_KICKSTARTS, "fedora-kickstarts-f43",
                        "fedora-live-workstation.ks")
    if not os.path.exists(path):
        pytest.skip("real-world kickstarts not present")
    ks = load_kickstart(path)
    names = [os.path.basename(f) for f in ks.included_files]
    assert names[:3] == ["fedora-live-workstation.ks", "fedora-live-base.ks", "fedora-repo.ks"]
    assert "fedora-workstation-common.ks" in names
    pk = ks.packages
    assert pk.environment == "workstation-product-environment"
    assert "kernel" in pk.packages and "device-mapper-multipath" in pk.excluded
    assert ks.root_size_mib() is not None
    assert {r.name for r in ks.repos} == {"fedora", "updates"}
    ks.replace_repos(["/srv/repos/tag-1/x86_64"])
    text = ks.text()
    assert 'repo --name="repo-1" --baseurl=file:///srv/repos/tag-1/x86_64' in text
    assert "mirrors.fedoraproject.org" not in text
    assert 'url --url="file:///srv/repos/tag-1/x86_64"' in text


def test_demo_include_relative_to_including_file(demo_kickstart, tmp_path):
    ks, original, flat = prepare_kickstart(demo_kickstart, str(tmp_path / "out"),
                                           repos=[("tag-repo", "/srv/repo")], name="demo-1-1")
    assert open(original).read().startswith("# a live image")
    text = open(flat).read()
    assert "%include" not in text
    assert 'repo --name="tag-repo" --baseurl=file:///srv/repo' in text
    assert "example.invalid" not in text
    pk = ks.packages
    assert pk.packages == ["kernel", "busybox", "demo-base"] or \
        sorted(pk.packages) == ["busybox", "demo-base", "kernel"]
    assert pk.excluded == ["demo-docs*"] and pk.excludedocs
    posts = ks.post_scripts()
    assert [p.in_chroot for p in posts] == [True, False]
    # each script's origin is the file and line it was written at
    assert ks.script_origin(posts[0]).endswith("parts/demo-base.ks:9")
    assert ks.script_origin(posts[1]).endswith("demo-live.ks:7")
    assert ks.partitions[0]["label"] == "demoroot"


def test_keep_repos_and_files_dict():
    files = {"top.ks": "%include sub/a.ks\n%packages\nfoo\n%end\n",
             "sub/a.ks": "repo --name=mine --baseurl=http://example.invalid/r\n%include b.ks\n",
             "sub/b.ks": "lang en_US.UTF-8\n"}
    ks = load_kickstart("top.ks", files=files)
    assert ks.included_files == ["top.ks", "sub/a.ks", "sub/b.ks"]
    assert [r.name for r in ks.repos] == ["mine"]
    assert "lang en_US.UTF-8" in ks.text()


def test_include_errors_name_file_and_line():
    with pytest.raises(KickstartFileError, match=r"top\.ks:2: %include missing\.ks"):
        flatten_includes("top.ks", files={"top.ks": "lang en_US.UTF-8\n%include missing.ks\n"})
    with pytest.raises(KickstartFileError, match="circular"):
        flatten_includes("a.ks", files={"a.ks": "%include b.ks\n", "b.ks": "%include a.ks\n"})
    with pytest.raises(KickstartFileError, match=r"b\.ks:2: Unknown command: frobnicate"):
        load_kickstart("a.ks", files={"a.ks": "%include b.ks\n",
                                      "b.ks": "lang en_US.UTF-8\nfrobnicate --now\n"})


def test_include_inside_post_is_expanded_as_pykickstart_does():
    files = {"a.ks": "%post\necho '%include is text here'\n%include b.sh\n%end\n",
             "b.sh": "echo from-b\n"}
    body = load_kickstart("a.ks", files=files).post_scripts()[0].body
    assert "echo '%include is text here'" in body and "echo from-b" in body
