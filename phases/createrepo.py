"""createrepo: repodata for every variant.arch tree (binary, debug and source)."""

import os

from pungi_like.config.options import Option, scm_dict_schema, variant_arch_mapping


def _cpu_count(raw):
    """the number of CPUs"""
    return os.cpu_count() or 1


def _database_default(raw):
    """True only when ``gather_backend`` is ``yum``"""
    return raw.get("gather_backend") == "yum"


OPTIONS = [
    Option("createrepo_c", {"type": "boolean"}, default=True,
           help="Use createrepo_c rather than the legacy createrepo (pungi_like only ships "
                "support for createrepo_c)."),
    Option("createrepo_checksum", {"enum": ["sha1", "sha256", "sha512"]}, default="sha256",
           help="Checksum type used in repodata."),
    Option("createrepo_database", {"type": "boolean"}, default=_database_default,
           help="Create sqlite databases in repodata."),
    Option("createrepo_use_xz", {"type": "boolean"}, default=False,
           help="Compress repodata with xz (`--xz`)."),
    Option("createrepo_num_threads", {"type": "integer", "minimum": 1}, default=_cpu_count,
           help="How many createrepo runs go in parallel."),
    Option("createrepo_num_workers", {"type": "integer", "minimum": 1}, default=3,
           help="Workers of one createrepo run (`--workers`)."),
    Option("createrepo_extra_args", {"type": "array", "items": {"type": "string"}}, default=[],
           help="Extra arguments appended to every createrepo command (e.g. `--zck`)."),
    Option("createrepo_enable_cache", {"type": "boolean"}, default=True,
           help="Pass a `--cachedir` per release and variant so checksums are reused."),
    Option("createrepo_deltas",
           {"anyOf": [{"type": "boolean"}, variant_arch_mapping({"type": "boolean"})]},
           default=False, mapping="variant_arch",
           help="Create delta RPMs against old composes (binary repos only): a boolean or a "
                "variant/arch mapping of booleans."),
    Option("product_id", scm_dict_schema(),
           help="Directory (or SCM dict) with `*<variant>-<arch>-*.pem` product certificates "
                "injected into repodata."),
    Option("product_id_allow_missing", {"type": "boolean"}, default=False,
           help="A variant.arch without a certificate is not an error."),
    Option("product_id_allow_name_prefix", {"type": "boolean"}, default=True,
           help="Allow any prefix before `<variant>-<arch>` in certificate file names."),
]
