"""Volume ids, image names and disc splitting as Pungi's createiso computes them."""

import pytest

from pungi_like.errors import PungiLikeError
from pungi_like.media import iso
from pungi_like.media.naming import sectors

pytestmark = pytest.mark.integration


def values(**kw):
    base = dict(compose_id="Demo-1-20240101.n.0", release_short="Demo", version="1",
                date="20240101", respin=0, compose_type="nightly", type_suffix=".n",
                label=None, variant="Server", arch="x86_64", disc_type="dvd")
    base.update(kw)
    return iso.format_values(**base)


def test_default_volume_id_is_the_first_format_that_fits():
    assert iso.volume_id(values()) == "Demo-1 Server.x86_64"
    # too long for the first format: the second one (without the variant) is used
    long_variant = values(variant="VeryLongVariantNameForTesting")
    assert iso.volume_id(long_variant) == "Demo-1 x86_64"


def test_volume_id_substitutions_longest_key_first_and_32_char_rule():
    v = values(release_short="Fedora", version="39", variant="Everything")
    subs = {"Everything": "E", "Every": "X", "x86_64": "x64"}
    assert iso.volume_id(v, ["{release_short}-{variant}-{arch}-{version}"],
                         substitutions=subs) == "Fedora-E-x64-39"
    with pytest.raises(PungiLikeError, match="at most 32") as exc:
        iso.volume_id(v, ["{release_short}-{variant}-{arch}-{version}-and-a-very-long-tail"])
    assert "Fedora-Everything-x86_64-39-and-a-very-long-tail" in str(exc.value)


def test_volume_id_percent_style_label_and_restricted():
    v = values(label="RC-1.2")
    assert iso.volume_id(v, ["%(release_short)s-%(label_major_version)s {arch}"]) == "Demo-1 x86_64"
    # Pungi's \W rule: spaces and dots become dashes too
    assert iso.volume_id(v, restricted=True) == "Demo-1-Server-x86_64"
    assert iso.volume_id(values(arch="src"), restricted=True) == "Demo-1-Server-src"


def test_layered_volume_id_uses_base_product():
    v = values(base_product_short="Base", base_product_version="8", variant="L")
    assert iso.volume_id(v, layered=True) == "Demo-1 Base-8 L.x86_64"


def test_unknown_format_key_is_named():
    with pytest.raises(PungiLikeError, match="'nope'"):
        iso.volume_id(values(), ["{nope}"])


def test_image_names():
    v = values()
    # Pungi writes the disc number even for a single DVD
    assert iso.image_name(v) == "Demo-1-20240101.n.0-Server-x86_64-dvd1.iso"
    assert iso.image_name(v, disc_num=2) == "Demo-1-20240101.n.0-Server-x86_64-dvd2.iso"
    # images that are not discs of a set (boot.iso, live) pass None
    assert iso.image_name(values(disc_type="boot"), disc_num=None) == \
        "Demo-1-20240101.n.0-Server-x86_64-boot.iso"
    boot = values(disc_type="boot")
    assert iso.image_name(boot, "%(release_short)s-{variant}-%(disc_type)s{suffix}") == \
        "Demo-Server-boot.iso"


def test_source_media_say_source_in_the_name_and_src_in_the_volume_id():
    src = values(arch="src")
    assert iso.image_name(src) == "Demo-1-20240101.n.0-Server-source-dvd1.iso"
    assert iso.volume_id(src) == "Demo-1 Server.src"


def test_formats_naming_the_variant_are_skipped_without_one():
    assert iso.volume_id(values(variant="")) == "Demo-1 x86_64"


