"""``reuse.replace_names``: a taken unit's text naming the old compose rewritten to name the new
one by one replacement of the id where that gives the very bytes of the two replacements
(directory, then id) - a re-run in the same target directory - and by the two otherwise; and
``direct_rewrite_safe``'s one-pass search for the placeholders."""

import random

import pytest

from pungi_like import reuse


def _both(data, old_top, old_id, new_top, new_id):
    return data.replace(old_top, new_top).replace(old_id, new_id)


@pytest.mark.parametrize("old_top,old_id,new_top,new_id", [
    # a re-run in its target directory: one replacement
    (b"/srv/c/T-1-20260101.n.0", b"T-1-20260101.n.0", b"/srv/c/T-1-20260101.n.1",
     b"T-1-20260101.n.1"),
    # a directory not named by its id
    (b"/srv/c/latest", b"T-1-20260101.n.0", b"/srv/c/T-1-20260101.n.1", b"T-1-20260101.n.1"),
    # another target directory
    (b"/srv/a/T-1.n.0", b"T-1.n.0", b"/srv/b/T-1.n.1", b"T-1.n.1"),
    # an id that can overlap itself ("0.0" in "0.0.0")
    (b"/c/0.0", b"0.0", b"/c/1.1", b"1.1"),
])
def test_the_same_bytes_as_the_two_replacements(old_top, old_id, new_top, new_id):
    rng = random.Random(3)
    pieces = [old_top, old_id, old_top + old_id, old_id + old_top, b"/", b".", b"0", b" x\n",
              old_top[:-2], old_id[1:]]
    for _ in range(3000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        if reuse.direct_rewrite_safe(data, old_id, new_top):
            assert reuse.replace_names(data, old_top, old_id, new_top, new_id) == \
                _both(data, old_top, old_id, new_top, new_id)


def test_one_replacement_where_it_is_the_same():
    calls = []

    class Spy(bytes):
        def replace(self, old, new, *args):
            calls.append(old)
            return Spy(bytes.replace(self, old, new, *args))

    old_top, new_top = b"/srv/c/T-1.n.0", b"/srv/c/T-1.n.1"
    data = Spy(old_top + b"/compose/S/p.rpm T-1.n.0\n")
    assert reuse.replace_names(data, old_top, b"T-1.n.0", new_top, b"T-1.n.1") == \
        b"/srv/c/T-1.n.1/compose/S/p.rpm T-1.n.1\n"
    assert calls == [b"T-1.n.0"]
    calls.clear()
    # another target directory: the two replacements
    old_top, new_top = b"/srv/a/T-1.n.0", b"/srv/b/T-1.n.1"
    data = Spy(old_top + b" T-1.n.0\n")
    assert reuse.replace_names(data, old_top, b"T-1.n.0", new_top, b"T-1.n.1") == \
        b"/srv/b/T-1.n.1 T-1.n.1\n"
    assert calls == [old_top, b"T-1.n.0"]


@pytest.mark.parametrize("data,safe", [
    (b'{"a": {"b": "/srv/c/T-1.n.0/x"}}', True),
    (b'{"a": "{topdir}/x"}', False),
    (b"x {compose_id} y", False),
    (b"{topdir", True),
    (b"no braces at all", True),
])
def test_a_placeholder_in_the_text_is_found(data, safe):
    assert reuse.direct_rewrite_safe(data, b"T-1.n.0", b"/srv/c/T-1.n.1") is safe
