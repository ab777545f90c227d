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


#: the pages of ``test_pages_are_the_templates_bytes`` as the Jinja templates they replaced
#: rendered them (trim_blocks, lstrip_blocks, autoescape), from ``</style>`` on; the report's
#: Gantt chart goes between its two parts
REPORT_BEFORE_CHART = (
    '</head>\n<body>\n<h1>Compose Demo-1.0-20260101.n.1 <span class="status status-'
    'FINISHED_INCOMPLETE">FINISHED_INCOMPLETE</span></h1>\n<table>\n<tr><th>Label</th><td>'
    'RC-1.0</td></tr>\n<tr><th>Started</th><td>1970-01-01 00:33:20 UTC</td></tr>\n<tr><th>'
    'Duration</th><td>3.5 s</td></tr>\n<tr><th>Exit reason</th><td>1 failable deliverable(s) '
    'failed</td></tr>\n<tr><th>Units</th><td>1 failed-failable, 2 ok</td></tr>\n<tr><th>Logs'
    '</th><td><a href="pungi.global.log">pungi.global.log</a>, <a href="timeline.json">'
    'timeline.json</a>, <a href="deliverables.json">deliverables.json</a></td></tr>\n</table>'
    '\n\n<h2 id="failures">Failed deliverables and units</h2>\n<div class="failure">\n<h3>'
    'image Server.x86_64 (failable)</h3>\n<p class="bad">xorriso &lt;failed&gt;</p>\n<p>Log '
    'of unit createiso.Server.x86_64: <a href="../x86_64/createiso-Server.x86_64.log">logs/'
    'x86_64/createiso-Server.x86_64.log</a></p>\n<pre class="log">xorriso: &lt;bad&gt; &#34;'
    'path&#34;</pre></div>\n\n<h2 id="timeline">Timeline</h2>\n<p class="legend"><span style='
    '"background: #c62828"></span>failed<span style="background: #ef8f00"></span>failed-'
    'failable<span style="background: #3a9d4f"></span>ok<span style="background: #9e9e9e">'
    '</span>skipped (hatched: reused)</p>\n')
REPORT_AFTER_CHART = (
    '\n\n<h2 id="images">Images</h2>\n<table><tr><th>Variant.arch</th><th>Image</th><th>Type'
    '</th><th>Format</th><th>Size (bytes)</th><th>Checksums</th><th>Boot test</th></tr>\n<tr>'
    '<td>Server.x86_64</td><td><a href="../../compose/Server/x86_64/images/boot.iso">Server/'
    'x86_64/images/boot.iso</a></td><td>boot</td><td>iso</td><td></td>\n<td></td>\n<td>not '
    'bootable</td></tr>\n<tr><td>Server.x86_64</td><td><a href="../../compose/Server/x86_64/'
    'iso/Demo-Server-x86_64-dvd1.iso">Server/x86_64/iso/Demo-Server-x86_64-dvd1.iso</a></td>'
    '<td>dvd</td><td>iso</td><td>123,456,789</td>\n<td><div><code>sha256:' + "ab" * 32
    + '</code></div></td>\n<td><div class="bad">uefi: FAILED (31.5 s)</div></td></tr>\n'
    '</table>\n\n<h2 id="packages">Packages</h2>\n<table><tr><th>Variant.arch</th><th>Binary '
    'packages</th><th>Source packages</th><th>Added since Demo-1.0-20260101.n.0</th><th>'
    'Removed</th></tr>\n<tr><td>Server.x86_64</td><td>2</td><td>1</td>\n<td>1: n&lt;ew&gt;'
    '</td>\n<td>1: gone</td></tr>\n</table>\n\n<h2 id="tasks">Build service tasks</h2>\n'
    '<table><tr><th>Task</th><th>Method</th><th>State</th></tr>\n<tr><td><a href="https://'
    'hub.example/koji/taskinfo?taskID=7">7</a></td><td></td><td></td></tr><tr><td><a href="'
    'https://hub.example/koji/taskinfo?taskID=42">42</a></td><td>livecd</td><td>CLOSED</td>'
    '</tr></table>\n</body>\n</html>')
