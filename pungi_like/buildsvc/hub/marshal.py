"""A fast XML-RPC methodResponse writer for the hub's results.

Large answers (listTaggedRPMS of a whole distribution) are dominated by serialisation; the
standard library's Marshaller dispatches per value through several method layers. This writer
handles the types the hub returns (None, bool, int incl. i8, float, str, list/tuple, dict with
string keys) with one recursive function and falls back to the standard one for anything else.
Its output is plain XML-RPC that any client parses (``<nil/>`` for None, ``<i8>`` beyond 32 bits).
"""

from __future__ import annotations

import operator
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


# Compact on purpose: no whitespace between elements and strings as untyped values
# (``<value>text</value>``, which XML-RPC defines as a string) make a big answer about a fifth
# smaller and quicker for the client to parse; the values it parses to are the same.
_NIL = "<value><nil/></value>"
_TRUE = "<value><boolean>1</boolean></value>"
_FALSE = "<value><boolean>0</boolean></value>"

#: "<member><name>key</name>" of the struct keys seen so far (results reuse a few keys)
_MEMBERS = {}
_MEMBERS_MAX = 4096


def _member(key):
    m = _MEMBERS.get(key)
    if m is None:
        if not isinstance(key, str):  # (str subclasses too: SQLAlchemy's column names)
            raise _Unsupported()
        m = "<member><name>%s</name>" % _esc(str(key))
        if len(_MEMBERS) < _MEMBERS_MAX:
            _MEMBERS[key] = m
    return m


def _str(v):
    return "<value>%s</value>" % _esc(v)


def _int(v):
    if -_INT32 <= v < _INT32:
        return "<value><int>%d</int></value>" % v
    return "<value><i8>%d</i8></value>" % v


def _bool(v):
    return _TRUE if v else _FALSE


def _none(v):
    return _NIL


def _float(v):
    return "<value><double>%r</double></value>" % v


#: scalar type -> its XML-RPC value text
_SCALARS = {str: _str, int: _int, bool: _bool, type(None): _none, float: _float}


#: (keys, value types) of a dict -> its row template (:func:`_row_template`), or None for a
#: shape the template cannot write; bounded like _MEMBERS
_ROWS = {}
_ROWS_MAX = 4096

#: value text of each scalar type in a row template: (format, is the value formatted)
_SLOTS = {str: ("<value>%s</value>", True), int: ("<value><int>%d</int></value>", True),
          bool: ("<value><boolean>%d</boolean></value>", True), type(None): (_NIL, False),
          float: ("<value><double>%r</double></value>", True)}


def _getter(idx):
    """A function returning the values at ``idx`` of a tuple, always as a tuple."""
    if not idx:
        return lambda vals: ()
    if len(idx) == 1:
        i = idx[0]
        return lambda vals: (vals[i],)
    return operator.itemgetter(*idx)


def _row_template(keys, types):
    """(format string, getter of the formatted values, getter of the ints, getter of the
    strings) writing a whole struct of these keys and value types in one ``%``, or None."""
    if any(not isinstance(k, str) for k in keys) or any(t not in _SLOTS for t in types):
        return None
    parts, fmt_idx, int_idx, str_idx = ["<value><struct>"], [], [], []
    for i, (k, t) in enumerate(zip(keys, types)):
        slot, formatted = _SLOTS[t]
        parts.append(_member(k).replace("%", "%%") + slot + "</member>")
        if formatted:
            fmt_idx.append(i)
        if t is int:
            int_idx.append(i)
        elif t is str:
            str_idx.append(i)
    parts.append("</struct></value>")
    return "".join(parts), _getter(fmt_idx), _getter(int_idx), _getter(str_idx)


def _dump_row(value, out):
    """Write the dict ``value`` with a cached template of its shape (the rows of a big answer
    share a few shapes); False when it needs the general path: a shape with other value types,
    an int beyond 32 bits (``<i8>``) or a string that needs escaping or checking."""
    vals = tuple(value.values())
    shape = (tuple(value), tuple(map(type, vals)))
    tmpl = _ROWS.get(shape, False)
    if tmpl is False:
        tmpl = _row_template(*shape)
        if len(_ROWS) < _ROWS_MAX:
            _ROWS[shape] = tmpl
    if tmpl is None:
        return False
    fmt, formatted, ints, strs = tmpl
    nums = ints(vals)
    if nums and (min(nums) < -_INT32 or max(nums) >= _INT32):
        return False
    text = "".join(strs(vals))
    if "&" in text or "<" in text or ">" in text or not text.isprintable():
        return False
    out.append(fmt % formatted(vals))
    return True


def _dump(value, out):
    t = type(value)
    scalar = _SCALARS.get(t)
    if scalar is not None:
        out.append(scalar(value))
    elif t is dict:
        if _dump_row(value, out):
            return
        append = out.append
        append("<value><struct>")
        for k, v in value.items():
            scalar = _SCALARS.get(type(v))
            if scalar is not None:
                append(_member(k) + scalar(v) + "</member>")
            else:
                append(_member(k))
                _dump(v, out)
                append("</member>")
        append("</struct></value>")
    elif t is list or t is tuple:
        out.append("<value><array><data>")
        for v in value:
            if type(v) is not dict or not _dump_row(v, out):
                _dump(v, out)
        out.append("</data></array></value>")
    else:
        raise _Unsupported()


def dumps_response(result) -> str:
    """A methodResponse document for ``result``."""
    out = ["<?xml version='1.0'?>\n<methodResponse><params><param>"]
    try:
        _dump(result, out)
    except _Unsupported:
        return koji.xmlrpcplus.dumps((result,), methodresponse=1, allow_none=1)
    out.append("</param></params></methodResponse>\n")
    return "".join(out)
