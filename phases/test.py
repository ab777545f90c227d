"""test: repoclosure of every repo, sanity of every image, reload of the manifests."""

from pungi_like.config.options import Option, variant_arch_mapping

OPTIONS = [
    Option("repoclosure_strictness",
           variant_arch_mapping({"enum": ["off", "lenient", "fatal"]}),
           default=[[".*", {"*": "lenient"}]], mapping="variant_arch",
           help="Per variant.arch: `off` skips repoclosure, `lenient` only warns, `fatal` "
                "dooms the compose on unresolved dependencies. The last matching value wins."),
    Option("repoclosure_backend", {"enum": ["dnf"]}, default="dnf",
           help="Repoclosure tool; accepted for compatibility with Pungi, only `dnf` is valid."),
    Option("test_boot", {"type": "boolean"}, default=False,
           help="Boot the bootable ISOs in qemu (TCG) and check the boot menu comes up."),
]
