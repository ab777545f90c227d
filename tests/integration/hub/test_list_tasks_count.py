"""``listTasks(..., {"countOnly": True})`` counts in the database: it must be the length of the
list the same call returns without ``countOnly``, for every filter, offset and limit."""

from __future__ import annotations

import os

import koji

ADMIN = "kojiadmin"


def test_count_only_is_the_length_of_the_list(hub, pki):
    s = koji.ClientSession(hub.url, {"serverca": hub.ca})
    s.ssl_login(cert=os.path.join(str(pki), ADMIN + ".pem"), serverca=hub.ca)
    ids = [s.makeTask("sleep", [i]) for i in range(5)]
    s.cancelTask(ids[0])
    s.cancelTask(ids[3])
    free, canceled = koji.TASK_STATES["FREE"], koji.TASK_STATES["CANCELED"]
    filters = [{}, {"method": "sleep"}, {"state": [free]}, {"state": [canceled]},
               {"method": "nosuchmethod"}, {"state": [free], "method": "sleep"}]
    slices = [{}, {"offset": 1}, {"limit": 2}, {"offset": 3, "limit": 5}, {"offset": 10},
              {"limit": 0}, {"order": "-id", "limit": 3, "offset": 1}]
    seen = set()
    for opts in filters:
        for query in slices:
            tasks = s.listTasks(opts, query)
            count = s.listTasks(opts, dict(query, countOnly=True))
            assert isinstance(count, int) and count == len(tasks), (opts, query, count, tasks)
            seen.add(count)
    assert {0, 2, 3, 5} <= seen, seen
    # a count's offset and limit are numbers: anything else is a clear ParameterError
    for bad in ({"offset": "x"}, {"limit": [1]}, {"limit": True}):
        try:
            s.listTasks({}, dict(bad, countOnly=True))
        except koji.ParameterError as exc:
            assert "offset" in str(exc) or "limit" in str(exc), exc
        else:
            raise AssertionError(f"{bad} was accepted")
