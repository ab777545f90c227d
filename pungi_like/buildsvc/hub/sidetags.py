"""Side tags, as Koji's sidetag hub plugin: createSideTag, removeSideTag, listSideTags,
editSideTag, and the ``is_sidetag``/``is_sidetag_owner`` policy tests (policy_tests.py).

A side tag is an ordinary tag inheriting from its base tag, with a build target of the same
name whose build and destination tag is the side tag itself. What makes it a side tag is in
its ``tag_extra``: ``sidetag`` (true), ``sidetag_user`` and ``sidetag_user_id`` (its owner), so
no table of its own is needed and history shows it like any tag change.

Any logged-in user may create side tags as far as the ``sidetag`` policy allows; the policy
sees ``tag`` (the base tag) and ``number_of_tags`` (how many side tags the user holds now),
which is how a site limits side tags per user (``compare number_of_tags >= 5 :: deny``).
Only the owner (or an admin) may edit or remove one. hub.conf ``[sidetag]`` sets the allowed
name suffixes and the name template (HubConfig ``sidetag_*``).
"""

from __future__ import annotations

import json
import re
import uuid

import koji
from koji.util import multi_fnmatch
from sqlalchemy import func, insert, select, update

from ..db import schema as s
from .common import (
    as_int, assert_login, check_type, get_tag_row, get_user_row, has_perm, lock_rows,
)
from .context import context
from .registry import export, read_only

#: the plugin's defaults (Koji's sidetag.conf)
NAME_TEMPLATE = "{basetag}-side-{tag_id}"


def _setting(name, default):
    return getattr(getattr(context.hub, "config", None), name, default)


def _tag(info):
    from .tags import tag_info

    return tag_info(get_tag_row(info, strict=True))


def is_sidetag(taginfo, raise_error=False):
    """True if the getTag dict ``taginfo`` is a side tag."""
    result = bool(taginfo["extra"].get("sidetag"))
    if not result and raise_error:
        raise koji.GenericError("Not a sidetag: %(name)s" % taginfo)
    return result


def is_sidetag_owner(taginfo, user, raise_error=False):
    """True if ``user`` (a users row) owns the side tag, or the session user is an admin."""
    result = bool(taginfo["extra"].get("sidetag")) and (
        taginfo["extra"].get("sidetag_user_id") == (user or {}).get("id")
        or has_perm("admin"))
    if not result and raise_error:
        raise koji.ActionNotAllowed("This is not your sidetag")
    return result


def _sidetag_count(user_id):
    te = s.tag_extra
    return context.conn.execute(select(func.count()).select_from(te).where(
        te.c.key == "sidetag_user_id", te.c.value == json.dumps(user_id),
        te.c.active.is_(True))).scalar_one()


@export
def createSideTag(basetag, debuginfo=False, suffix=None):
    """Create a side tag of ``basetag`` owned by the caller, with its build target.

    Returns ``{name, id, task_id, request}`` (no repo request is made: the repo is
    regenerated like any tag's)."""
    allowed = _setting("sidetag_allowed_suffixes", [])
    if suffix and suffix not in allowed:
        raise koji.GenericError("%s suffix is not allowed for sidetag" % suffix)
    assert_login()
    user = context.user
    base = _tag(basetag)
    # two concurrent creations by one user must both count: serialise on the user's row
    lock_rows(s.users, user["id"])
    from .policy import assert_policy

    assert_policy("sidetag", {"tag": base["id"], "number_of_tags": _sidetag_count(user["id"])})
    # the name carries the new tag's id: take the id first under a placeholder name
    tag_id = context.conn.execute(insert(s.tag).values(name="sidetag-%s" % uuid.uuid4().hex)
                                  .returning(s.tag.c.id)).scalar_one()
    name = _setting("sidetag_name_template", NAME_TEMPLATE).format(
        basetag=base["name"], tag_id=tag_id)
    if suffix:
        name += "-%s" % suffix
    if get_tag_row(name) or context.conn.execute(select(s.tag.c.id).where(
            s.tag.c.name == name)).first():
        raise koji.GenericError("A tag with the name %s already exists" % name)
    context.conn.execute(update(s.tag).where(s.tag.c.id == tag_id).values(name=name))
    extra = {"sidetag": True, "sidetag_user": user["name"], "sidetag_user_id": user["id"]}
    if debuginfo:
        extra["with_debuginfo"] = True
    from .tags import create_tag
    from .targets import create_target

    created = create_tag(name, parent=base["id"], arches=base["arches"], extra=extra)
    assert created == tag_id
    create_target(name, tag_id, tag_id)
    return {"name": name, "id": tag_id, "task_id": None, "request": None}


@export
def removeSideTag(sidetag):
    """Remove a side tag and its target (its owner or an admin)."""
    assert_login()
    tag = _tag(sidetag)
    is_sidetag(tag, raise_error=True)
    is_sidetag_owner(tag, context.user, raise_error=True)
    from .targets import getBuildTarget

    target = getBuildTarget(tag["name"])
    if not target:
        raise koji.GenericError("Target is missing for sidetag")
    if target["build_tag"] != tag["id"] or target["dest_tag"] != tag["id"]:
        raise koji.GenericError("Target does not match sidetag")
    from .common import revoke
    from .tags import delete_tag

    revoke(s.build_target_config, s.build_target_config.c.build_target_id == target["id"])
    delete_tag(tag["id"])


