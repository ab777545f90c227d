"""Where the project's data files are: ``share/`` (templates, the variants DTD).

In a checkout (and an editable install) they are the repository's ``share/``; a wheel carries a
copy inside the package as ``pungi_like/_share`` (setup.py's build step puts it there), so an
installed pungi_like finds them without the checkout.
"""

from __future__ import annotations

import os

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def share_dir() -> str:
    """The directory holding ``templates/`` and ``variants.dtd``."""
    packaged = os.path.join(_PACKAGE_DIR, "_share")
    if os.path.isdir(packaged):
        return packaged
    return os.path.join(os.path.dirname(_PACKAGE_DIR), "share")


def share_path(*parts: str) -> str:
    """A path under :func:`share_dir`."""
    return os.path.join(share_dir(), *parts)
