"""productmd imported by pungi_like.metadata without importlib.metadata (lazyimport.import_productmd):
the same version strings, and importlib.metadata itself untouched afterwards; nor with
urllib.request and http.client, which productmd reaches (imported then) only when asked for them."""

import json
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


URL_MODULES = """
import json, sys, tempfile, os
import pungi_like.metadata
import productmd.common, productmd.rpms
out = {"at_start": [m for m in ("urllib.request", "http.client") if m in sys.modules]}
rpms = productmd.rpms.Rpms()
rpms.compose.id, rpms.compose.type, rpms.compose.date, rpms.compose.respin = \\
    "T-1-20260101.n.0", "nightly", "20260101", 0
rpms.add("Server", "x86_64", "bash-0:5.1-1.x86_64", "Server/x86_64/os/Packages/b/bash.rpm",
         None, "binary", "bash-0:5.1-1.src")
path = os.path.join(tempfile.mkdtemp(), "rpms.json")
rpms.dump(path)
loaded = productmd.rpms.Rpms()
loaded.load(path)
out["loaded"] = sorted(loaded.rpms["Server"]["x86_64"])
out["after_load"] = [m for m in ("urllib.request", "http.client") if m in sys.modules]
request = productmd.common.urllib.request.Request          # imported at this first use
import urllib.request
out["request"] = request is urllib.request.Request
import http.client
out["client"] = productmd.common.http.client is http.client \\
    and productmd.common.http.client.HTTPResponse is http.client.HTTPResponse
print(json.dumps(out))
"""


def test_productmd_loads_manifests_without_urllib_request_and_http_client():
    out = json.loads(subprocess.run([sys.executable, "-c", URL_MODULES], capture_output=True,
                                    text=True, check=True).stdout)
    assert out == {"at_start": [], "loaded": ["bash-0:5.1-1.src"], "after_load": [],
                   "request": True, "client": True}
