"""productmd imported by pungi_like.metadata without importlib.metadata (lazyimport.import_productmd):
the same version strings, and importlib.metadata itself untouched afterwards."""

import subprocess
import sys

PROBE = """
import sys
import pungi_like.metadata
import productmd, productmd.common
skipped = "importlib.metadata" not in sys.modules
import importlib.metadata
print(skipped, productmd.__version__ == importlib.metadata.version("productmd"),
      productmd.common._LIB_VERSION == productmd.__version__,
      type(importlib.metadata.distribution).__name__)
"""


def test_productmd_has_its_version_without_importlib_metadata():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "True", "True", "function"]


def test_the_version_is_read_from_the_dist_info():
    import importlib.metadata

    from pungi_like.lazyimport import _dist_version

    assert _dist_version("productmd") == importlib.metadata.version("productmd")
    assert _dist_version("no-such-package-here") is None
