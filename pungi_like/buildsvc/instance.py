"""Creating a hub instance: the top directory, its config, the database and the first admin."""

from __future__ import annotations

import os

from sqlalchemy import insert

from .db import open_db
from .db import schema as s
from .hub.common import get_user_row
from .hub.context import context
from .hub.server import CONFIG_NAME, PRIVATE_DIR, HubConfig
from .hub.users import grant
from .pathinfo import PathInfo


def init_hub(topdir, admin, db_url=None):
    """Lay out ``topdir`` as Koji's, create the database and ``admin`` with the admin permission.

    Returns the :class:`HubConfig`. Safe to re-run: an existing admin user is kept.
    """
    topdir = os.path.abspath(topdir)
    PathInfo(topdir).make_topdir()
    if db_url is None:
        existing = os.path.join(topdir, CONFIG_NAME)
        db_url = (HubConfig.load(topdir).db_url if os.path.exists(existing)
                  else "sqlite:///" + os.path.join(topdir, PRIVATE_DIR, "hub.sqlite3"))
    config = HubConfig(topdir=topdir, db_url=db_url)
    os.makedirs(os.path.join(topdir, PRIVATE_DIR), mode=0o700, exist_ok=True)
    db = open_db(db_url, create=True)
    try:
        with db.engine.begin() as conn:
            context.reset()
            context.conn = conn
            user = get_user_row(admin)
            if user is None:
                uid = conn.execute(insert(s.users).values(name=admin, status=0, usertype=0)
                                   .returning(s.users.c.id)).scalar_one()
                grant(uid, "admin")
        context.reset()
    finally:
        db.dispose()
    config.save()
    return config
