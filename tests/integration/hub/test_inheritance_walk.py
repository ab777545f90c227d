"""getFullInheritance rules (loops, maxdepth, intransitive, filters, repeats, reverse) and
queries as of an event, called in-process against a SQLite hub database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

pytestmark = pytest.mark.integration


@pytest.fixture
def api(tmp_path):
    """Run hub methods as the admin inside one transaction per call."""
    from pungi_like.buildsvc.db import open_db
    from pungi_like.buildsvc.db import schema as s
    from pungi_like.buildsvc.hub.context import context
    from pungi_like.buildsvc.hub.dispatch import call_method
    from pungi_like.buildsvc.hub.registry import load_all
    from pungi_like.buildsvc.instance import init_hub

    load_all()
    cfg = init_hub(str(tmp_path / "top"), "admin")
    db = open_db(cfg.db_url)

    def call(method, *args, **kw):
        with db.engine.begin() as conn:
            context.reset()
            context.conn = conn
            context.user = dict(conn.execute(select(s.users)).first()._mapping)
            try:
                return call_method(method, list(args), kw)
            finally:
                context.reset()

    call.db = db
    yield call
    db.dispose()


def _link(api, child, parent, priority, maxdepth=None, intransitive=False, pkg_filter=""):
    data = api("getInheritanceData", child)
    data.append({"parent_id": api("getTag", parent)["id"], "priority": priority,
                 "maxdepth": maxdepth, "intransitive": intransitive, "noconfig": False,
                 "pkg_filter": pkg_filter})
    api("setInheritanceData", child, data)


def _walk(api, tag, **kw):
    return [(l["name"], l["currdepth"]) for l in api("getFullInheritance", tag, **kw)]


def test_full_inheritance_rules(api):
    for name in ("top", "mid1", "mid2", "deep", "deeper", "side"):
        api("createTag", name)
    _link(api, "top", "mid1", 10)
    _link(api, "top", "mid2", 20, maxdepth=1)
    _link(api, "mid2", "deep", 10)
    _link(api, "deep", "deeper", 10)
    _link(api, "mid1", "side", 10, intransitive=True)   # ignored below the root
    _link(api, "deeper", "top", 10)                      # a loop, pruned
    # maxdepth 1 on top->mid2 keeps deep but not deeper; side is intransitive below the root
    assert _walk(api, "top") == [("mid1", 1), ("mid2", 1), ("deep", 2)]
    # from mid1 itself the intransitive link counts
    assert _walk(api, "mid1") == [("side", 1)]
    # reaching deep again through an unlimited path lists it again (a stronger visit)
    _link(api, "mid1", "deep", 20)
    assert _walk(api, "top") == [("mid1", 1), ("deep", 2), ("deeper", 3), ("mid2", 1)]
    # pkg_filter accumulates down the path
    api("setInheritanceData", "mid1", [dict(api("getInheritanceData", "mid1")[1],
                                            pkg_filter="^a")])
    # and an earlier filtered visit no longer covers a later one: deep is listed again via mid2
    assert [(l["name"], l["filter"]) for l in api("getFullInheritance", "top")] == [
        ("mid1", []), ("deep", ["^a"]), ("deeper", ["^a"]), ("mid2", []), ("deep", [])]
    # reverse: children, with tag_id being the child
    rev = api("getFullInheritance", "deep", reverse=True)
    assert [(l["name"], l["currdepth"]) for l in rev] == [
        ("mid2", 1), ("top", 2), ("deeper", 3), ("mid1", 1)]
    assert all("tag_id" in l for l in rev)
    # duplicate priorities are refused
    with pytest.raises(Exception, match="same priority"):
        _link(api, "top", "side", 10)


def test_queries_as_of_an_event(api):
    api("createTag", "a", arches="x86_64")
    before = api("getLastEvent")["id"]
    api("editTag2", "a", arches="aarch64", extra={"k": 1})
    assert api("getTag", "a")["arches"] == "aarch64"
    assert api("getTag", "a", event=before)["arches"] == "x86_64"
    assert api("getTag", "a", event=before)["extra"] == {}
    api("deleteTag", "a")
    assert api("getTag", "a") is None
    assert api("getTag", "a", event=before)["name"] == "a"
    hist = api("queryHistory", tables=["tag_config"], tag="a")["tag_config"]
    assert [bool(h["active"]) for h in hist] == [False, False]


def test_inheritance_memo_reads_once_and_hands_out_copies(api):
    """repoInit reads a tag's inheritance at its event for the last change, the package list,
    the latest RPMs and the groups: within inheritance_memo the walk's statements run once and
    each caller gets links of its own."""
    from sqlalchemy import event

    from pungi_like.buildsvc.hub.context import context
    from pungi_like.buildsvc.hub.inheritance import inheritance_memo, read_full_inheritance

    for name in ("m-top", "m-mid", "m-deep"):
        api("createTag", name)
    _link(api, "m-top", "m-mid", 10, pkg_filter="^a")
    _link(api, "m-mid", "m-deep", 10)
    top = api("getTag", "m-top")["id"]
    statements = []
    event.listen(api.db.engine, "before_cursor_execute",
                 lambda *a: "tag_inheritance" in a[2] and statements.append(a[2]))
    with api.db.engine.begin() as conn:
        context.reset()
        context.conn = conn
        try:
            plain = read_full_inheritance(top)
            walk = len(statements)
            assert walk >= 3                    # a statement a level
            with inheritance_memo():
                first = read_full_inheritance(top)
                second = read_full_inheritance(top)
                assert len(statements) == 2 * walk
                assert first == second == plain
                second[0]["filter"].append("changed")
                second[0]["priority"] = -1
                assert read_full_inheritance(top) == plain
                assert len(statements) == 2 * walk
                with inheritance_memo():         # a nested block shares the outer's reads
                    assert read_full_inheritance(top) == plain
                assert len(statements) == 2 * walk
            assert read_full_inheritance(top) == plain
            assert len(statements) == 3 * walk   # outside, every call reads again
        finally:
            context.reset()
