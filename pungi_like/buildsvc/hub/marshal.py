"""A fast XML-RPC methodResponse writer for the hub's results.

Large answers (listTaggedRPMS of a whole distribution) are dominated by serialisation; the
standard library's Marshaller dispatches per value through several method layers. This writer
handles the types the hub returns (None, bool, int incl. i8, float, str, list/tuple, dict with
string keys) with one recursive function and falls back to the standard one for anything else.
Its output is plain XML-RPC that any client parses (``<nil/>`` for None, ``<i8>`` beyond 32 bits).
"""

from __future__ import annotations

import re

import koji
import koji.xmlrpcplus

_INT32 = 2 ** 31

#: characters XML 1.0 cannot carry (its Char production), surrogates included
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _esc(s):
    # isprintable() is a fast C check that passes almost every string; only the rest are
    # searched for characters no XML document can hold (a reply must never become unparsable)
    if not s.isprintable() and XML_INVALID.search(s):
        raise koji.GenericError("the reply holds text with a character XML-RPC cannot carry "
                                "(%r)" % XML_INVALID.search(s).group())
    if "&" in s or "<" in s or ">" in s:
        s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s


class _Unsupported(Exception):
    pass


def _dump(value, out):
    t = type(value)
    if t is str:
        out.append("<value><string>%s</string></value>\n" % _esc(value))
    elif t is int:
        if -_INT32 <= value < _INT32:
            out.append("<value><int>%d</int></value>\n" % value)
        else:
            out.append("<value><i8>%d</i8></value>\n" % value)
    elif value is None:
        out.append("<value><nil/></value>")
    elif t is bool:
        out.append("<value><boolean>%d</boolean></value>\n" % value)
    elif t is dict:
        out.append("<value><struct>\n")
        for k, v in value.items():
            if type(k) is not str:
                raise _Unsupported()
            out.append("<member>\n<name>%s</name>\n" % _esc(k))
            _dump(v, out)
            out.append("</member>\n")
        out.append("</struct></value>\n")
    elif t is list or t is tuple:
        out.append("<value><array><data>\n")
        for v in value:
            _dump(v, out)
        out.append("</data></array></value>\n")
    elif t is float:
        out.append("<value><double>%r</double></value>\n" % value)
    else:
        raise _Unsupported()


def dumps_response(result) -> str:
    """A methodResponse document for ``result``."""
    out = ["<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n"]
    try:
        _dump(result, out)
    except _Unsupported:
        return koji.xmlrpcplus.dumps((result,), methodresponse=1, allow_none=1)
    out.append("</param>\n</params>\n</methodResponse>\n")
    return "".join(out)
