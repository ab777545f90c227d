"""Repo lookups. Repo generation (newRepo tasks, repo requests) comes with the task queue;
until then no repo exists and these answer as Koji does for a tag without repos."""

from __future__ import annotations

from .common import get_tag_row
from .registry import read_only


@read_only
def getRepo(tag, state=None, event=None, dist=False, min_event=None):
    get_tag_row(tag, strict=True)
    return None


@read_only
def repoInfo(repo_id, strict=False):
    if strict:
        import koji

        raise koji.GenericError("Repo %r does not exist" % (repo_id,))
    return None
