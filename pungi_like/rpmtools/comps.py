"""Comps (package groups) files: parse, filter by arch and variant, clean up, write.

The XML is handled with lxml so that everything we do not interpret (translations, langpacks,
display order, unknown elements) passes through untouched. Pungi's own extensions are honoured:
``arch="a,b"`` and ``variant="V1,V2"`` attributes on ``group``, ``environment``, ``category`` and
``packagereq`` elements restrict the element to those arches / variants.

Typical use (what the init phase does)::

    comps = Comps.from_file("comps.xml")
    errors = comps.whitespace_errors()
    comps.filter_arch("x86_64")
    comps.filter_variant("Server")
    missing = comps.keep_groups(["core", "web-*"])
    comps.keep_environments(["server-env"])
    comps.cleanup(keep_empty_groups=["conflicts"])
    comps.write("comps-Server.x86_64.xml")
"""

import copy
import fnmatch
import logging
from dataclasses import dataclass, field

from lxml import etree

from ..errors import PungiLikeError
from ..fileutil import write_atomic

log = logging.getLogger("pungi_like.comps")

DOCTYPE = '<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">'
PACKAGE_TYPES = ("mandatory", "default", "optional", "conditional")
# Order of top-level elements in written files (Pungi writes the same order).
TOP_ORDER = ("group", "environment", "category", "langpacks", "blacklist", "whiteout")


class CompsError(PungiLikeError):
    """A comps file is unreadable or invalid."""


@dataclass
class PackageReq:
    name: str
    type: str = "default"
    requires: str = None


@dataclass
class GroupInfo:
    id: str
    default: bool = False
    uservisible: bool = True
    packages: list = field(default_factory=list)   # [PackageReq]


def _split_attr(value):
    return [v.strip() for v in value.replace(" ", ",").split(",") if v.strip()]


def _text(elem, tag, default=None):
    child = elem.find(tag)
    if child is None or child.text is None:
        return default
    return child.text


def _bool(text, default):
    if text is None:
        return default
    return text.strip().lower() in ("true", "yes", "1")


