"""Multilib methods as Pungi 4.3.2 applies them (through the ``multilib`` library)."""

from pungi_like.rpmtools.multilib import is_multilib, method_reason


def test_runtime_needs_a_versioned_library_directly_in_a_libdir():
    assert is_multilib("libfoo", ["runtime"], files=["/usr/lib/libfoo.so.1"])
    assert is_multilib("libfoo", ["runtime"], files=["/lib/libfoo.so.1.2.3"])
    # an unversioned .so (the -devel symlink) or a library in a sub-directory is not enough
    assert not is_multilib("libfoo", ["runtime"], files=["/usr/lib/libfoo.so"])
    assert not is_multilib("libfoo", ["runtime"], files=["/usr/lib/foo/libfoo.so.1"])
    # a soname Provides alone does not make a package runtime multilib
    assert not is_multilib("libfoo", ["runtime"], provides=["libfoo.so.1"], files=["/usr/bin/foo"])


def test_runtime_plugin_directories_and_lists():
    assert is_multilib("alsa-plugins-pulse", ["runtime"], files=["/usr/lib/alsa-lib/libasound_module_pcm_pulse.so"])
    assert is_multilib("pam_x", ["runtime"], files=["/lib/security/pam_x.so"])
    assert is_multilib("nss_x", ["runtime"], files=["/lib/libnss_x.so"])
    assert is_multilib("gst-plug", ["runtime"], files=["/usr/lib/gstreamer-1.0/libgstx.so"])
    assert is_multilib("qt-plug", ["runtime"], files=["/usr/lib/qt5/plugins/styles/x.so"])
    assert is_multilib("ldconf", ["runtime"], files=["/etc/ld.so.conf.d/x.conf"])
    assert is_multilib("valgrind", ["runtime"])                            # known runtime name
    assert not is_multilib("httpd", ["runtime"], files=["/usr/lib/libhttpd.so.1"])  # known exclusion
    # kernels are never runtime multilib
    assert not is_multilib("kernel", ["runtime"], provides=["kernel = 6.1"],
                           files=["/lib/libk.so.1"])


def test_devel_method_includes_runtime():
    assert is_multilib("libfoo-devel", ["devel"])
    assert is_multilib("libfoo-static", ["devel"])
    assert is_multilib("libfoo", ["devel"], files=["/usr/lib/libfoo.so.1"])   # runtime part
    assert not is_multilib("ghc-foo-devel", ["devel"])
    assert not is_multilib("httpd-devel", ["devel"])
    assert not is_multilib("tool", ["devel"], files=["/usr/bin/tool"])
    assert method_reason("libfoo", ["devel"], files=["/usr/lib/libfoo.so.1"]) == "devel"
    assert method_reason("libfoo", ["runtime", "devel"], files=["/usr/lib/libfoo.so.1"]) == "devel"


def test_kernel_and_yaboot_methods():
    assert is_multilib("kernel", ["kernel"], provides=["kernel = 6.1"])
    assert is_multilib("kernel-devel", ["kernel"], provides=["kernel-devel = 6.1"])
    assert not is_multilib("kernel-tools", ["kernel"])
    assert is_multilib("yaboot", ["yaboot"], arch="ppc")
    assert not is_multilib("yaboot", ["yaboot"], arch="ppc64")


def test_all_none_and_lists():
    assert is_multilib("anything", ["all"])
    assert not is_multilib("libfoo", ["none"], files=["/usr/lib/libfoo.so.1"])
    assert not is_multilib("libfoo", [], files=["/usr/lib/libfoo.so.1"])
    # the whitelist works even without any method; the blacklist beats everything
    assert is_multilib("tool", [], whitelist=["to*"])
    assert method_reason("tool", ["devel"], whitelist=["tool"]) == "whitelist"
    assert not is_multilib("libfoo-devel", ["all"], blacklist=["libfoo-*"])
    assert not is_multilib("tool", ["all"], whitelist=["tool"], blacklist=["tool"])