def test_split_media_rounds_to_sectors_and_repeats_sticky_files():
    files = [(f"Packages/p{i}.rpm", 3000) for i in range(10)]      # 4096 bytes each on disc
    discs = iso.split_media(files, media_size=30000, reserve=2000,
                            sticky=[("media.repo", 100), (".discinfo", 50)])
    # capacity 28000, sticky 4096 -> 23904 left: 5 packages (20480) per disc
    assert [len(d.files) for d in discs] == [7, 7]
    assert all(d.files[:2] == ["media.repo", ".discinfo"] for d in discs)
    assert [p for d in discs for p in d.files[2:]] == [p for p, _s in files]   # order kept
    assert all(d.size <= 28000 for d in discs)
    assert discs[0].size == 4096 + 5 * 4096
    assert sectors(1) == 2048 and sectors(2048) == 2048 and sectors(2049) == 4096


def test_split_media_file_too_big_is_named(tmp_path):
    big = tmp_path / "big.rpm"
    big.write_bytes(b"x" * 10000)
    with pytest.raises(PungiLikeError, match="big.rpm"):
        iso.split_media([str(big)], media_size=8192, reserve=0)
    assert len(iso.split_media([str(big)], media_size=20480, reserve=0)) == 1


# ---- a variant.arch of a real compose (config, variants file, Compose) -----------------------

def _compose(tmp_path, extra=""):
    import os

    from pungi_like.compose import Compose
    from pungi_like.config import load_config
    from pungi_like.variants import all_variants, load_variants

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    conf_path = tmp_path / "c.conf"
    conf_path.write_text('release_name = "Demo"\nrelease_short = "Demo"\nrelease_version = "1.0"\n'
                         'variants_file = "variants.xml"\npkgset_source = "repos"\n'
                         'pkgset_repos = {"x86_64": ["repo"]}\ngather_method = "deps"\n' + extra)
    conf = load_config(str(conf_path))
    top = load_variants(os.path.join(repo, "configs", "demo", "variants.xml"))
    compose = Compose(conf, tmp_path / "c", "Demo-1.0-20240101.n.0", "nightly", "20240101", 0)
    return compose, {v.uid: v for v in all_variants(top)}


def test_compose_names_follow_pungis_get_image_name_and_get_volid(tmp_path):
    from pungi_like.media import naming

    compose, variants = _compose(tmp_path)
    server = variants["Server"]
    assert naming.compose_image_name(compose, server, "x86_64", "dvd") == \
        "Demo-1.0-20240101.n.0-Server-x86_64-dvd1.iso"
    assert naming.compose_image_name(compose, server, "src", "dvd", disc_num=2) == \
        "Demo-1.0-20240101.n.0-Server-source-dvd2.iso"
    assert naming.compose_image_name(compose, server, "x86_64", "boot", disc_num=None) == \
        "Demo-1.0-20240101.n.0-Server-x86_64-boot.iso"
    assert naming.compose_volume_id(compose, server, "src") == "Demo-1.0 Server.src"
    # addons are on their parent's DVD: no volume id of their own
    assert naming.compose_volume_id(compose, variants["Server-HighAvailability"], "x86_64") is None


def test_compose_names_per_variant_format_first_match_and_disc_types(tmp_path):
    from pungi_like.media import naming

    compose, variants = _compose(tmp_path, (
        'image_name_format = {"^Server$": "{release_short}-{variant}-{arch}-{disc_type}{disc_num}'
        '{suffix}", "^Serv": "second-{arch}{suffix}"}\n'
        'disc_types = {"dvd": "everything"}\n'
        'image_volid_formats = ["{release_short}-{version}-{variant}-{arch}"]\n'
        'restricted_volid = True\n'))
    # the first matching key wins (Pungi's get_variant_data(...)[0])
    assert naming.compose_image_name(compose, variants["Server"], "x86_64", "dvd") == \
        "Demo-Server-x86_64-everything1.iso"
    # no match: Pungi's default format
    assert naming.compose_image_name(compose, variants["Workstation"], "x86_64", "dvd") == \
        "Demo-1.0-20240101.n.0-Workstation-x86_64-everything1.iso"
    # restricted: every non-word character (the dot of the version too) becomes '-'
    assert naming.compose_volume_id(compose, variants["Server"], "x86_64") == \
        "Demo-1-0-Server-x86_64"
