"""The package universe for demos and tests: real RPMs built with rpmbuild.

``rpmbuild`` holds the generic builder (``Package``, ``Subpackage``, ``build_packages``);
``demo`` describes the demo universe; ``ensure_universe`` builds it once into a directory.
"""

from .build import Universe, ensure_universe  # noqa: F401
from .rpmbuild import BuildResult, Package, Subpackage, build_packages  # noqa: F401
