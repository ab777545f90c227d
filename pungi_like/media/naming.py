"""Volume ids, image file names and the splitting of a tree over several discs (Pungi's rules).

* :func:`volume_id`: each format of ``image_volid_formats`` (``image_volid_layered_product_formats``
  for layered products) is filled (both ``%(key)s`` and ``{key}`` styles), then
  ``volume_id_substitutions`` are applied, longest key first; the first result of at most 32
  bytes wins.  ``restricted_volid`` then turns every non-word character (``\\W``: spaces and
  dots too) of the winner into ``-``.  When no format fits, the error lists every candidate,
  shortest first.  Source media use the arch ``src`` (``Peer-1.0 Server.src``).
* :func:`image_name`: ``image_name_format`` filled the same way, with ``disc_num`` and
  ``suffix``.  As in Pungi's ``Compose.get_image_name``, the arch ``src`` is written ``source``
  and the disc number is always written (``-dvd1.iso`` for a single DVD); only images that are
  not discs of a set (boot.iso, live media) pass ``disc_num=None`` and get none.
* :func:`compose_volume_id` / :func:`compose_image_name`: the same for a variant.arch of a
  compose, from its config (``image_volid_formats``, ``image_name_format`` per variant,
  ``disc_types`` ...), with Pungi's layered-product rules.
* :func:`split_media`: files in the given order packed into discs of ``media_size - reserve``
  bytes, every size rounded up to whole 2048-byte sectors; sticky files are on every disc and
  count against every disc.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ..errors import PungiLikeError

SECTOR = 2048
VOLID_MAX = 32
DEFAULT_VOLID_FORMATS = ("{release_short}-{version} {variant}.{arch}",
                         "{release_short}-{version} {arch}")
DEFAULT_VOLID_LAYERED_FORMATS = (
    "{release_short}-{version} {base_product_short}-{base_product_version} {variant}.{arch}",
    "{release_short}-{version} {base_product_short}-{base_product_version} {arch}")
DEFAULT_IMAGE_NAME_FORMAT = "{compose_id}-{variant}-{arch}-{disc_type}{disc_num}{suffix}"


def format_values(*, compose_id="", release_short="", version="", date="", respin=0,
                  compose_type="production", type_suffix="", label=None, variant="", arch="",
                  disc_type="dvd", base_product_short="", base_product_version="", **extra):
    """The keys Pungi's image name and volume id formats may use."""
    label = label or ""
    major = ""
    if label:
        m = re.match(r"^[^-]+-(\d+)", label)
        major = m.group(1) if m else ""
    values = dict(compose_id=compose_id, release_short=release_short, version=version,
                  date=date, respin=respin, type=compose_type, type_suffix=type_suffix,
                  label=label, label_major_version=major, variant=variant, arch=arch,
                  disc_type=disc_type, base_product_short=base_product_short,
                  base_product_version=base_product_version)
    values.update(extra)
    return values


def _fill(fmt, values):
    """Apply ``%(key)s`` then ``{key}`` substitution; a missing key is an error naming it."""
    try:
        result = fmt % values if "%(" in fmt else fmt
        return result.format(**values)
    except KeyError as exc:
        raise PungiLikeError(f"format {fmt!r} uses unknown key {exc.args[0]!r}; known keys: "
                             f"{', '.join(sorted(values))}") from None


def apply_substitutions(volid, substitutions):
    for key in sorted(substitutions or {}, key=len, reverse=True):
        volid = volid.replace(key, substitutions[key])
    return volid


def volume_id(values, formats=None, *, substitutions=None, restricted=False, layered=False,
              layered_formats=None, max_length=VOLID_MAX):
    """The volume id for ``values`` (see :func:`format_values`) per Pungi's rules."""
    if formats is None:
        formats = DEFAULT_VOLID_FORMATS
    if layered:
        formats = list(layered_formats or DEFAULT_VOLID_LAYERED_FORMATS) + list(formats)
    tried = []
    for fmt in formats:
        if not values.get("variant") and ("%(variant)s" in fmt or "{variant}" in fmt):
            continue
        volid = apply_substitutions(_fill(fmt, values), substitutions)
        if len(volid.encode("utf-8")) <= max_length:
            # Pungi restricts the winner only (after the length check): same length anyway
            return re.sub(r"\W", "-", volid) if restricted else volid
        tried.append(volid)
    raise PungiLikeError(
        f"no volume id of at most {max_length} characters: candidates were "
        f"{sorted(set(tried), key=len)}; add a shorter image_volid_formats entry or "
        f"volume_id_substitutions")


