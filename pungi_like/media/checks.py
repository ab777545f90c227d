"""Sanity checks of image files, as the test phase runs them on every image in images.json."""

import os

ISO_MAGIC_OFFSET = 0x8001
EL_TORITO_OFFSET = 0x8801


def read_at(path, offset, size):
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(size)


def is_iso(path):
    return read_at(path, ISO_MAGIC_OFFSET, 5) == b"CD001"


def has_mbr(path):
    return read_at(path, 0x1FE, 2) == b"\x55\xaa"


def has_gpt(path):
    return read_at(path, 0x200, 8) == b"EFI PART"


def has_el_torito(path):
    return read_at(path, EL_TORITO_OFFSET - 1, 30) == b"\x00CD001\x01EL TORITO SPECIFICATION"


def check_image(path, image, conf, variant_uid, arch):
    """Problems (strings) found in one image; empty when it is sound.

    ISO images must carry the ISO 9660 signature; bootable x86 images must have an MBR, a GPT or
    an El Torito boot record; ISOs must fit ``createiso_max_size`` when it is strict.
    """
    problems = []
    if not os.path.exists(path):
        return ["file is missing"]
    if image.format == "iso" and not is_iso(path):
        problems.append("does not look like an ISO file (no CD001 signature at 0x8001)")
    if image.bootable and arch in ("x86_64", "i386", "i686") and image.format == "iso":
        if not (has_mbr(path) or has_gpt(path) or has_el_torito(path)):
            problems.append("is supposed to be bootable, but does not have MBR nor GPT nor is it "
                            "a bootable ISO")
    if image.format == "iso":
        limits = conf.variant_arch_values("createiso_max_size", variant_uid, arch) \
            if hasattr(conf, "createiso_max_size") else []
        strict = conf.variant_arch_values("createiso_max_size_is_strict", variant_uid, arch) \
            if hasattr(conf, "createiso_max_size_is_strict") else []
        if limits:
            limit = int(limits[-1])
            size = os.path.getsize(path)
            if size > limit:
                message = f"ISO is too big. Expected max {limit}B, got {size}B"
                if any(strict):
                    problems.append(message)
                else:
                    import logging
                    logging.getLogger("pungi_like.test").warning("%s: %s", path, message)
    return problems
