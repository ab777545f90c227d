"""The two hashes that let a re-run gather take an old unit's outputs (reuse_delta)."""

import os
import shutil
from types import SimpleNamespace

from pungi_like import reuse_delta
from pungi_like.fileutil import write_json_atomic


def _compose(topdir, cid="R-1.0-20240101.n.0"):
    # conf None: no compose-wide content (reuse_keys.content_inputs gives {})
    return SimpleNamespace(topdir=str(topdir), compose_id=cid, conf=None, reuse_pool=None)


def _unit(upstream, inputs=None):
    return SimpleNamespace(name="gather.S.x86_64", phase="gather", inputs=inputs or {"a": 1},
                           upstream=upstream)


def test_the_inputs_hash_leaves_out_the_package_set_and_nothing_else(tmp_path):
    compose = _compose(tmp_path)
    base = {"init.x86_64": "i1", "pkgset.x86_64": "p1"}
    digest = reuse_delta.inputs_digest(compose, _unit(base), ("pkgset.",))
    assert digest == reuse_delta.inputs_digest(
        compose, _unit(dict(base, **{"pkgset.x86_64": "p2"})), ("pkgset.",))
    assert digest != reuse_delta.inputs_digest(
        compose, _unit(dict(base, **{"init.x86_64": "i2"})), ("pkgset.",))
    assert digest != reuse_delta.inputs_digest(compose, _unit(base, {"a": 2}), ("pkgset.",))
    # the compose's directory and id do not count: the same inputs in the next compose
    other = _compose(tmp_path / "next", "R-1.0-20240101.n.1")
    assert digest == reuse_delta.inputs_digest(other, _unit(base), ("pkgset.",))
    assert reuse_delta.inputs_digest(compose, SimpleNamespace(inputs={}), ("pkgset.",)) is None


def test_the_result_hash_needs_the_same_text_and_the_very_same_files(tmp_path):
    compose = _compose(tmp_path)
    pkg = tmp_path / "work" / "p-1.0-1.x86_64.rpm"
    pkg.parent.mkdir()
    pkg.write_bytes(b"rpm")
    text = reuse_delta.json_text({"binary": {"p": str(pkg)}})
    digest = reuse_delta.result_digest(compose, text, [str(pkg)])
    # in the next compose the same result over a hard link of the same file
    nxt = tmp_path / "next"
    (nxt / "work").mkdir(parents=True)
    os.link(pkg, nxt / "work" / pkg.name)
    other = _compose(nxt, "R-1.0-20240101.n.1")
    same = reuse_delta.json_text({"binary": {"p": str(nxt / "work" / pkg.name)}})
    assert reuse_delta.result_digest(other, same, [str(nxt / "work" / pkg.name)]) == digest
    # the same bytes in another inode (a copy, a rebuilt package) do not count
    os.unlink(nxt / "work" / pkg.name)
    shutil.copy2(pkg, nxt / "work" / pkg.name)
    assert reuse_delta.result_digest(other, same, [str(nxt / "work" / pkg.name)]) != digest
    # another result, or a missing file
    assert reuse_delta.result_digest(compose, text.replace("p-1.0", "p-1.1"), [str(pkg)]) != digest
    assert reuse_delta.result_digest(compose, text, [str(tmp_path / "gone.rpm")]) is None


def test_without_old_composes_only_the_inputs_hash_is_noted(tmp_path):
    compose = _compose(tmp_path)
    unit = _unit({"pkgset.x86_64": "p"})
    made = []
    reuse_delta.take_old_if_same(compose, unit, lambda: made.append(1) or "", [])
    assert made == []           # the result's text is made only when an old unit may match
    assert unit.delta["inputs"]
    # the result as gather writes it (indented) hashes as the object it was made from does
    result = {"binary": {"p-0:1-1.x86_64": {"path": str(tmp_path / "p.rpm"), "flags": ["input"]}},
              "missing": []}
    path = tmp_path / "result.json"
    write_json_atomic(str(path), result)
    reuse_delta.note_result(compose, unit, str(path), [])
    assert unit.delta["result"] == reuse_delta.result_digest(
        compose, reuse_delta.json_text(result), [])
