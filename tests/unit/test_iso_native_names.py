"""iso_native's plan: the name check and a source's directory give what the rules they
stand for give (printable ASCII without Joliet's ``*/:;?\\``, not empty; os.path's
dirname of the absolute path)."""

import os
import random

import pytest

from pungi_like.media import iso_native


def _rule(name):
    return bool(name) and all(" " <= c <= "~" for c in name) and not set("*/:;?\\") & set(name)


def test_name_check_is_the_rule():
    names = ["", "a", "a b", "x*y", "a/b", "c:d", "e;f", "g?h", "i\\j", "\u00e9", "\t", "~",
             " ", "]", "[", "^", "-", "a-b.rpm", "\x7f", "\x1f", "p0250-1.0-2.1.peer.x86_64.rpm"]
    rng = random.Random(19)
    chars = [chr(i) for i in range(0x90)]
    names += ["".join(rng.choice(chars) for _ in range(rng.randint(0, 6))) for _ in range(20000)]
    for name in names:
        assert bool(iso_native._name_ok(name)) == _rule(name), repr(name)


@pytest.mark.parametrize("source", ["/a/b/c", "/a", "/", "/a//b", "/a/./b", "/a/../b",
                                    "/a/.b/c", "/a/b/", "rel/x", "/x/y.rpm", "//a", "./x"])
def test_source_dir_is_the_dirname_of_the_absolute_path(source):
    assert iso_native._source_dir(source) == os.path.dirname(os.path.abspath(source))
