"""The reuse precheck's forked child renders the report's pages when the driver asks
(``reuse_precheck.serve_report``): after its last answer it says so (``["end"]``: a unit it
has no answer for is not waited for), and its pages are the very bytes the driver renders
from the same contexts; pages it cannot take or render are said, and the driver renders
them."""

import json
import os

import pytest

from pungi_like import metadata, report, reuse_precheck

from test_reuse_precheck import OLD_ID, WORK_FILES, _old_unit

NEW_ID = "T-1-20260101.n.1"


@pytest.fixture
def may_fork(monkeypatch):
    """Fork as the entry point does (pytest itself may run threads of its own)."""
    monkeypatch.setattr(reuse_precheck, "_may_fork", lambda: True)


def _pages(top, cid, respin, start):
    """The files a report is made of: status, timeline, composeinfo and rpms.json (one
    payload for both composes, as a no-op re-run copies it)."""
    for name, text in (("STATUS", "FINISHED\n"), ("COMPOSE_ID", cid + "\n")):
        (top / name).write_text(text)
    (top / "logs" / "global").mkdir(parents=True, exist_ok=True)
    (top / "logs" / "global" / "timeline.json").write_text(json.dumps({
        "compose_id": cid, "units": [
            {"unit": "pkgset.global", "phase": "pkgset", "variant": None, "arch": None,
             "log": None, "start": start, "end": start + 1.5, "duration": 1.5,
             "result": "ok", "reused": respin > 0}]}))
    meta = top / "compose" / "metadata"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "composeinfo.json").write_text(json.dumps({"payload": {"compose": {"id": cid}}}))
    recorder = metadata.RpmsRecorder()
    recorder.add_many("Server", "x86_64", [
        ("a-0:1-1.src", "a-0:1-1.x86_64", "Server/x86_64/os/Packages/a-1-1.x86_64.rpm", None,
         "binary"),
        ("a-0:1-1.src", "a-doc-0:1-1.noarch", "Server/x86_64/os/Packages/a-doc.rpm", None,
         "binary")])
    info = metadata.ComposeInfo(id=cid, type="nightly", date="20260101", respin=respin,
                                label=None, final=False)
    recorder.write(str(meta / "rpms.json"), info, fsync=False)


def test_the_child_makes_the_pages_the_driver_makes(tmp_path, may_fork):
    old, _ = _old_unit(tmp_path, "pkgset.global", WORK_FILES)
    _pages(old, OLD_ID, 0, 1000)
    new = old.parent / NEW_ID
    new.mkdir()
    _pages(new, NEW_ID, 1, 2000)
    pre = reuse_precheck.Precheck(dirs=[str(old.parent)], skip=str(new), fork=True,
                                  report=True)
    try:
        assert pre.serves
        assert pre.answer("pkgset.global")[4] is True
        # no answer for a unit it did not check: said at once, the child still running
        assert pre.answer("gather.Server.x86_64", timeout=60) is None
        assert pre.proc.poll() is None
        pre.prepare()
        pages = [report.report_page(str(new), reason="a reason")]
        pages.append(report.index_page(str(old.parent), [pages[0][0]]))
        assert pre.report(pages) is True
    finally:
        pre.close()
    path = str(new / "logs" / "global" / "report.html")
    assert pages[0][0] == path
    made = (new / "logs" / "global" / "report.html").read_bytes()
    index = (old.parent / "index.html").read_bytes()
    assert b"a reason" in made and b"a-doc" not in made
    assert NEW_ID.encode() in index and OLD_ID.encode() in index
    os.unlink(path)
    os.unlink(old.parent / "index.html")
    assert report.write_report(str(new), reason="a reason") == path
    report.write_index(str(old.parent))
    assert (new / "logs" / "global" / "report.html").read_bytes() == made
    assert (old.parent / "index.html").read_bytes() == index