INDEX_BODY = (
    '</head>\n<body>\n<h1>Composes in composes</h1>\n<table><tr><th>Compose</th><th>Label'
    '</th><th>Status</th><th>Started</th><th>Duration</th><th>Report</th></tr>\n<tr><td><a '
    'href="Demo-1.0-20260101.n.1/">Demo-1.0-20260101.n.1</a></td><td>RC-1.0</td><td><span '
    'class="status status-FINISHED_INCOMPLETE">FINISHED_INCOMPLETE</span></td>\n<td>'
    '1970-01-01 00:33:20 UTC</td><td>3.5 s</td>\n<td><a href="Demo-1.0-20260101.n.1/logs/'
    'global/report.html">report</a></td></tr>\n<tr><td><a href="Demo-1.0-20260101.n.0/">'
    'Demo-1.0-20260101.n.0</a></td><td>RC-1.0</td><td><span class="status status-FINISHED">'
    'FINISHED</span></td>\n<td>1970-01-01 00:16:40 UTC</td><td>1.5 s</td>\n<td></td></tr>\n'
    '</table>\n</body>\n</html>')


def test_pages_are_the_templates_bytes(tmp_path):
    """The two pages, made by ``report_pages`` with Python's string operations, are the bytes
    the Jinja templates they replaced rendered (captured from them): each section, the
    escaping (markupsafe's ``&#34;``, not ``&quot;``), the blank lines the templates left,
    the style sheet inlined without its last newline."""
    from pungi_like.resources import share_path

    target = str(tmp_path / "composes")
    iso = "Server/x86_64/iso/Demo-Server-x86_64-dvd1.iso"
    old = _compose(target, "Demo-1.0-20260101.n.0", "FINISHED", 1000, [{"unit": "init.global"}])
    units = [
        {"unit": "init.global"},
        {"unit": "gather.Server.x86_64", "at": 1, "reused": True},
        {"unit": "createiso.Server.x86_64", "at": 2, "result": "failed-failable",
         "variant": "Server", "arch": "x86_64", "error": "xorriso <failed> & 'stopped'",
         "log": "logs/x86_64/createiso-Server.x86_64.log"}]
    top = _compose(target, "Demo-1.0-20260101.n.1", "FINISHED_INCOMPLETE", 2000, units, images={
        "Server": {"x86_64": [
            {"path": iso, "type": "dvd", "format": "iso", "size": 123456789, "bootable": True,
             "checksums": {"sha256": "ab" * 32}},
            {"path": "Server/x86_64/images/boot.iso", "type": "boot", "format": "iso",
             "size": None, "bootable": False, "checksums": {}}]}},
        tasks=(42, 7),
        boots={"test.boot.Server.x86_64.uefi": {
            "unit": "test.boot.Server.x86_64.uefi", "inputs": {"fw": "uefi"},
            "outputs": {"booted": {iso: {"ok": False, "seconds": 31.5}}}}})
    _write(os.path.join(top, "logs/x86_64/createiso-Server.x86_64.log"),
           'xorriso: <bad> "path"\n')
    _write(os.path.join(top, "logs/global/deliverables.json"), {"failed_details": [
        {"kind": "image", "variant": "Server", "arch": "x86_64", "subvariant": None,
         "error": "xorriso <failed>"}]})

    def rpms(*nevras):
        return {"payload": {"rpms": {"Server": {"x86_64": {"a-0:1-1.src": {
            n: {"category": "source" if n.endswith(".src") else "binary", "path": "p",
                "sigkey": None} for n in nevras}}}}}}
    _write(os.path.join(old, "compose/metadata/rpms.json"),
           rpms("a-0:1-1.src", "a-0:1-1.x86_64", "gone-0:1-1.x86_64"))
    _write(os.path.join(top, "compose/metadata/rpms.json"),
           rpms("a-0:1-1.src", "a-0:1-1.x86_64", "n<ew>-0:1-1.x86_64"))
    for base, dirs, files in os.walk(target):
        for name in files + dirs:
            os.utime(os.path.join(base, name), (1700000000, 1700000000))
    page = open(report.write_report(
        top, reason="1 failable deliverable(s) failed", weburl="https://hub.example/koji",
        task_info={42: {"method": "livecd", "state": "CLOSED"}}), encoding="utf-8").read()
    index = open(report.write_index(target), encoding="utf-8").read()
    with open(share_path("templates", "report", "style.css"), encoding="utf-8") as fh:
        style = fh.read()[:-1]
    chart = report.gantt(json.load(open(os.path.join(top, "logs/global/timeline.json")))["units"])
    head = '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>%s</title>' \
        '\n<style>\n' + style + '</style>\n'
    assert page == head % "Demo-1.0-20260101.n.1: FINISHED_INCOMPLETE" + REPORT_BEFORE_CHART \
        + chart + REPORT_AFTER_CHART
    assert index == head % "Composes in composes" + INDEX_BODY


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
