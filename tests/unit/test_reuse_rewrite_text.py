"""A taken unit's text naming the old compose, rewritten by replacing the old names directly
(the normalised digest taken from the old record) or by normalising and expanding: the same
bytes and the same record entry as a fresh description of the file."""

import os
import types

import pytest

from pungi_like import reuse

OLD_ID, NEW_ID = "T-1-20260101.n.0", "T-1-20260101.n.1"


@pytest.mark.parametrize("direct", [True, False])
def test_a_rewritten_text_equals_a_fresh_description(tmp_path, monkeypatch, direct):
    calls = []
    safe = reuse.direct_rewrite_safe
    monkeypatch.setattr(reuse, "direct_rewrite_safe",
                        lambda *a: calls.append(a) or (direct and safe(*a)))
    old_top, new_top = tmp_path / OLD_ID, tmp_path / NEW_ID
    (old_top / "work").mkdir(parents=True)
    new_top.mkdir()
    text = "".join(f"{old_top}/work/global/download/p{i}.rpm {OLD_ID} é\n" for i in range(50))
    src = old_top / "work" / "list.conf"
    src.write_text(text, encoding="utf-8")
    old_names, new_names = reuse.Names(str(old_top), OLD_ID), reuse.Names(str(new_top), NEW_ID)
    entry = reuse.describe_files([str(src)], old_names)["work/list.conf"]
    assert entry["names_compose"] == "text"
    old = reuse.OldUnit(str(old_top), OLD_ID, {"unit": "gather.Server.x86_64"})
    pool = reuse.ReusePool(types.SimpleNamespace(topdir=str(new_top), compose_id=NEW_ID))
    dst = new_top / "work" / "list.conf"
    made = pool._rewrite_text(old, str(src), str(dst), os.stat(src), entry)
    assert calls
    assert dst.read_text(encoding="utf-8") == text.replace(str(old_top), str(new_top)).replace(
        OLD_ID, NEW_ID)
    assert made == reuse.describe_files([str(dst)], new_names)["work/list.conf"]
    assert made["content"] == entry["content"]
