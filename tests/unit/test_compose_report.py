"""The compose report from a compose directory's files: images with checksums and boot results,
build service tasks linked to the hub's web pages, reused units, escaping, the index order."""

import json
import os

import pytest

from pungi_like import report

pytestmark = pytest.mark.unit


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(data if isinstance(data, str) else json.dumps(data))


def _compose(target, cid, status, start, units, images=None, tasks=(), boots=None):
    top = os.path.join(target, cid)
    _write(os.path.join(top, "COMPOSE_ID"), cid + "\n")
    _write(os.path.join(top, "STATUS"), status + "\n")
    _write(os.path.join(top, "logs/global/timeline.json"), {"compose_id": cid, "units": [
        dict({"phase": u["unit"].split(".")[0], "variant": None, "arch": None, "log": None,
              "start": start + u.get("at", 0), "end": start + u.get("at", 0) + 1.5,
              "duration": 1.5, "result": "ok"}, **u) for u in units]})
    _write(os.path.join(top, "compose/metadata/composeinfo.json"),
           {"payload": {"compose": {"id": cid, "label": "RC-1.%d" % (start % 10)}}})
    if images is not None:
        _write(os.path.join(top, "compose/metadata/images.json"),
               {"payload": {"images": images}})
    for name, record in (boots or {}).items():
        _write(os.path.join(top, "work/global/units", name + ".json"), record)
    for t in tasks:
        _write(os.path.join(top, "logs/global/koji-tasks", str(t)), "")
    return top


def test_report_sections(tmp_path):
    iso = "Server/x86_64/iso/Demo-Server-x86_64-dvd1.iso"
    top = _compose(str(tmp_path), "Demo-1.0-20260101.n.0", "FINISHED", 1000, [
        {"unit": "init.global"},
        {"unit": "gather.<b>Server</b>.x86_64", "at": 1, "reused": True},
        {"unit": "createiso.Server.x86_64", "at": 2},
    ], images={"Server": {"x86_64": [{
        "path": iso, "type": "dvd", "format": "iso", "size": 123456789, "bootable": True,
        "checksums": {"sha256": "ab" * 32}}]}},
        tasks=(42, 7),
        boots={"test.boot.Server.x86_64.uefi": {
            "unit": "test.boot.Server.x86_64.uefi", "inputs": {"fw": "uefi"},
            "outputs": {"booted": {iso: {"ok": True, "seconds": 31.5}}}}})
    path = report.write_report(top, weburl="https://hub.example/koji",
                               task_info={42: {"method": "livecd", "state": "CLOSED"}})
    text = open(path, encoding="utf-8").read()
    assert path == os.path.join(top, "logs/global/report.html")
    # one bar per unit; the reused one is marked and hatched; names are escaped
    assert text.count('class="unit-bar') == 3
    assert 'class="unit-bar result-ok reused" data-unit="gather.&lt;b&gt;Server&lt;/b&gt;.x86_64"' \
        in text and 'fill="url(#reused)"' in text and "<b>Server</b>" not in text
    assert "123,456,789" in text and "sha256:" + "ab" * 32 in text
    assert "uefi: booted (31.5 s)" in text
    assert '<a href="https://hub.example/koji/taskinfo?taskID=42">42</a></td><td>livecd</td>' \
           '<td>CLOSED</td>' in text
    assert '<a href="https://hub.example/koji/taskinfo?taskID=7">7</a>' in text
    assert "<script" not in text and "Nothing failed." in text


def test_index_newest_first_with_links(tmp_path):
    target = str(tmp_path)
    old = _compose(target, "Demo-1.0-20260101.n.0", "FINISHED", 1000, [{"unit": "init.global"}])
    new = _compose(target, "Demo-1.0-20260102.n.0", "DOOMED", 5000, [{"unit": "init.global"}])
    report.write_report(old)
    report.write_report(new, reason="pkgset: no such tag")
    os.symlink(new, os.path.join(target, "latest-Demo-1.0"))
    text = open(report.write_index(target), encoding="utf-8").read()
    assert text.index("Demo-1.0-20260102.n.0") < text.index("Demo-1.0-20260101.n.0")
    assert "latest-Demo" not in text
    assert 'href="Demo-1.0-20260102.n.0/logs/global/report.html"' in text
    assert "DOOMED" in text and "1.5 s" in text
    assert "pkgset: no such tag" in open(os.path.join(new, "logs/global/report.html")).read()


