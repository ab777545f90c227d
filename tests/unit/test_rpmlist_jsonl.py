"""repoInit's rpmlist.jsonl text (hub/repos._jsonl): one encoder call for the whole list, split
into lines, gives what a ``json.dumps(..., sort_keys=True)`` a line gives, whatever the
strings hold (quotes, braces, the items' own separator, backslashes, new lines)."""

import itertools
import json

from pungi_like.buildsvc.hub.repos import _RPMLIST_KEYS, _jsonl

NASTY = ['}, {"arch": ', "}, {", '"', "\\", "\n", "\u00e9", '}, {\\"arch\\": ',
         '"arch": "x"}, {"arch": ', "", "noarch"]


def _lines(rpms):
    return "".join(json.dumps({k: r[k] for k in _RPMLIST_KEYS}, sort_keys=True) + "\n"
                   for r in rpms)


def _rpm(i, text):
    r = {k: text for k in _RPMLIST_KEYS}
    r.update(id=i, build_id=i + 1, epoch=None if i % 2 else i, size=2 ** 40 + i,
             metadata_only=False)
    return r


def test_each_line_is_the_rpms_object_with_sorted_keys():
    for a, b in itertools.product(NASTY, repeat=2):
        rpms = [_rpm(0, a), _rpm(1, b + a), _rpm(2, b)]
        assert _jsonl(rpms) == _lines(rpms)
        assert _jsonl(rpms[:1]) == _lines(rpms[:1])
        assert len(_jsonl(rpms).splitlines()) == 3


def test_no_rpms_no_text():
    assert _jsonl([]) == ""