def test_a_report_the_child_cannot_make_is_left_to_the_driver(tmp_path, may_fork):
    old, _ = _old_unit(tmp_path, "pkgset.global", WORK_FILES)
    _pages(old, OLD_ID, 0, 1000)
    pre = reuse_precheck.Precheck(str(old), OLD_ID, fork=True, report=True)
    page = report.report_page(str(old))
    try:
        # a value JSON does not give back as it was: not sent
        assert pre.report([(page[0], page[1], dict(page[2], c=(1, 2)))]) is False
        assert pre.proc.poll() is None
        # a template that does not exist: said by the child
        assert pre.report([(page[0], "no-such.html.j2", page[2])]) is False
    finally:
        pre.close()
    assert pre.proc.returncode is not None


def test_a_child_not_asked_for_reports_ends_after_its_answers(tmp_path, may_fork):
    old, _ = _old_unit(tmp_path, "pkgset.global", WORK_FILES)
    pre = reuse_precheck.Precheck(str(old), OLD_ID, fork=True)
    try:
        assert not pre.serves
        assert pre.answer("pkgset.global")[4] is True
        assert pre.report([report.report_page(str(old))]) is False
        assert pre.answer("gather.Server.x86_64") is None
        assert pre.proc.wait() == 0
    finally:
        pre.close()


class _Log:
    def __init__(self):
        self.lines = []

    def info(self, msg, *args):
        self.lines.append(msg % args)


def _driver_compose(tmp_path, helper):
    import types

    old, _ = _old_unit(tmp_path, "pkgset.global", WORK_FILES)
    _pages(old, OLD_ID, 0, 1000)
    new = old.parent / NEW_ID
    new.mkdir()
    _pages(new, NEW_ID, 1, 2000)
    return types.SimpleNamespace(topdir=str(new), koji=None, report_helper=helper, log=_Log())


def test_the_driver_sends_the_pages_it_would_render(tmp_path):
    """``compose_run.report_by_helper``: the report's page and the index's (which links the
    report written before it), as ``write_report`` and ``write_index`` would render them;
    rendered here when the helper does not."""
    from pungi_like.cli import compose_run

    sent = []

    class Helper:
        def __init__(self, ok):
            self.ok = ok

        def report(self, pages):
            sent.append(pages)
            return self.ok

    compose = _driver_compose(tmp_path, Helper(True))
    new = tmp_path / "composes" / NEW_ID
    assert compose_run.report_by_helper(compose, "why") is True
    (page, index), = sent
    assert page == report.report_page(str(new), reason="why")
    assert index[2]["composes"][0]["report"] == NEW_ID + "/logs/global/report.html"
    assert not (new / "logs" / "global" / "report.html").exists()
    assert compose.log.lines == ["Compose report: %s" % page[0]]
    # the helper cannot: the same pages rendered here
    compose.report_helper = Helper(False)
    assert compose_run.report_by_helper(compose, "why") is True
    made = (new / "logs" / "global" / "report.html").read_bytes()
    index = (new.parent / "index.html").read_bytes()
    report.write_report(str(new), reason="why")
    report.write_index(str(new.parent))
    assert (new / "logs" / "global" / "report.html").read_bytes() == made
    assert (new.parent / "index.html").read_bytes() == index
    # no helper: nothing done here (the driver's write_report)
    compose.report_helper = None
    assert compose_run.report_by_helper(compose, "why") is False


def test_a_released_child_ends_after_its_answers_importing_nothing(tmp_path, may_fork,
                                                                  monkeypatch):
    """``Precheck.release`` (the driver will render the pages itself: a build service's
    compose): the child ends after its answers without importing Jinja (a child that
    imports a module not loaded yet ends at once with 99)."""
    import builtins
    import sys

    old, _ = _old_unit(tmp_path, "pkgset.global", WORK_FILES)
    parent, real_import = os.getpid(), builtins.__import__

    def guarded(name, globals=None, locals=None, fromlist=(), level=0):
        if os.getpid() != parent and name not in sys.modules:
            os._exit(99)
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", guarded)
    pre = reuse_precheck.Precheck(str(old), OLD_ID, fork=True, report=True)
    try:
        assert pre.answer("pkgset.global")[4] is True
        pre.release()
        assert pre.proc.wait() == 0
        assert pre.report([report.report_page(str(old))]) is False
    finally:
        pre.close()