def image_name(values, fmt=None, *, disc_num=1, suffix=".iso"):
    """The image file name per ``image_name_format``: arch ``src`` is written ``source``; the
    disc number is written whenever given (a single DVD is ``dvd1``), empty for ``None``."""
    fmt = fmt or DEFAULT_IMAGE_NAME_FORMAT
    num = int(disc_num) if disc_num else ""
    arch = "source" if values.get("arch") == "src" else values.get("arch", "")
    name = _fill(fmt, {**values, "arch": arch, "disc_num": num, "suffix": suffix})
    if "/" in name:
        raise PungiLikeError(f"image name {name!r} (from {fmt!r}) must not contain '/'")
    return name


# ---- for a variant.arch of a compose ---------------------------------------------------------

def compose_values(compose, variant, arch, disc_type, *, for_volid=False):
    """The format keys for one variant.arch of ``compose`` (``disc_type`` renamed by
    ``disc_types``).  A layered product is named after its parent variant; its volume id uses
    its own release and the compose's release (major version) as the base product."""
    conf = compose.conf
    variant_uid = variant.uid if variant is not None else ""
    release_short, version = conf.release_short, conf.release_version
    base_short, base_version = conf.base_product_short or "", conf.base_product_version or ""
    if variant is not None and variant.type == "layered-product":
        variant_uid = variant.parent.uid
        if for_volid:
            release_short = variant.release_short or release_short
            version = variant.release_version or version
            base_short = conf.release_short
            base_version = str(conf.release_version).split(".")[0]
    return format_values(
        compose_id=compose.compose_id, release_short=release_short, version=version,
        date=compose.compose_date, respin=compose.compose_respin,
        compose_type=compose.compose_type, type_suffix=compose.compose_type_suffix,
        label=compose.compose_label, variant=variant_uid, arch=arch,
        disc_type=(conf.disc_types or {}).get(disc_type, disc_type),
        base_product_short=base_short, base_product_version=base_version)


def compose_volume_id(compose, variant, arch, disc_type="dvd"):
    """Pungi's ``get_volid``: the volume id of ``variant``'s ``disc_type`` media for ``arch``
    (``src`` for source media); addons have none (they are on their parent's media)."""
    if variant is not None and variant.type == "addon":
        return None
    conf = compose.conf
    layered = bool(conf.base_product_short) or (
        variant is not None and variant.type == "layered-product")
    return volume_id(
        compose_values(compose, variant, arch, disc_type, for_volid=True),
        conf.image_volid_formats, substitutions=conf.volume_id_substitutions,
        restricted=conf.restricted_volid, layered=layered,
        layered_formats=conf.image_volid_layered_product_formats)


def compose_image_name(compose, variant, arch, disc_type, disc_num=1, suffix=".iso"):
    """Pungi's ``Compose.get_image_name``: ``image_name_format`` (a string, or the first
    matching ``{variant_regex: format}`` entry, else the default) for one image."""
    fmt = compose.conf.image_name_format
    if isinstance(fmt, dict):
        matches = compose.conf.variant_values("image_name_format", variant.uid)
        fmt = matches[0] if matches else None
    return image_name(compose_values(compose, variant, arch, disc_type), fmt,
                      disc_num=disc_num, suffix=suffix)


# ---- splitting -----------------------------------------------------------------------------

def sectors(size):
    """``size`` rounded up to whole 2048-byte sectors, in bytes."""
    return -(-int(size) // SECTOR) * SECTOR


@dataclass
class Disc:
    number: int
    files: list = field(default_factory=list)
    size: int = 0            # bytes on the disc, sector-rounded, sticky files included


def _sized(items):
    out = []
    for item in items:
        if isinstance(item, (tuple, list)):
            out.append((item[0], int(item[1])))
        else:
            out.append((item, os.path.getsize(item)))
    return out


def split_media(files, media_size, reserve=10 * 1024 * 1024, sticky=()):
    """Pack ``files`` (paths, or (path, size) pairs, in the order to keep) into discs.

    Each disc holds ``media_size - reserve`` bytes; sizes are rounded up to sectors; ``sticky``
    files (same forms) go on every disc first.  Returns [Disc] with ``files`` holding the paths
    (sticky first).  A file too big for an empty disc is an error naming it.
    """
    capacity = int(media_size) - int(reserve)
    sticky = _sized(sticky)
    sticky_size = sum(sectors(s) for _p, s in sticky)
    room = capacity - sticky_size
    if room <= 0:
        raise PungiLikeError(f"sticky files need {sticky_size} bytes, more than the "
                             f"{capacity} bytes a disc holds")
    discs = []
    current = None
    for path, size in _sized(files):
        need = sectors(size)
        if need > room:
            raise PungiLikeError(f"{path} ({size} bytes) does not fit on one disc of "
                                 f"{media_size} bytes (reserve {reserve}, sticky files "
                                 f"{sticky_size})")
        if current is None or current.size + need > capacity:
            current = Disc(len(discs) + 1, [p for p, _s in sticky], sticky_size)
            discs.append(current)
        current.files.append(path)
        current.size += need
    if not discs:
        discs.append(Disc(1, [p for p, _s in sticky], sticky_size))
    return discs