class Comps:
    """An in-memory comps document."""

    def __init__(self, root, source=None):
        if root.tag != "comps":
            raise CompsError(f"{source or 'comps'}: root element is <{root.tag}>, expected <comps>")
        self.root = root
        self.source = source

    # ---- loading --------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path):
        parser = etree.XMLParser(remove_blank_text=True, remove_comments=True, resolve_entities=False,
                                 no_network=True)
        try:
            tree = etree.parse(str(path), parser)
        except (OSError, etree.XMLSyntaxError) as exc:
            raise CompsError(f"{path}: cannot read comps file: {exc}") from exc
        return cls(tree.getroot(), source=str(path))

    @classmethod
    def from_string(cls, text):
        parser = etree.XMLParser(remove_blank_text=True, remove_comments=True, resolve_entities=False,
                                 no_network=True)
        if isinstance(text, str):
            text = text.encode("utf-8")
        try:
            root = etree.fromstring(text, parser)
        except etree.XMLSyntaxError as exc:
            raise CompsError(f"cannot parse comps: {exc}") from exc
        return cls(root)

    def copy(self):
        return Comps(copy.deepcopy(self.root), source=self.source)

    # ---- queries --------------------------------------------------------------------------
    def _elements(self, tag):
        return [e for e in self.root if e.tag == tag]

    def group_ids(self):
        return [_text(g, "id") for g in self._elements("group")]

    def environment_ids(self):
        return [_text(e, "id") for e in self._elements("environment")]

    def category_ids(self):
        return [_text(c, "id") for c in self._elements("category")]

    def groups(self):
        """``{group id: GroupInfo}`` in document order."""
        result = {}
        for g in self._elements("group"):
            gid = _text(g, "id")
            info = GroupInfo(id=gid, default=_bool(_text(g, "default"), False),
                             uservisible=_bool(_text(g, "uservisible"), True))
            for req in g.iterfind("packagelist/packagereq"):
                info.packages.append(PackageReq(name=(req.text or ""),
                                                type=req.get("type", "default"),
                                                requires=req.get("requires")))
            result[gid] = info
        return result

    def environment_groups(self, env_id, include_options=False):
        for env in self._elements("environment"):
            if _text(env, "id") == env_id:
                ids = [g.text for g in env.iterfind("grouplist/groupid")]
                if include_options:
                    ids += [g.text for g in env.iterfind("optionlist/groupid")]
                return ids
        return []

    def group_packages(self, group_ids, include_optional=True, include_conditional=True):
        """Package names of ``group_ids`` (globs allowed), sorted and de-duplicated.

        Mandatory and default packages are always taken; optional ones with ``include_optional``
        (Pungi's deps method asks for ``@group --optional``); conditional ones with
        ``include_conditional`` (they are gathered when their condition is in the set, which for
        a compose tree means: offered in the repo).
        """
        groups = self.groups()
        wanted = set()
        for pattern in group_ids:
            wanted.update(fnmatch.filter(groups, pattern))
        names = set()
        for gid in wanted:
            for req in groups[gid].packages:
                if req.type == "optional" and not include_optional:
                    continue
                if req.type == "conditional" and not include_conditional:
                    continue
                names.add(req.name.strip())
        return sorted(names)

    # ---- checks ---------------------------------------------------------------------------
    def whitespace_errors(self):
        """Messages for package names with leading or trailing whitespace (fatal in Pungi)."""
        errors = []
        for g in self._elements("group"):
            gid = _text(g, "id")
            for req in g.iterfind("packagelist/packagereq"):
                name = req.text or ""
                if name != name.strip():
                    errors.append(f"Package name {name} in group '{gid}' contains leading or "
                                  "trailing whitespace")
        return errors

    def type_errors(self):
        """Messages for packagereq types comps does not know (``mndatory``)."""
        errors = []
        for g in self._elements("group"):
            for req in g.iterfind("packagelist/packagereq"):
                t = req.get("type")
                if t is not None and t not in PACKAGE_TYPES:
                    errors.append(f"Package {req.text} in group '{_text(g, 'id')}' has unknown "
                                  f"type {t!r} (expected one of {', '.join(PACKAGE_TYPES)})")
        return errors

    # ---- filtering ------------------------------------------------------------------------
    def _filter_attr(self, attr, value):
        removed = 0
        for elem in list(self.root.iter("group", "environment", "category", "packagereq")):
            allowed = elem.get(attr)
            if allowed is None:
                continue
            if value not in _split_attr(allowed):
                elem.getparent().remove(elem)
                removed += 1
        return removed

    def filter_arch(self, arch):
        """Drop elements whose ``arch`` attribute does not list ``arch``."""
        return self._filter_attr("arch", arch)

    def filter_variant(self, variant_uid):
        """Drop elements whose ``variant`` attribute does not list ``variant_uid``."""
        return self._filter_attr("variant", variant_uid)

    def keep_groups(self, patterns, lookaside_groups=()):
        """Keep only groups matching ``patterns`` (ids or globs) plus ``lookaside_groups``.

        Returns the patterns that matched no group, so the caller can warn about them.
        """
        ids = self.group_ids()
        keep, missing = set(), []
        for pattern in patterns:
            matched = fnmatch.filter(ids, pattern)
            if not matched:
                missing.append(pattern)
            keep.update(matched)
        keep.update(lookaside_groups)
        for g in self._elements("group"):
            if _text(g, "id") not in keep:
                self.root.remove(g)
        return missing

    def keep_environments(self, patterns):
        ids = self.environment_ids()
        keep = set()
        for pattern in patterns:
            keep.update(fnmatch.filter(ids, pattern))
        for env in self._elements("environment"):
            if _text(env, "id") not in keep:
                self.root.remove(env)

    def remove_categories(self):
        for c in self._elements("category"):
            self.root.remove(c)

    def remove_langpacks(self):
        for c in self._elements("langpacks"):
            self.root.remove(c)

    def cleanup(self, keep_empty_groups=()):
        """Drop empty groups (unless listed), dangling group references in environments and
        categories, and environments/categories left with no groups."""
        keep_empty = set(keep_empty_groups)
        for g in self._elements("group"):
            gid = _text(g, "id")
            if gid in keep_empty:
                continue
            if not g.findall("packagelist/packagereq"):
                self.root.remove(g)
        present = set(self.group_ids())
        for tag in ("environment", "category"):
            for elem in self._elements(tag):
                for ref in list(elem.iter("groupid")):
                    if ref.text not in present:
                        ref.getparent().remove(ref)
                if not elem.findall("grouplist/groupid"):
                    self.root.remove(elem)

    # ---- writing --------------------------------------------------------------------------
    def to_bytes(self):
        """Deterministic serialization: top-level elements in a fixed order, groups,
        environments and categories sorted by id, two-space indentation."""
        root = copy.deepcopy(self.root)
        buckets = {tag: [] for tag in TOP_ORDER}
        other = []
        for elem in list(root):
            root.remove(elem)
            (buckets[elem.tag] if elem.tag in buckets else other).append(elem)
        for tag in ("group", "environment", "category"):
            buckets[tag].sort(key=lambda e: _text(e, "id", ""))
        for tag in TOP_ORDER:
            for elem in buckets[tag]:
                root.append(elem)
        for elem in other:
            root.append(elem)
        for elem in root.iter():
            if elem.tail is not None and not elem.tail.strip():
                elem.tail = None
            if len(elem) and elem.text is not None and not elem.text.strip():
                elem.text = None
        etree.indent(root, space="  ")
        body = etree.tostring(root, encoding="unicode")
        return ('<?xml version="1.0" encoding="UTF-8"?>\n' + DOCTYPE + "\n" + body + "\n").encode("utf-8")

    def write(self, path):
        write_atomic(path, self.to_bytes())


def filter_for_variant(comps, arch, variant_uid, groups=None, environments=None,
                       lookaside_groups=(), filter_environments=True, keep_groups_filter=True,
                       keep_empty_groups=None):
    """The work comps of one variant.arch (a new Comps; ``comps`` is untouched).

    ``groups``: the variant's group ids/globs; ``environments``: its environment ids.
    ``keep_groups_filter`` says whether to restrict to ``groups`` (Pungi does so when the variant
    lists groups or is not a plain variant). Returns ``(Comps, missing group patterns)``.
    """
    result = comps.copy()
    result.filter_arch(arch)
    result.filter_variant(variant_uid)
    missing = []
    if keep_groups_filter:
        missing = result.keep_groups(groups or [], lookaside_groups=lookaside_groups)
    if filter_environments and (groups or environments):
        result.keep_environments(environments or [])
    if keep_empty_groups is None:
        keep_empty_groups = ["conflicts", f"conflicts-{variant_uid.lower()}"]
    result.cleanup(keep_empty_groups=keep_empty_groups)
    return result, missing
