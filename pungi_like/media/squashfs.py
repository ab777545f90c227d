"""squashfs images (the installer runtime's ``images/install.img``, a live ISO's
``LiveOS/squashfs.img``) written by mksquashfs.

zstd level 3 is the default: on this kind of machine it is ~13x faster than mksquashfs's
default zstd level 15 and ~25x faster than xz, for images ~10 % larger (reference/toolchain.md
§6); ``compression="xz"`` gives release-sized images.  Files are owned by root (``-all-root``)
whoever runs the build, and with a source date epoch every timestamp is that time, so the same
root gives the same bytes.
"""

import os

from .. import tools
from ..errors import PungiLikeError

COMPRESSIONS = {
    "zstd": ["-comp", "zstd", "-Xcompression-level", "{level}"],
    "lz4": ["-comp", "lz4"],
    "xz": ["-comp", "xz"],
    "gzip": ["-comp", "gzip", "-Xcompression-level", "{level}"],
}
DEFAULT_LEVELS = {"zstd": 3, "gzip": 6}


def mksquashfs_cmd(root_dir, image_path, *, compression="zstd", level=None,
                   source_date_epoch=None, processors=None, excludes=()):
    """The mksquashfs command line (a list)."""
    if compression not in COMPRESSIONS:
        raise PungiLikeError(f"squashfs compression {compression!r} is not one of "
                             f"{', '.join(sorted(COMPRESSIONS))}")
    level = level if level is not None else DEFAULT_LEVELS.get(compression)
    cmd = ["mksquashfs", root_dir, image_path, "-noappend", "-all-root", "-no-xattrs",
           "-no-progress", "-quiet"]
    cmd += [a.format(level=level) for a in COMPRESSIONS[compression]]
    if source_date_epoch is not None:
        cmd += ["-mkfs-time", str(int(source_date_epoch)), "-all-time", str(int(source_date_epoch))]
    if processors:
        cmd += ["-processors", str(int(processors))]
    if excludes:
        cmd += ["-wildcards", "-e"] + list(excludes)
    return cmd


def make_squashfs(root_dir, image_path, *, compression="zstd", level=None,
                  source_date_epoch=None, processors=None, excludes=(), log_path=None):
    """Write ``root_dir`` into the squashfs ``image_path`` (replaced if it exists); returns
    its size in bytes.  ``source_date_epoch`` defaults to ``$SOURCE_DATE_EPOCH``."""
    if not os.path.isdir(root_dir):
        raise PungiLikeError(f"make_squashfs: {root_dir} is not a directory")
    if source_date_epoch is None and os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        source_date_epoch = int(os.environ["SOURCE_DATE_EPOCH"])
    # mksquashfs refuses SOURCE_DATE_EPOCH together with -mkfs-time/-all-time: pass it only
    # as options
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    os.makedirs(os.path.dirname(os.path.abspath(image_path)), exist_ok=True)
    if os.path.exists(image_path):
        os.unlink(image_path)
    tools.run(mksquashfs_cmd(root_dir, image_path, compression=compression, level=level,
                             source_date_epoch=source_date_epoch, processors=processors,
                             excludes=excludes), log_path=log_path, env=env)
    return os.path.getsize(image_path)
