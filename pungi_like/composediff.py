"""What changed between two composes: packages per variant.arch, changelogs, images.

The model is compose-utils' ``compose-diff-rpms`` and ``compose-changelog``, read from the
productmd manifests every compose writes (``compose/metadata/rpms.json`` and ``images.json``):

* **Packages** are compared per variant and tree arch by ``(name, arch)``: a name.arch only in the
  new compose is *added*, only in the old one *removed*; present in both with another EVR it is
  *upgraded* or *downgraded* (rpm's own EVR comparison). Binary, debug and source packages are
  compared alike; each change says its category.
* **Changelogs** are per source package that was upgraded anywhere in the compose: the entries of
  the new build's header that are newer than the newest entry of the old build (read from the old
  compose's RPM when it is still there; otherwise every entry above the one naming the old
  version-release). Headers are read from the composes' own RPM files, never from elsewhere.
* **Images** are matched by their path with each compose's id replaced by ``{compose_id}`` (file
  names carry the id): *added*, *removed*, or *changed* when size or any common checksum differs.

:func:`diff_composes` returns a plain dict (the ``--json`` output); :func:`format_text` renders it
for people.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass

from .errors import PungiLikeError

log = logging.getLogger(__name__)

__all__ = ["ComposeDiffError", "compose_in_memory", "diff_composes", "format_text",
           "load_compose"]


class ComposeDiffError(PungiLikeError):
    """A path that is no readable compose."""


@dataclass
class _Compose:
    topdir: str          # the directory that holds compose/
    compose_id: str
    rpms: object         # productmd.rpms.Rpms
    images: object       # productmd.images.Images or None

    def path(self, rel):
        return os.path.join(self.topdir, "compose", rel)


def load_compose(path) -> _Compose:
    """The manifests of the compose at ``path`` (its top directory or its ``compose/`` dir)."""
    import productmd.images
    import productmd.rpms

    path = os.path.abspath(path)
    if os.path.basename(path.rstrip("/")) == "compose" and \
            os.path.isdir(os.path.join(path, "metadata")):
        path = os.path.dirname(path)
    meta = os.path.join(path, "compose", "metadata")
    rpms_file = os.path.join(meta, "rpms.json")
    if not os.path.isfile(rpms_file):
        raise ComposeDiffError(f"{path}: not a finished compose (no compose/metadata/rpms.json)")
    rpms = productmd.rpms.Rpms()
    try:
        rpms.load(rpms_file)
    except Exception as exc:  # productmd raises several types for bad files
        raise ComposeDiffError(f"{rpms_file}: cannot be read as productmd rpms metadata: {exc}")
    images = None
    images_file = os.path.join(meta, "images.json")
    if os.path.isfile(images_file):
        images = productmd.images.Images()
        try:
            images.load(images_file)
        except Exception as exc:
            raise ComposeDiffError(f"{images_file}: cannot be read as productmd images "
                                   f"metadata: {exc}")
    return _Compose(path, rpms.compose.id, rpms, images)


def compose_in_memory(topdir, compose_id, rpms_payload, images=None) -> _Compose:
    """A compose as :func:`load_compose` reads it, from what its manifests were written from:
    ``rpms_payload`` as rpms.json's ``payload.rpms`` (``RpmsRecorder.payload``), ``images`` a
    ``productmd.images.Images`` (None: no images.json). The driver diffs the compose it just
    made without reading its manifests back."""
    import types

    return _Compose(os.path.abspath(topdir), compose_id,
                    types.SimpleNamespace(rpms=rpms_payload), images)


# ---- NEVRA helpers ---------------------------------------------------------------------------

def _split_nevra(nevra):
    """``name-epoch:version-release.arch`` -> (name, epoch, version, release, arch)."""
    rest, arch = nevra.rsplit(".", 1)
    rest, release = rest.rsplit("-", 1)
    name, ev = rest.rsplit("-", 1)
    epoch, _, version = ev.rpartition(":")
    return name, epoch or "0", version, release, arch


def _name(nevra):
    """The name of ``name-epoch:version-release.arch`` (as ``_split_nevra``, in one step)."""
    return nevra.rsplit(".", 1)[0].rsplit("-", 2)[0]


def _evr_text(epoch, version, release):
    return (f"{epoch}:" if epoch not in ("0", "", None) else "") + f"{version}-{release}"


def _compare_evr(a, b):
    import rpm

    return rpm.labelCompare(a, b)


def preload():
    """Import what a diff with changed packages uses (rpm's EVR comparison and header reads)
    now, in the caller's thread (``compose_run.rpms_ahead``: the thread making rpms.json's
    payload when the gathers ended): the PyPI ``rpm`` package finds the system's bindings
    by running a Python interpreter twice (0.06 s of wall at its first import), which a
    changed re-run's diff paid after its last unit."""
    try:
        import rpm  # noqa: F401 - imported for the diff later
    except Exception as exc:  # noqa: B902 - the diff imports it again and says why
        log.debug("rpm not imported ahead: %s", exc)


