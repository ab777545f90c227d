"""A taken unit's texts naming the old compose are rewritten while its many links are made
(``ReusePool.place``: the links in a thread of their own, ``ln`` runs in other processes), and
``place`` returns only when both are done; an error of either is raised by ``place``."""

import os
import threading
import types

import pytest

from pungi_like import reuse

OLD_ID, NEW_ID = "T-1-20260101.n.0", "T-1-20260101.n.1"


def _plan(tmp_path, count=reuse.LINK_BY_LN_MIN):
    """A gather-like plan: ``count`` packages linked, one text naming the old compose."""
    old_top, new_top = tmp_path / OLD_ID, tmp_path / NEW_ID
    pkgs = old_top / "compose" / "S" / "Packages"
    pkgs.mkdir(parents=True)
    (old_top / "work").mkdir()
    names = [f"p{i}.rpm" for i in range(count)]
    for name in names:
        (pkgs / name).write_bytes(name.encode())
    src = old_top / "work" / "list.conf"
    src.write_text(f"{old_top}/compose/S/Packages/p0.rpm {OLD_ID}\n", encoding="utf-8")
    entry = reuse.describe_files([str(src)], reuse.Names(str(old_top), OLD_ID))["work/list.conf"]
    new_pkgs = new_top / "compose" / "S" / "Packages"
    new_pkgs.mkdir(parents=True)
    old = reuse.OldUnit(str(old_top), OLD_ID, {"unit": "gather.S.x86_64"})
    pool = reuse.ReusePool(types.SimpleNamespace(topdir=str(new_top), compose_id=NEW_ID))
    plan = reuse.TakePlan(
        types.SimpleNamespace(name="gather.S.x86_64"), old, ([], [], []),
        [("work/list.conf", str(src), str(new_top / "work" / "list.conf"), os.stat(src),
          entry)], set(), named=[(str(pkgs), str(new_pkgs), names)], entries={})
    return pool, plan, new_top, names


def test_texts_are_rewritten_while_the_links_are_made(tmp_path, monkeypatch):
    pool, plan, new_top, names = _plan(tmp_path)
    rewriting = threading.Event()
    rewrite = pool._rewrite_text
    real_link_all = reuse.link_all

    def rewrite_text(*args):
        rewriting.set()
        return rewrite(*args)

    def link_all(*args, **kwargs):
        # the links end only once the text is being rewritten: one after the other, this
        # would time out (an upper bound for a loaded machine, not a measurement)
        assert rewriting.wait(120), "the texts were not rewritten while linking"
        real_link_all(*args, **kwargs)

    monkeypatch.setattr(pool, "_rewrite_text", rewrite_text)
    monkeypatch.setattr(reuse, "link_all", link_all)
    pool.place(plan)
    assert sorted(os.listdir(new_top / "compose" / "S" / "Packages")) == sorted(names)
    assert (new_top / "work" / "list.conf").read_text(encoding="utf-8").endswith(f" {NEW_ID}\n")
    assert plan.fresh["work/list.conf"]["names_compose"] == "text"


def test_a_link_error_is_raised_by_place(tmp_path, monkeypatch):
    pool, plan, _new_top, _names = _plan(tmp_path)

    def link_all(*args, **kwargs):
        raise OSError("no room")

    monkeypatch.setattr(reuse, "link_all", link_all)
    with pytest.raises(OSError, match="no room"):
        pool.place(plan)


def test_a_rewrite_error_waits_for_the_links(tmp_path, monkeypatch):
    pool, plan, new_top, names = _plan(tmp_path)
    real_link_all = reuse.link_all
    ended = threading.Event()

    def link_all(*args, **kwargs):
        real_link_all(*args, **kwargs)
        ended.set()

    def rewrite_text(*args):
        raise ValueError("bad text")

    monkeypatch.setattr(reuse, "link_all", link_all)
    monkeypatch.setattr(pool, "_rewrite_text", rewrite_text)
    with pytest.raises(ValueError, match="bad text"):
        pool.place(plan)
    assert ended.is_set()
    assert len(os.listdir(new_top / "compose" / "S" / "Packages")) == len(names)


def test_few_links_are_made_in_the_units_thread(tmp_path, monkeypatch):
    pool, plan, _new_top, _names = _plan(tmp_path, count=reuse.LINK_BY_LN_MIN - 1)
    threads = []
    real_link_all = reuse.link_all
    monkeypatch.setattr(reuse, "link_all", lambda *a, **k: threads.append(
        threading.current_thread()) or real_link_all(*a, **k))
    pool.place(plan)
    assert threads == [threading.current_thread()]
