"""The embedded build service section of a compose config (``buildservice``).

Pungi reaches Koji through ``koji_profile`` only. pungi_like can also run its own build service
for the length of one compose: ``buildservice = {"embedded": True, "topdir": "hub", "db": None,
"builders": 1}`` starts a hub (and builders) on loopback with TLS, stores its data under
``topdir`` (relative to the config file) in SQLite, or in PostgreSQL when ``db`` is a
``postgresql://`` URL, and stops it when the compose ends. ``koji_profile`` wins when both are set.
``seed_universe`` names a demo universe directory (built when missing) imported into the tags
``<short>-<version>-base/-updates/-build`` before the compose starts (nothing to do the second
time).
"""

from pungi_like.config.options import Option

BUILDSERVICE_SCHEMA = {
    "type": "object",
    "properties": {
        "embedded": {"type": "boolean"},
        "topdir": {"type": "string", "minLength": 1},
        "db": {"anyOf": [{"type": "null"},
                         {"type": "string", "pattern": "^(postgresql|sqlite)(\\+[a-z0-9]+)?://"}]},
        "builders": {"type": "integer", "minimum": 0},
        "seed_universe": {"type": "string", "minLength": 1},
    },
    "required": ["topdir"],
    "additionalProperties": False,
}

OPTIONS = [
    Option("buildservice", BUILDSERVICE_SCHEMA,
           help="The embedded build service: `{'embedded': True, 'topdir': DIR, 'db': None or "
                "'postgresql://...', 'builders': 1, 'seed_universe': DIR}`. `topdir` is relative to "
                "the config file; `db` None means SQLite under `topdir`; `seed_universe` (optional) "
                "imports a demo universe into the tags `<short>-<version>-base/-updates/-build` "
                "first. Used when `koji_profile` is not set."),
]