def _package_map(compose, variant, arch, names=None):
    """(name, arch) -> {evr tuple: (nevra, category, srpm nevra, rel path)}; ``names``: only
    the packages of these names."""
    out = {}
    tree = compose.rpms.rpms.get(variant, {}).get(arch, {})
    for srpm, entries in tree.items():
        for nevra, info in entries.items():
            if names is not None and _name(nevra) not in names:
                continue
            name, epoch, version, release, parch = _split_nevra(nevra)
            out.setdefault((name, parch), {})[(epoch, version, release)] = (
                nevra, info.get("category", "binary"), srpm, info.get("path"))
    return out


def _package_maps(old, new, variant, arch):
    """The two ``_package_map``s of variant.arch, of the packages whose names occur under a
    source RPM whose entries differ between the two composes: a package under equal source
    RPMs on both sides only is the same in both (``_changes`` finds nothing there), so a
    re-run that changed nothing or one package compares nothing or that package's names."""
    old_tree = old.rpms.rpms.get(variant, {}).get(arch, {})
    new_tree = new.rpms.rpms.get(variant, {}).get(arch, {})
    if old_tree == new_tree:
        return {}, {}
    names = set()
    for srpm in set(old_tree) | set(new_tree):
        before, after = old_tree.get(srpm), new_tree.get(srpm)
        if before != after:
            for entries in (before or {}, after or {}):
                names.update(_name(nevra) for nevra in entries)
    return (_package_map(old, variant, arch, names), _package_map(new, variant, arch, names))


def _changes(old_map, new_map):
    added, removed, upgraded, downgraded = [], [], [], []
    for key in sorted(set(old_map) | set(new_map)):
        old, new = old_map.get(key, {}), new_map.get(key, {})
        if not old:
            added += [{"nevra": v[0], "category": v[1]} for _, v in sorted(new.items())]
            continue
        if not new:
            removed += [{"nevra": v[0], "category": v[1]} for _, v in sorted(old.items())]
            continue
        if set(old) == set(new):
            continue
        old_top = _newest(old)
        new_top = _newest(new)
        cmp = _compare_evr(old_top, new_top)
        change = {"name": key[0], "arch": key[1], "category": new[new_top][1],
                  "old": _evr_text(*old_top), "new": _evr_text(*new_top),
                  "old_srpm": old[old_top][2], "new_srpm": new[new_top][2]}
        if cmp < 0:
            upgraded.append(change)
        elif cmp > 0:
            downgraded.append(change)
        # equal newest EVR but other versions beside it: an extra or dropped older version
        for evr in sorted(set(new) - set(old)):
            if evr != new_top:
                added.append({"nevra": new[evr][0], "category": new[evr][1]})
        for evr in sorted(set(old) - set(new)):
            if evr != old_top:
                removed.append({"nevra": old[evr][0], "category": old[evr][1]})
    return {"added": added, "removed": removed, "upgraded": upgraded, "downgraded": downgraded}


def _newest(evrs):
    import functools

    return max(evrs, key=functools.cmp_to_key(_compare_evr))


# ---- changelogs ------------------------------------------------------------------------------

def _changelog(path):
    """[(time, author, text)] of the RPM at ``path``, newest first; None when unreadable."""
    import rpm

    from .rpmtools.headers import _transaction_set

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        hdr = _transaction_set().hdrFromFdno(fd)
    except rpm.error:
        return None
    finally:
        os.close(fd)

    def strs(tag):
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                for v in (hdr[tag] or [])]

    times = list(hdr[rpm.RPMTAG_CHANGELOGTIME] or [])
    return list(zip(times, strs(rpm.RPMTAG_CHANGELOGNAME), strs(rpm.RPMTAG_CHANGELOGTEXT)))


def _rpm_paths(compose, srpm_nevra):
    """Paths (inside the compose) of every RPM recorded for one source package, SRPM first."""
    paths = []
    for variant in sorted(compose.rpms.rpms):
        for arch in sorted(compose.rpms.rpms[variant]):
            for nevra, info in sorted(compose.rpms.rpms[variant][arch].get(srpm_nevra, {}).items()):
                if info.get("path"):
                    p = compose.path(info["path"])
                    paths.append((0 if nevra.endswith(".src") else 1, p))
    return [p for _, p in sorted(set(paths))]


def _first_readable(paths):
    for p in paths:
        log = _changelog(p)
        if log is not None:
            return log
    return None


def _new_entries(old_compose, new_compose, old_srpm, new_srpm):
    new_log = _first_readable(_rpm_paths(new_compose, new_srpm))
    if new_log is None:
        return None
    old_log = _first_readable(_rpm_paths(old_compose, old_srpm))
    if old_log:
        newest_old = max(t for t, _, _ in old_log)
        entries = [e for e in new_log if e[0] > newest_old]
    else:
        _, epoch, version, release, _ = _split_nevra(old_srpm)
        marker = f"{version}-{release}"
        entries = []
        for e in new_log:
            if e[1].rstrip().endswith(marker):
                break
            entries.append(e)
    return [{"time": t, "date": _date(t), "author": a, "text": x} for t, a, x in entries]


