"""Jinja2 rendering of the files in ``share/templates/`` (boot menus, the initramfs /init)."""

import jinja2

from ..resources import share_path

TEMPLATE_DIR = share_path("templates")

_env = None


def environment():
    global _env
    if _env is None:
        _env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
                                  undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                  trim_blocks=True, lstrip_blocks=True, autoescape=False)
    return _env


def render(name, **context):
    """Render ``share/templates/<name>`` with ``context`` (a missing variable is an error)."""
    return environment().get_template(name).render(**context)
