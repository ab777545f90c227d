"""The multilib heuristic: which secondary-ABI builds belong in a tree."""

from pungi_like.rpmtools.multilib import is_multilib, method_reason, provides_soname


def test_soname_provides_detection():
    assert provides_soname(["libfoo.so.1", "libfoo = 1.0-1"])
    assert provides_soname(["libfoo.so.1(FOO_1.0)"])
    assert not provides_soname(["libfoo.so.1()(64bit)"])
    assert not provides_soname(["foo", "config(foo) = 1.0"])


def test_runtime_method():
    assert is_multilib("libfoo", ["runtime"], provides=["libfoo.so.1"])
    assert is_multilib("nss-plugin", ["runtime"], files=["/usr/lib/nss/libplug.so"])
    assert is_multilib("glibc", ["runtime"])                        # well-known runtime
    assert not is_multilib("app", ["runtime"], files=["/usr/bin/app"])
    assert not is_multilib("libfoo-devel", ["runtime"], provides=["libfoo.so.1"])
    assert not is_multilib("kernel", ["runtime"], files=["/lib/modules/x/a.so"])


def test_devel_and_kernel_methods():
    assert is_multilib("libfoo-devel", ["devel"])
    assert is_multilib("libfoo-static", ["devel"])
    assert not is_multilib("kernel-devel", ["devel"])
    assert not is_multilib("libfoo", ["devel"], provides=["libfoo.so.1"])
    assert is_multilib("kernel", ["kernel"]) and is_multilib("kernel-core", ["kernel"])
    assert not is_multilib("kernel-debug-core", ["kernel"])


def test_all_none_and_lists():
    assert is_multilib("anything", ["all"])
    assert not is_multilib("libfoo", ["none"], provides=["libfoo.so.1"])
    assert not is_multilib("libfoo", [], provides=["libfoo.so.1"])
    assert not is_multilib("libfoo", ["all"], blacklist=["lib*"])
    assert is_multilib("app", [], whitelist=["app"])
    assert is_multilib("app", ["none"], whitelist=["ap?"])
    # the blacklist wins over the whitelist
    assert not is_multilib("app", ["all"], whitelist=["app"], blacklist=["app"])


def test_method_reason():
    assert method_reason("libfoo", ["devel", "runtime"], provides=["libfoo.so.1"]) == "runtime"
    assert method_reason("libfoo-devel", ["devel", "runtime"]) == "devel"
    assert method_reason("app", ["runtime"], whitelist=["app"]) == "whitelist"
    assert method_reason("app", ["runtime"]) is None
