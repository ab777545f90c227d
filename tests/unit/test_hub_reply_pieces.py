"""The hub's WSGI answer to an XML-RPC call: pieces of at most REPLY_CHUNK bytes, and an ASCII
answer (the writer's text, the answer cache off) encoded piece by piece as the server writes
it, not whole and then cut (two more copies of a 14.5 MB answer a call)."""

from __future__ import annotations

import hashlib
import io
import tracemalloc

from pungi_like.buildsvc.hub import dispatch, server


def _serve(monkeypatch, answer):
    monkeypatch.setattr(dispatch, "handle_xmlrpc", lambda app, environ, body: answer)
    app = server.HubApp.__new__(server.HubApp)  # (no database: the answer is the fake's)
    app.config = type("C", (), {"max_request_length": 1 << 20})()
    body = b"<methodCall/>"
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/kojihub", "CONTENT_TYPE": "text/xml",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    headers = {}
    chunks = app(environ, lambda status, h: headers.update(h, status=status))
    return headers, chunks


def test_an_ascii_answer_is_encoded_piece_by_piece(monkeypatch):
    answer = "<x>" + "a" * (8 * 2 ** 20) + "</x>"
    tracemalloc.start()
    try:
        headers, chunks = _serve(monkeypatch, answer)
        digest, length = hashlib.sha256(), 0
        for piece in chunks:
            assert len(piece) <= server.REPLY_CHUNK
            digest.update(piece)
            length += len(piece)
            del piece
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert headers["status"] == "200 OK"
    assert int(headers["Content-Length"]) == len(answer) == length
    assert digest.digest() == hashlib.sha256(answer.encode("ascii")).digest()
    # made while answering: about a piece or two, not the answer's bytes (and their pieces)
    assert peak < 4 * server.REPLY_CHUNK, peak


def test_other_answers_count_their_utf8_bytes(monkeypatch):
    for answer in ("<x>j\u00f3zef " + "b" * 600000 + "</x>", b"<x>bytes</x>", "<x>s</x>"):
        headers, chunks = _serve(monkeypatch, answer)
        data = answer.encode("utf-8") if isinstance(answer, str) else answer
        chunks = list(chunks)
        assert int(headers["Content-Length"]) == len(data)
        assert b"".join(chunks) == data
        assert all(len(c) <= server.REPLY_CHUNK for c in chunks)
