"""The write actions of the web UI (POST only; :class:`~.app.WebApp` checks login and CSRF).

Each calls the hub API function Koji Web calls for it, so the API's permission checks decide
(``cancelTask``: owner, admin or the task's host; ``resubmitTask``: owner or admin;
``enableHost``/``disableHost``: admin). Each returns the page to go to afterwards.
"""

from __future__ import annotations

from .app import BadRequest, call

ACTIONS = {}


def action(func):
    ACTIONS[func.__name__] = func
    return func


def _int(req, name):
    value = req.form.get(name, "")
    if not value.isdigit():
        raise BadRequest("parameter %s must be a number, not %r" % (name, value))
    return int(value)


@action
def canceltask(req):
    task_id = _int(req, "taskID")
    call("cancelTask", task_id)
    return "taskinfo?taskID=%d" % task_id


@action
def resubmittask(req):
    new_id = call("resubmitTask", _int(req, "taskID"))
    return "taskinfo?taskID=%d" % new_id


@action
def disablehost(req):
    host = call("getHost", _int(req, "hostID"), strict=True)
    call("disableHost", host["name"])
    return "hostinfo?hostID=%d" % host["id"]


@action
def enablehost(req):
    host = call("getHost", _int(req, "hostID"), strict=True)
    call("enableHost", host["name"])
    return "hostinfo?hostID=%d" % host["id"]
