"""The hub's XML-RPC answer writer (hub/marshal.py): its row templates write exactly what the
general path writes, and every answer parses to the values Koji's own marshaller gives."""

from __future__ import annotations

import xmlrpc.client

import koji
import koji.xmlrpcplus
import pytest

from pungi_like.buildsvc.hub import marshal


def _general(result):
    """The answer written without row templates (the general per-value path)."""
    saved = marshal._dump_row
    marshal._dump_row = lambda value, out: False
    try:
        return marshal.dumps_response(result)
    finally:
        marshal._dump_row = saved


def _rows():
    rows = []
    for i in range(50):
        rows.append({"name": "pkg%d" % i, "version": "1.%d" % i, "release": "1", "arch": "x86_64",
                     "id": i, "epoch": None if i % 3 else i, "draft": bool(i % 2),
                     "payloadhash": "%032x" % i, "size": 1000 + i, "buildtime": 1764900000,
                     "buildroot_id": None, "build_id": i // 2, "metadata_only": False,
                     "extra": None if i % 5 else {"typeinfo": {"rpm": [1, "x"]}}})
    rows[1]["name"] = "a<b&c>d"           # escaped
    rows[2]["size"] = 2 ** 40             # <i8>
    rows[3]["size"] = -2 ** 31 - 1        # <i8>, negative
    rows[4]["version"] = "józef ✓"        # non-ASCII
    rows[5]["ratio"] = 1.5                # a double
    rows[6]["100%"] = "50%s %d"           # % in keys and values
    rows[7] = dict(reversed(list(rows[7].items())))  # same keys, another order
    rows[8]["name"] = "tab\there\nnewline"  # allowed control characters
    return rows


def test_row_templates_write_what_the_general_path_writes():
    result = [_rows(), [dict(r, tag_name="f42") for r in _rows()[:20]], {"nested": _rows()[:3]}]
    marshal._ROWS.clear()
    fast = marshal.dumps_response(result)
    assert any(marshal._ROWS.values())  # the rows went through templates
    assert fast == _general(result)
    assert "<i8>1099511627776</i8>" in fast and "a&lt;b&amp;c&gt;d" in fast
    # the values are those Koji's marshaller sends
    koji_doc = koji.xmlrpcplus.dumps((result,), methodresponse=1, allow_none=1)
    assert xmlrpc.client.loads(fast) == xmlrpc.client.loads(koji_doc)


def test_a_row_with_a_character_xml_cannot_carry_is_refused():
    rows = _rows()
    rows[9]["name"] = "bad\x01name"
    with pytest.raises(koji.GenericError, match="XML-RPC cannot carry"):
        marshal.dumps_response(rows)
