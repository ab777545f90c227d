"""A taken unit's texts naming the old compose are rewritten while its many links are made
(``ReusePool.place``: ``ln`` runs in other processes, started from the unit's thread before
the rewrites), and ``place`` returns only when both are done; an error of either is raised by
``place``."""

import os
import threading
import types

import pytest

from pungi_like import fileutil, reuse

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


def test_the_ln_runs_are_started_before_the_texts_are_rewritten(tmp_path, monkeypatch):
    """The ``ln`` runs are started from the unit's own thread, before its rewrites, and
    waited for after them: runs started from a thread of their own began 20-35 ms late in a
    no-op re-run, that thread waiting for the interpreter lock behind the units' Python."""
    pool, plan, new_top, names = _plan(tmp_path)
    events = []
    rewrite, start_ln, ln_ended = pool._rewrite_text, reuse.start_ln, reuse.ln_ended

    def rewrite_text(*args):
        events.append(("rewrite", threading.current_thread()))
        return rewrite(*args)

    def started(*args):
        runs = start_ln(*args)
        events.append(("started", threading.current_thread(), len(runs)))
        return runs

    def ended(runs):
        events.append(("ended", threading.current_thread()))
        return ln_ended(runs)

    monkeypatch.setattr(pool, "_rewrite_text", rewrite_text)
    monkeypatch.setattr(reuse, "start_ln", started)
    monkeypatch.setattr(reuse, "ln_ended", ended)
    pool.place(plan)
    me = threading.current_thread()
    assert events == [("started", me, 1), ("rewrite", me), ("ended", me)]
    assert sorted(os.listdir(new_top / "compose" / "S" / "Packages")) == sorted(names)
    assert all(os.stat(new_top / "compose" / "S" / "Packages" / name).st_ino ==
               os.stat(plan.named[0][0] + os.sep + name).st_ino for name in names)
    assert (new_top / "work" / "list.conf").read_text(encoding="utf-8").endswith(f" {NEW_ID}\n")
    assert plan.fresh["work/list.conf"]["names_compose"] == "text"


def test_a_failed_ln_run_is_made_up_for_one_link_at_a_time(tmp_path, monkeypatch):
    pool, plan, new_top, names = _plan(tmp_path)
    start_ln = reuse.start_ln
    # a run that links the first names only, then fails (as ``ln`` does on a name there
    # already): the rest are linked in the process
    monkeypatch.setattr(reuse, "start_ln", lambda src, batch, dst: start_ln(
        src, batch[:3] + ["missing.rpm"], dst))
    pool.place(plan)
    assert sorted(os.listdir(new_top / "compose" / "S" / "Packages")) == sorted(names)


def test_a_link_error_is_raised_by_place(tmp_path, monkeypatch):
    pool, plan, _new_top, _names = _plan(tmp_path)
    rewritten = []
    rewrite = pool._rewrite_text

    def link_group(*args):
        raise OSError("no room")

    monkeypatch.setattr(pool, "_rewrite_text", lambda *a: rewritten.append(1) or rewrite(*a))
    monkeypatch.setattr(reuse, "ln_ended", lambda runs: fileutil.ln_ended(runs) and False)
    monkeypatch.setattr(reuse, "_link_group", link_group)
    with pytest.raises(OSError, match="no room"):
        pool.place(plan)
    assert rewritten == [1]     # raised after the rewrites


def test_a_rewrite_error_waits_for_the_links(tmp_path, monkeypatch):
    pool, plan, new_top, names = _plan(tmp_path)
    ln_ended = reuse.ln_ended
    waited = []

    def ended(runs):
        ok = ln_ended(runs)
        waited.extend(run.returncode for run in runs)
        return ok

    def rewrite_text(*args):
        raise ValueError("bad text")

    monkeypatch.setattr(reuse, "ln_ended", ended)
    monkeypatch.setattr(pool, "_rewrite_text", rewrite_text)
    with pytest.raises(ValueError, match="bad text"):
        pool.place(plan)
    assert waited == [0]
    assert len(os.listdir(new_top / "compose" / "S" / "Packages")) == len(names)


def test_few_links_are_made_before_the_rewrites_without_ln(tmp_path, monkeypatch):
    pool, plan, new_top, names = _plan(tmp_path, count=reuse.LINK_BY_LN_MIN - 1)
    runs, seen = [], []
    rewrite = pool._rewrite_text
    monkeypatch.setattr(reuse, "start_ln", lambda *a: runs.append(a) or [])

    def rewrite_text(*args):
        seen.append(len(os.listdir(new_top / "compose" / "S" / "Packages")))
        return rewrite(*args)

    monkeypatch.setattr(pool, "_rewrite_text", rewrite_text)
    pool.place(plan)
    assert runs == []
    assert seen == [len(names)]


def test_the_largest_directory_is_linked_first_the_others_after_the_rewrites(tmp_path,
                                                                           monkeypatch):
    """A tree's packages (the largest directory) are linked by a run started before the
    rewrites; its debug packages' run is started after them: each start from the unit's
    thread gives the interpreter lock up, and the rewrites wait for none but the first."""
    pool, plan, new_top, names = _plan(tmp_path, count=reuse.LINK_BY_LN_MIN + 40)
    debug_src = tmp_path / OLD_ID / "compose" / "S" / "debug"
    debug_src.mkdir(parents=True)
    debug = [f"d{i}.rpm" for i in range(reuse.LINK_BY_LN_MIN)]
    for name in debug:
        (debug_src / name).write_bytes(name.encode())
    plan.named.insert(0, (str(debug_src), str(new_top / "compose" / "S" / "debug"), debug))
    events = []
    rewrite, start_ln = pool._rewrite_text, reuse.start_ln
    monkeypatch.setattr(pool, "_rewrite_text",
                        lambda *a: events.append("rewrite") or rewrite(*a))
    monkeypatch.setattr(reuse, "start_ln", lambda src, batch, dst: events.append(
        (os.path.basename(src), len(batch))) or start_ln(src, batch, dst))
    pool.place(plan)
    assert events == [("Packages", len(names)), "rewrite", ("debug", len(debug))]
    assert sorted(os.listdir(new_top / "compose" / "S" / "debug")) == sorted(debug)
    assert sorted(os.listdir(new_top / "compose" / "S" / "Packages")) == sorted(names)
