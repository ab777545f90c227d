"""Reading config files: Pungi's kobo format (with includes) and JSON, with file:line of options.

kobo's ``PyConfigParser`` reads the values (so every quirk real configs rely on behaves as in
Pungi: optional commas, ``from name import *`` relative to the including file, ``%`` formatting,
no concatenation of adjacent strings). kobo does not say where a value came from, so every file
it opened is tokenized again here to find the line of each top-level assignment, replaying the
includes in the same order so that the assignment that wins is the one reported.
"""

import json
import os
import re
import tokenize

try:
    from kobo.conf import PyConfigParser
except ImportError:  # reported when a Pungi-format file is read (JSON configs still work)
    PyConfigParser = None

from pungi_like.errors import ConfigError, PungiLikeError

CONF_SUFFIX = "conf"


class RawConfig:
    """The values of a config file before validation, and where each came from.

    ``values``: option name -> value (tuples turned into lists, as JSON would give them);
    ``locations``: option name -> (file, line); ``source_files``: the main file and every file
    it includes, in the order they were read; ``main_file``: the file given by the user.
    """

    def __init__(self, main_file, values, locations, source_files):
        self.main_file = main_file
        self.values = values
        self.locations = locations
        self.source_files = source_files


def read_config(path):
    """Read ``path`` (kobo format, or JSON when it ends in ``.json``) into a ``RawConfig``.

    Raises ``ConfigError`` with ``FILE:LINE: ...`` messages for unreadable files, syntax errors
    and missing includes.
    """
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: config file does not exist")
    if path.endswith(".json"):
        return _read_json(path)
    return _read_kobo(path)


def to_plain(value):
    """Tuples to lists, recursively: kobo gives tuples where JSON gives lists."""
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


# ---- kobo format -------------------------------------------------------------------------

class _LocatedError(Exception):
    def __init__(self, file, line, message):
        super().__init__(message)
        self.file = file
        self.line = line
        self.message = message

    def render(self):
        if self.file is None:
            return self.message
        return f"{self.file}:{self.line or 1}: {self.message}"


_KOBO_POSITION = re.compile(r"file: (?P<file>.*?), begin: \((?P<line>\d+), \d+\)")
_KOBO_DUPLICATE = re.compile(r"Duplicate dict key (?P<key>.*) in file (?P<file>.*) on line "
                             r"(?P<line>\d+)")
_KOBO_UNDEFINED = re.compile(r"Undefined variable (?P<name>'[^']*'|\"[^\"]*\")")
_KOBO_TEXT = re.compile(r"text: (?P<text>.*)$", re.S)


class _LocatingParser(PyConfigParser or object):
    """kobo's parser, turning every failure into an error that names a file and a line."""

    def _current_line(self):
        return self._tok_begin[0] if self._tok_begin else None

    def load_from_file(self, file_name):
        try:
            super().load_from_file(file_name)
        except _LocatedError as exc:
            if exc.file is None:
                # an include of ours could not be opened: point at our `from` line
                exc.file = self._open_file
                exc.line = self._current_line()
            raise
        except OSError as exc:
            if self._open_file is None:
                raise _LocatedError(None, None, f"cannot read {file_name}: "
                                    f"{exc.strerror or exc}") from None
            raise _LocatedError(self._open_file, self._current_line(),
                                f"cannot read {file_name}: {exc.strerror or exc}") from None
        except SyntaxError as exc:
            raise self._syntax_error(str(exc.msg if exc.msg else exc)) from None
        except tokenize.TokenError:
            # tokenize reports the end of the file; the last token read is nearer the cause
            raise _LocatedError(self._open_file, self._current_line(),
                                "syntax error: unexpected end of file (unclosed bracket or "
                                "string?)") from None
        except KeyError as exc:
            message = exc.args[0] if exc.args else str(exc)
            if isinstance(message, str) and message.startswith("Can't import"):
                raise _LocatedError(self._open_file, self._current_line(),
                                    message.rstrip(".")) from None
            raise _LocatedError(self._open_file, self._current_line(),
                                f"string formatting failed: missing key {message!r}") from None
        except (TypeError, ValueError) as exc:
            raise _LocatedError(self._open_file, self._current_line(),
                                f"invalid value: {exc}") from None
        except (RuntimeError, StopIteration):
            raise _LocatedError(self._open_file, self._current_line(),
                                "syntax error: unexpected end of file") from None

    def _syntax_error(self, text):
        file, line = self._open_file, self._current_line()
        match = _KOBO_DUPLICATE.search(text)
        if match:
            return _LocatedError(match["file"], int(match["line"]),
                                 f"duplicate dict key {match['key']}")
        match = _KOBO_POSITION.search(text)
        if match:
            file, line = match["file"], int(match["line"])
        match = _KOBO_UNDEFINED.search(text)
        if match:
            return _LocatedError(file, line, f"undefined variable {match['name']} (strings need "
                                 "quotes; a name must be assigned before it is used)")
        if text.startswith("Cannot assign to a python keyword"):
            word = text.rsplit(":", 1)[-1].strip()
            return _LocatedError(file, line, f"cannot assign to Python keyword {word!r}")
        match = _KOBO_TEXT.search(text)
        near = match["text"].strip() if match else ""
        return _LocatedError(file, line, f"invalid syntax: {near!r}" if near else
                             "invalid syntax")