class _Wrapper:
    """What write_for_compose reads of pungi_like.kojiclient.KojiWrapper."""

    def __init__(self, service):
        self.service = service
        self.topdir = "/srv/buildsvc"
        self.opts = {"weburl": "https://127.0.0.1:41234/koji"}
        self.tasks = [5]

    def call(self, method, task_id, attempts=1):
        assert method == "getTaskInfo"
        return {"method": "image", "state": 2}


class _Compose:
    def __init__(self, topdir, wrapper):
        import logging

        self.topdir = topdir
        self.koji = wrapper
        self.log = logging.getLogger("test")


def test_tasks_of_the_embedded_service_are_not_linked_to_its_gone_port(tmp_path):
    top = _compose(str(tmp_path), "Demo-1.0-20260101.n.0", "FINISHED", 1000,
                   [{"unit": "init.global"}], tasks=(5,))
    report.write_for_compose(_Compose(top, _Wrapper(service=object())))
    text = open(os.path.join(top, "logs/global/report.html"), encoding="utf-8").read()
    assert "<td>5</td><td>image</td><td>CLOSED</td>" in text
    assert "127.0.0.1:41234" not in text and "taskinfo?taskID=5" not in text
    assert "pungi-like-hub serve --topdir /srv/buildsvc" in text
    # a hub of a profile (not started by the compose) keeps its links
    report.write_for_compose(_Compose(top, _Wrapper(service=None)))
    text = open(os.path.join(top, "logs/global/report.html"), encoding="utf-8").read()
    assert '<a href="https://127.0.0.1:41234/koji/taskinfo?taskID=5">5</a>' in text
    assert "pungi-like-hub serve" not in text


def test_packages_against_the_previous_compose(tmp_path):
    """Package counts per variant.arch, and what was added or removed since the previous
    compose; a variant.arch whose entries are equal in both adds and removes nothing."""
    def rpms(top, tree):
        _write(os.path.join(top, "compose/metadata/rpms.json"), {"payload": {"rpms": tree}})

    def entries(*nevras):
        return {n: {"path": n, "sigkey": None,
                    "category": "source" if n.endswith(".src") else "binary"} for n in nevras}

    same = {"a-0:1-1.src": entries("a-0:1-1.x86_64", "a-0:1-1.src")}
    old = _compose(str(tmp_path), "Demo-1.0-20260101.n.0", "FINISHED", 1000,
                   [{"unit": "init.global"}])
    new = _compose(str(tmp_path), "Demo-1.0-20260101.n.1", "FINISHED", 2000,
                   [{"unit": "init.global"}])
    rpms(old, {"Server": {"x86_64": same},
               "Client": {"x86_64": {"b-0:1-1.src": entries("b-0:1-1.x86_64", "c-0:1-1.x86_64")}}})
    rpms(new, {"Server": {"x86_64": same},
               "Client": {"x86_64": {"b-0:1-2.src": entries("b-0:1-2.x86_64", "d-0:1-2.x86_64")}}})
    rows, previous = report._packages(new)
    assert previous["id"] == "Demo-1.0-20260101.n.0"
    assert rows == [
        {"key": "Client.x86_64", "binary": 2, "source": 0, "added": ["d"], "removed": ["c"]},
        {"key": "Server.x86_64", "binary": 1, "source": 1, "added": [], "removed": []}]