def _date(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%a %b %d %Y")


# ---- images ----------------------------------------------------------------------------------

def _image_map(compose):
    out = {}
    if compose.images is None:
        return out
    for variant, arches in compose.images.images.items():
        for arch, images in arches.items():
            for im in images:
                key = im.path.replace(compose.compose_id, "{compose_id}")
                out[key] = {"variant": variant, "arch": arch, "type": im.type,
                            "format": im.format, "size": im.size,
                            "checksums": dict(im.checksums or {}), "path": im.path}
    return out


def _image_changes(old, new):
    oi, ni = _image_map(old), _image_map(new)
    changed = []
    for key in sorted(set(oi) & set(ni)):
        a, b = oi[key], ni[key]
        common = set(a["checksums"]) & set(b["checksums"])
        what = []
        if a["size"] != b["size"]:
            what.append("size")
        what += sorted(c for c in common if a["checksums"][c] != b["checksums"][c])
        if what:
            changed.append({"path": key, "variant": b["variant"], "arch": b["arch"],
                            "type": b["type"], "changed": what,
                            "old_size": a["size"], "new_size": b["size"]})
    return {
        "added": [dict(ni[k], path=k) for k in sorted(set(ni) - set(oi))],
        "removed": [dict(oi[k], path=k) for k in sorted(set(oi) - set(ni))],
        "changed": changed,
    }


# ---- the diff --------------------------------------------------------------------------------

def diff_composes(old_path, new_path, changelogs=True) -> dict:
    """The difference between two composes (see the module docstring) as a plain dict.
    ``old_path`` and ``new_path`` may be composes :func:`load_compose` read already (or
    :func:`compose_in_memory` made)."""
    old = old_path if isinstance(old_path, _Compose) else load_compose(old_path)
    new = new_path if isinstance(new_path, _Compose) else load_compose(new_path)
    variants = {}
    upgraded_sources = {}
    for variant in sorted(set(old.rpms.rpms) | set(new.rpms.rpms)):
        arches = set(old.rpms.rpms.get(variant, {})) | set(new.rpms.rpms.get(variant, {}))
        for arch in sorted(arches):
            ch = _changes(*_package_maps(old, new, variant, arch))
            if any(ch.values()):
                variants.setdefault(variant, {})[arch] = ch
            for up in ch["upgraded"]:
                if up["old_srpm"] != up["new_srpm"]:
                    upgraded_sources[up["new_srpm"]] = up["old_srpm"]
    logs = {}
    if changelogs:
        for new_srpm, old_srpm in sorted(upgraded_sources.items()):
            name, *_ = _split_nevra(new_srpm)
            entries = _new_entries(old, new, old_srpm, new_srpm)
            logs[name] = {"old": _evr_text(*_split_nevra(old_srpm)[1:4]),
                          "new": _evr_text(*_split_nevra(new_srpm)[1:4]),
                          "entries": entries}
    return {
        "old": {"id": old.compose_id, "path": old.topdir},
        "new": {"id": new.compose_id, "path": new.topdir},
        "packages": variants,
        "changelogs": logs,
        "images": _image_changes(old, new),
    }


def has_changes(diff) -> bool:
    return bool(diff["packages"]) or any(diff["images"].values())


def format_text(diff) -> str:
    """The diff for people: one section per variant.arch, then changelogs, then images."""
    out = [f"Compose diff: {diff['old']['id']} -> {diff['new']['id']}"]
    if not has_changes(diff):
        out.append("no changes in packages or images")
    for variant in sorted(diff["packages"]):
        for arch, ch in sorted(diff["packages"][variant].items()):
            out.append("")
            out.append(f"== {variant}.{arch} ==")
            for item in ch["added"]:
                out.append(f"added:      {item['nevra']}" + _cat(item))
            for item in ch["removed"]:
                out.append(f"removed:    {item['nevra']}" + _cat(item))
            for kind in ("upgraded", "downgraded"):
                for item in ch[kind]:
                    out.append(f"{kind + ':':<11} {item['name']}.{item['arch']} "
                               f"{item['old']} -> {item['new']}" + _cat(item))
    if diff["changelogs"]:
        out += ["", "== Changelogs =="]
        for name, log in sorted(diff["changelogs"].items()):
            out.append(f"{name} {log['old']} -> {log['new']}")
            if log["entries"] is None:
                out.append("  (changelog not readable: the new RPM is missing from the compose)")
            elif not log["entries"]:
                out.append("  (no new changelog entries)")
            for e in log["entries"] or []:
                out.append(f"  * {e['date']} {e['author']}")
                out += ["    " + line for line in e["text"].splitlines()]
    im = diff["images"]
    if any(im.values()):
        out += ["", "== Images =="]
        for item in im["added"]:
            out.append(f"added:   {item['path']} ({item['type']}, {item['size']} bytes)")
        for item in im["removed"]:
            out.append(f"removed: {item['path']} ({item['type']})")
        for item in im["changed"]:
            out.append(f"changed: {item['path']} ({', '.join(item['changed'])}; "
                       f"{item['old_size']} -> {item['new_size']} bytes)")
    return "\n".join(out) + "\n"


def _cat(item):
    return "" if item.get("category", "binary") == "binary" else f" [{item['category']}]"