def _read_kobo(path):
    if PyConfigParser is None:
        raise PungiLikeError("reading Pungi-format configs needs kobo (`pip install kobo`)")
    parser = _LocatingParser(config_file_suffix=CONF_SUFFIX)
    try:
        parser.load_from_file(path)
    except _LocatedError as exc:
        raise ConfigError(exc.render()) from None
    locations = {}
    opened = []
    _scan_assignments(path, locations, opened)
    values = {k: to_plain(v) for k, v in parser.items()}
    return RawConfig(path, values, locations, opened)


def _significant_tokens(path):
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    with open(path, encoding="utf-8", errors="replace") as handle:
        tokens = list(tokenize.generate_tokens(handle.readline))
    return [tok for tok in tokens if tok.type not in skip]


def _scan_assignments(path, locations, opened):
    """Record ``name -> (file, line)`` for top-level assignments, following includes in order."""
    if path not in opened:
        opened.append(path)
    tokens = _significant_tokens(path)
    depth = 0
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        elif depth == 0 and tok.type == tokenize.NAME and tok.string == "from":
            i = _scan_include(path, tokens, i, locations, opened)
            continue
        elif (depth == 0 and tok.type == tokenize.NAME and i + 1 < len(tokens)
              and tokens[i + 1].type == tokenize.OP and tokens[i + 1].string == "="):
            locations[tok.string] = (path, tok.start[0])
        elif (depth == 0 and tok.type == tokenize.NAME and tok.string == "global"
              and i + 1 < len(tokens)):
            locations[tokens[i + 1].string] = (path, tokens[i + 1].start[0])
        i += 1


def _scan_include(path, tokens, i, locations, opened):
    line = tokens[i].start[0]
    i += 1
    name = ""
    while i < len(tokens) and not (tokens[i].type == tokenize.NAME
                                   and tokens[i].string == "import"):
        name += tokens[i].string
        i += 1
    i += 1
    imported = []
    while i < len(tokens) and tokens[i].start[0] == line:
        if tokens[i].string != ",":
            imported.append(tokens[i].string)
        i += 1
    include = os.path.join(os.path.dirname(path), f"{name}.{CONF_SUFFIX}")
    sub = {}
    _scan_assignments(include, sub, opened)
    if "*" in imported:
        locations.update(sub)
    else:
        locations.update({k: v for k, v in sub.items() if k in imported})
    return i


# ---- JSON --------------------------------------------------------------------------------

def _read_json(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}:1: a JSON config must be an object of options, found "
                          f"{type(values).__name__}")
    top_keys, duplicates = _scan_json_keys(text)
    if duplicates:
        raise ConfigError([f"{path}:{line}: duplicate dict key {key!r}"
                           for key, line in duplicates])
    locations = {key: (path, line) for key, line in top_keys.items()}
    return RawConfig(path, values, locations, [path])


def _scan_json_keys(text):
    """Line of each top-level key, and every duplicated key (at any depth) with its line."""
    top = {}
    duplicates = []
    stack = []  # one entry per open container: a set of keys for objects, None for arrays
    line = 1
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
        elif ch in "{[":
            stack.append(set() if ch == "{" else None)
        elif ch in "}]":
            if stack:
                stack.pop()
        elif ch == '"':
            start_line = line
            j = i + 1
            while j < n and text[j] != '"':
                if text[j] == "\\":
                    j += 1
                elif text[j] == "\n":
                    line += 1
                j += 1
            literal = text[i:j + 1]
            k = j + 1
            while k < n and text[k] in " \t\r\n":
                k += 1
            if k < n and text[k] == ":" and stack and stack[-1] is not None:
                key = json.loads(literal)
                if key in stack[-1]:
                    duplicates.append((key, start_line))
                stack[-1].add(key)
                if len(stack) == 1:
                    top[key] = start_line
            i = j
        i += 1
    return top, duplicates
