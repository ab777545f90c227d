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
    "image_build",
    "live_media",
    "imagechecksum",
    "test",
]

#: Phases whose units make images (images.json entries): imagechecksum and the boot tests wait
#: for every unit of these (``<phase>.<variant>.*``), and the driver expects images when one of
#: them runs. A phase that is not in PHASE_MODULES (yet) simply matches no unit.
IMAGE_PHASES = ("buildinstall", "createiso", "extra_isos", "liveimages", "live_media",
                "image_build")