def test_compiled_templates_cached_give_the_same_pages(tmp_path, monkeypatch):
    """The report templates compiled once are kept in the user's cache directory and loaded
    from there by the next process (here: a new environment); the pages are the same as
    without the cache, and a damaged cache file only means compiling again."""
    top = _compose(str(tmp_path / "c"), "Demo-1.0-20260101.n.0", "FINISHED", 1000, [
        {"unit": "init.global"}, {"unit": "gather.Server.x86_64", "at": 1, "reused": True}])
    pages = {}
    for how in ("off", "store", "load", "damaged"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        monkeypatch.setenv("PUNGI_LIKE_TEMPLATE_CACHE", "0" if how == "off" else "1")
        cache = tmp_path / "cache" / "pungi-like" / "templates"
        if how == "damaged":
            for name in os.listdir(cache):
                (cache / name).write_bytes(b"not a cache entry")
        report._environment.cache_clear()
        with open(report.write_report(top), encoding="utf-8") as fh:
            pages[how] = fh.read()
        report.write_index(str(tmp_path / "c"))
        with open(tmp_path / "c" / "index.html", encoding="utf-8") as fh:
            pages[how] += fh.read()
        if how == "off":
            assert not cache.exists()
        else:
            assert sorted(os.listdir(cache)) and all(n.startswith("report-")
                                                     for n in os.listdir(cache))
    report._environment.cache_clear()
    assert pages["store"] == pages["off"] == pages["load"] == pages["damaged"]


def test_read_ahead_parses_the_old_rpms_json_once_for_the_diff_and_the_report(tmp_path):
    """The driver's read-ahead loads the previous compose's manifests for the diff and hands
    their rpms.json trees to the report (not parsed a second time): the report's package
    rows are the ones it makes reading the file itself."""
    import types

    import productmd.rpms

    from pungi_like.cli import compose_driver

    def rpms_json(top, cid, nevras):
        rpms = productmd.rpms.Rpms()
        rpms.compose.id, rpms.compose.type, rpms.compose.date = cid, "nightly", cid[-12:-4]
        rpms.compose.respin = int(cid[-1])
        for variant, arch, nevra, srpm in nevras:
            rpms.add(variant, arch, nevra, "%s/%s/os/Packages/%s.rpm" % (variant, arch, nevra),
                     None, "source" if nevra.endswith(".src") else "binary", srpm)
        os.makedirs(os.path.join(top, "compose/metadata"), exist_ok=True)
        rpms.dump(os.path.join(top, "compose/metadata/rpms.json"))

    old = _compose(str(tmp_path), "Demo-1.0-20260101.n.0", "FINISHED", 1000,
                   [{"unit": "init.global"}])
    new = _compose(str(tmp_path), "Demo-1.0-20260101.n.1", "FINISHED", 2000,
                   [{"unit": "init.global"}])
    rpms_json(old, "Demo-1.0-20260101.n.0", [
        ("Server", "x86_64", "a-0:1-1.x86_64", "a-0:1-1.src"),
        ("Server", "x86_64", "a-0:1-1.src", None),
        ("Client", "x86_64", "c-0:1-1.x86_64", "b-0:1-1.src")])
    rpms_json(new, "Demo-1.0-20260101.n.1", [
        ("Server", "x86_64", "a-0:1-1.x86_64", "a-0:1-1.src"),
        ("Server", "x86_64", "a-0:1-1.src", None),
        ("Client", "x86_64", "d-0:1-2.x86_64", "b-0:1-2.src")])
    want = report._packages(new)
    report._preloaded.clear()
    compose = types.SimpleNamespace(log=types.SimpleNamespace(debug=print),
                                    rpms=types.SimpleNamespace(written_payload=None))
    olds = [("Demo-1.0-20260101.n.0", old)]
    images = compose_driver.read_ahead(compose, olds).result()
    assert images is False    # no images.json
    loaded = compose_driver.old_compose_read(compose, olds, images, None)
    assert loaded is not None and loaded.rpms.compose.id == "Demo-1.0-20260101.n.0"
    # the very trees productmd loaded for the diff
    assert report._preloaded[os.path.abspath(old)]["Server.x86_64"] is \
        loaded.rpms.rpms["Server"]["x86_64"]
    assert report._packages(new) == want
    assert not report._preloaded   # taken, not read again
    assert want[0] == [
        {"key": "Client.x86_64", "binary": 1, "source": 0, "added": ["d"], "removed": ["c"]},
        {"key": "Server.x86_64", "binary": 1, "source": 1, "added": [], "removed": []}]


def test_an_old_rpms_json_of_the_same_payload_is_not_parsed(tmp_path, monkeypatch):
    """A re-run whose rpms.json holds the previous compose's payload byte for byte (after its
    own identity): the diff and the report take this compose's payload for the old one
    instead of parsing the old file; another payload is parsed."""
    import types

    from pungi_like import composediff, metadata
    from pungi_like.cli import compose_driver

    def write(top, cid, respin, rows):
        recorder = metadata.RpmsRecorder()
        recorder.add_many("Server", "x86_64", rows)
        info = metadata.ComposeInfo(id=cid, type="nightly", date="20260101", respin=respin,
                                    label=None, final=False)
        os.makedirs(os.path.join(top, "compose/metadata"), exist_ok=True)
        recorder.write(os.path.join(top, "compose/metadata/rpms.json"), info, fsync=False)
        return recorder

    rows = [("a-0:1-1.src", "a-0:1-1.x86_64", "Server/x86_64/os/Packages/a-1-1.x86_64.rpm",
             None, "binary")]
    old = _compose(str(tmp_path), "Demo-1.0-20260101.n.0", "FINISHED", 1000, [])
    new = _compose(str(tmp_path), "Demo-1.0-20260101.n.1", "FINISHED", 2000, [])
    write(old, "Demo-1.0-20260101.n.0", 0, rows)
    olds = [("Demo-1.0-20260101.n.0", old)]
    for other, parsed in ((False, False), (True, True)):
        recorder = write(new, "Demo-1.0-20260101.n.1", 1,
                         rows + ([("b-0:1-1.src", "b-0:1-1.x86_64", "Server/b.rpm", None,
                                   "binary")] if other else []))
        payload = recorder.payload()
        calls = []
        monkeypatch.setattr(composediff, "load_compose",
                            lambda path, real=composediff.load_compose: calls.append(path)
                            or real(path))
        compose = types.SimpleNamespace(log=types.SimpleNamespace(debug=print), rpms=recorder)
        loaded = compose_driver.old_compose_read(compose, olds, False, payload)
        assert bool(calls) is parsed
        assert (loaded.rpms.rpms is payload) is not parsed
        assert loaded.compose_id == "Demo-1.0-20260101.n.0"
        assert loaded.rpms.rpms == composediff.load_compose(old).rpms.rpms or other
        report._preloaded.clear()


def test_package_names_made_ahead_are_the_report_rows(tmp_path):
    """``names_ahead`` (the driver's, while metadata.write copies rpms.json) makes the rows
    ``_packages`` makes, taken for the very payload trees only, once."""
    def entries(*nevras):
        return {n: {"path": n, "sigkey": None,
                    "category": "source" if n.endswith(".src") else "binary"} for n in nevras}

    new = _compose(str(tmp_path), "Demo-1.0-20260101.n.1", "FINISHED", 2000,
                   [{"unit": "init.global"}])
    payload = {"Server": {"x86_64": {"a-0:1-1.src": entries("a-0:1-1.x86_64", "a-0:1-1.src",
                                                              "a-doc-0:1-1.noarch")}}}
    report.preload_rpms(new, payload)
    want = report._packages(new)
    report.names_ahead(payload)
    tree = payload["Server"]["x86_64"]
    made = report._names_made[id(tree)][1]
    assert report._names(tree) is made
    # an equal tree that is another object is not taken for it
    assert report._names(dict(tree)) is not made and report._names(dict(tree)) == made
    report.preload_rpms(new, payload)
    assert report._packages(new) == want
    assert not report._names_made      # made for one report
    assert want[0] == [{"key": "Server.x86_64", "binary": 2, "source": 1, "added": [],
                        "removed": []}]


def test_the_driver_makes_the_payload_and_its_names_ahead():
    """``compose_run.payload_ahead``: the recorder's payload made once and kept (the driver's
    later ``payload()`` gives that very object), the report's names made of it."""
    import types

    from pungi_like import metadata
    from pungi_like.cli import compose_run

    recorder = metadata.RpmsRecorder()
    recorder.add_many("Server", "x86_64", [
        ("a-0:1-1.src", "a-0:1-1.x86_64", "Server/x86_64/os/Packages/a.rpm", None, "binary")])
    compose_run.payload_ahead(types.SimpleNamespace(rpms=recorder)).join()
    payload = recorder.payload()
    assert payload == {"Server": {"x86_64": {"a-0:1-1.src": {"a-0:1-1.x86_64": {
        "category": "binary", "path": "Server/x86_64/os/Packages/a.rpm", "sigkey": None}}}}}
    assert recorder.payload() is payload
    tree = payload["Server"]["x86_64"]
    assert report._names_made[id(tree)] == (tree, {"binary": {"a"}, "source": set()})
    report._names_made.clear()
    # an entry added since: made again
    recorder.add_many("Server", "x86_64", [
        ("b-0:1-1.src", "b-0:1-1.x86_64", "Server/x86_64/os/Packages/b.rpm", None, "binary")])
    again = recorder.payload()
    assert again is not payload and "b-0:1-1.src" in again["Server"]["x86_64"]