@read_only
def listSideTags(basetag=None, user=None, queryOpts=None):
    """Current side tags ``[{id, name, user_id, user_name}]``, of a base tag and/or a user."""
    te1, te2 = s.tag_extra.alias("te1"), s.tag_extra.alias("te2")
    q = (select(s.tag.c.id, s.tag.c.name, te2.c.value.label("user_value"))
         .select_from(s.tag.join(te1, te1.c.tag_id == s.tag.c.id)
                      .join(te2, te2.c.tag_id == s.tag.c.id))
         .where(te1.c.active.is_(True), te1.c.key == "sidetag", te1.c.value == "true",
                te2.c.active.is_(True), te2.c.key == "sidetag_user_id"))
    if user is not None:
        q = q.where(te2.c.value == json.dumps(get_user_row(user, strict=True)["id"]))
    if basetag is not None:
        base_id = get_tag_row(basetag, strict=True)["id"]
        ti = s.tag_inheritance
        q = q.where(s.tag.c.id.in_(select(ti.c.tag_id).where(
            ti.c.active.is_(True), ti.c.parent_id == base_id)))
    opts = queryOpts or {}
    check_type(opts, dict, "queryOpts")
    rows = [{"id": r.id, "name": r.name, "user_id": json.loads(r.user_value)}
            for r in context.conn.execute(q.order_by(s.tag.c.id))]
    names = {}
    ids = {r["user_id"] for r in rows if isinstance(r["user_id"], int)}
    if ids:
        names = {i: n for i, n in context.conn.execute(
            select(s.users.c.id, s.users.c.name).where(s.users.c.id.in_(ids)))}
    for r in rows:
        r["user_name"] = names.get(r["user_id"])
    order = opts.get("order")
    if order:
        key = order.lstrip("-")
        if key not in ("id", "name", "user_id", "user_name"):
            raise koji.ParameterError("Invalid order term: %s" % order)
        rows.sort(key=lambda r: (r[key] is None, r[key]), reverse=order.startswith("-"))
    offset = as_int(opts.get("offset") or 0, "offset")
    rows = rows[offset:]
    if opts.get("limit") is not None:
        rows = rows[:as_int(opts["limit"], "limit")]
    if opts.get("countOnly"):
        return len(rows)
    return rows


_MACRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]+")


def _valid_macro_name(macro):
    # rpm's rule for a macro name: at least two characters of [A-Za-z0-9_], not a digit first.
    # Nothing else: the name goes into the buildroot's rpm macros file, where a space, '%' or
    # a newline in it would define other macros than the parent tag allows.
    return isinstance(macro, str) and _MACRO_NAME.fullmatch(macro) is not None


@export
def editSideTag(sidetag, debuginfo=None, rpm_macros=None, remove_rpm_macros=None, extra=None,
                remove_extra=None):
    """What a side tag's owner may change: debuginfo (if the parent's extra has
    ``sidetag_debuginfo_allowed``) and the rpm macros the parent lists in
    ``sidetag_rpm_macros_allowed``; ``extra``/``remove_extra`` need sidetag_admin or admin."""
    assert_login()
    tag = _tag(sidetag)
    is_sidetag(tag, raise_error=True)
    is_sidetag_owner(tag, context.user, raise_error=True)
    if (extra is not None or remove_extra is not None) and not has_perm("sidetag_admin"):
        raise koji.GenericError(
            "Extra can be modified only with sidetag_admin or admin permissions.")
    extra = dict(check_type(extra, dict, "extra")) if extra is not None else {}
    remove_extra = list(check_type(remove_extra, list, "remove_extra")) \
        if remove_extra is not None else []
    from .inheritance import read_inheritance

    parents = read_inheritance(tag["id"])
    if not parents:
        raise koji.GenericError("Sidetag %s has no parent" % tag["name"])
    parent = _tag(parents[0]["parent_id"])
    if debuginfo is not None and not parent["extra"].get("sidetag_debuginfo_allowed"):
        raise koji.GenericError("Debuginfo setting is not allowed in parent tag.")
    allowed = []
    if rpm_macros or remove_rpm_macros:
        allowed = parent["extra"].get("sidetag_rpm_macros_allowed", [])
        if allowed is None:
            allowed = []
        elif isinstance(allowed, str):
            allowed = allowed.split()
        elif not isinstance(allowed, list):
            raise koji.GenericError("rpm_macros_allowed in %s has invalid type: %s"
                                    % (parent["name"], type(allowed).__name__))
        if not all(isinstance(m, str) for m in allowed):
            raise koji.GenericError("Allowed rpm macro list %r is invalid for %s."
                                    % (allowed, parent["name"]))
        if not allowed:
            raise koji.GenericError("RPM macros change is not allowed in parent tag.")
    if debuginfo is not None:
        extra["with_debuginfo"] = bool(debuginfo)
    if rpm_macros is not None:
        check_type(rpm_macros, dict, "rpm_macros")
        for macro, value in rpm_macros.items():
            if not _valid_macro_name(macro):
                raise koji.GenericError("Invalid macro name %r" % (macro,))
            if not multi_fnmatch(macro, allowed):
                raise koji.GenericError("RPM macro %s editing is not allowed via parent tag"
                                        % macro)
            # one line of text (a number is kept as one): a line break would start the
            # definition of another macro in the buildroot's macros file
            if isinstance(value, bool) or not isinstance(value, (str, int, float)) or \
                    "\n" in str(value) or "\r" in str(value):
                raise koji.GenericError("Invalid value for RPM macro %s: one line of text "
                                        "expected" % macro)
            extra["rpm.macro.%s" % macro] = value
    if remove_rpm_macros is not None:
        check_type(remove_rpm_macros, list, "remove_rpm_macros")
        for macro in remove_rpm_macros:
            if not isinstance(macro, str) or not multi_fnmatch(macro, allowed):
                raise koji.GenericError("RPM macro %s editing is not allowed via parent tag"
                                        % (macro,))
        remove_extra = ["rpm.macro.%s" % m for m in remove_rpm_macros]
    from .tags import edit_tag_extra

    edit_tag_extra(tag["id"], extra, remove_extra)
