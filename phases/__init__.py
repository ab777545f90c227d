"""The phases of a compose, one module per phase.

``PHASE_MODULES`` lists them in run order. Each module declares the config options it reads as
``OPTIONS = [Option(...)]`` next to the phase class that uses them; the config registry
(``pungi_like.config.registry``) collects them from every module listed here.
"""

PHASE_MODULES = [
    "init",
    "pkgset",
    "buildinstall",
    "gather",
    "extra_files",
    "createrepo",
    "createiso",
    "extra_isos",
    "liveimages",
    "imagechecksum",
    "test",
]
