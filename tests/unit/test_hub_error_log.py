"""The hub server's error reports: a client that went away is routine (DEBUG, no traceback on
stderr: the e2e demo's stderr must stay clean), a real error keeps its traceback in the log."""

import logging
import ssl

import pytest

from pungi_like.buildsvc.hub.httpd import HubServer

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("exc", [ssl.SSLEOFError("EOF occurred in violation of protocol"),
                                 BrokenPipeError(32, "Broken pipe"),
                                 ConnectionResetError(104, "reset by peer")])
def test_a_client_that_went_away_is_logged_at_debug_only(exc, caplog, capsys):
    caplog.set_level(logging.DEBUG, logger="pungi_like.buildsvc.hub")
    try:
        raise exc
    except OSError:
        HubServer.error_log(None, "Error in HTTPServer.serve", level=40, traceback=True)
    assert capsys.readouterr().err == ""
    (record,) = caplog.records
    assert record.levelno == logging.DEBUG and record.exc_info is None
    assert "connection ended by the client" in record.getMessage()


def test_other_errors_keep_their_traceback_in_the_log(caplog, capsys):
    caplog.set_level(logging.DEBUG, logger="pungi_like.buildsvc.hub")
    try:
        raise ValueError("boom")
    except ValueError:
        HubServer.error_log(None, "Error in HTTPServer.serve", level=40, traceback=True)
    assert capsys.readouterr().err == ""
    (record,) = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info[0] is ValueError
