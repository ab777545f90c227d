"""A variant's comps written without minidom's nodes (comps._PrettyDoc) is byte for byte
what minidom's pretty print of the same document gives (Pungi's layout)."""

import glob
import os

from pungi_like.rpmtools import comps as comps_mod
from pungi_like.rpmtools.comps import Comps

TRICKY = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">
<comps>
  <group>
    <id>core &amp; more</id>
    <name>Core "quoted" &lt;angle&gt; 'single'</name>
    <name xml:lang="de">Kern – ünïcödé ☃</name>
    <name xml:lang="ar">نواة</name>
    <description>Line one
  line two &amp; &gt; &lt;</description>
    <description xml:lang="de">Beschreibung</description>
    <default>TRUE</default>
    <uservisible>no</uservisible>
    <langonly>de</langonly>
    <packagelist>
      <packagereq type="conditional" requires="a&amp;b">cond-pkg</packagereq>
      <packagereq type="optional">zed</packagereq>
      <packagereq>no-type</packagereq>
      <packagereq type="default">beta&lt;1&gt;</packagereq>
      <packagereq type="mandatory">alpha "q"</packagereq>
      <packagereq type="mandatory"></packagereq>
    </packagelist>
  </group>
  <group><id>empty</id><name>Empty</name><packagelist/></group>
  <group><id>nodesc</id><name></name><packagelist><packagereq>x</packagereq></packagelist></group>
  <category>
    <id>cat</id>
    <name>Cat</name>
    <display_order> 7 </display_order>
    <grouplist><groupid>nodesc</groupid><groupid>core &amp; more</groupid>
      <groupid>missing</groupid><groupid>nodesc</groupid></grouplist>
  </category>
  <category><id>nothing</id><name>N</name><grouplist><groupid>absent</groupid></grouplist></category>
  <environment>
    <id>env</id>
    <name>Env</name>
    <name xml:lang="fr">Env fr</name>
    <description>E &amp; D</description>
    <display_order>3</display_order>
    <grouplist><groupid default="true">empty</groupid><groupid>core &amp; more</groupid>
      <groupid>empty</groupid></grouplist>
    <optionlist><groupid>nodesc</groupid></optionlist>
  </environment>
  <environment><id>a-env</id><name>A</name><grouplist/></environment>
  <langpacks>
    <match install="%s-de" name="pkg &amp; co"/>
    <match install="b-%s" name="a"/>
  </langpacks>
</comps>
"""


def _check(path):
    """Both writings of every arch's filtering of ``path``; the number compared."""
    comps = Comps.from_file(path)
    compared = 0
    for arch in ("x86_64", "aarch64", "ppc64le", "s390x"):
        arch_comps = comps.copy()
        arch_comps.filter_arch(arch)
        ours = arch_comps.to_pungi_bytes()
        theirs = arch_comps.pungi_document(comps_mod.minidom_pungi_document()).toprettyxml(
            indent="  ", encoding="UTF-8")
        assert ours == theirs, (path, arch)
        compared += 1
    return compared


def test_tricky_comps_written_as_minidom_writes_it(tmp_path):
    path = tmp_path / "comps.xml"
    path.write_text(TRICKY, encoding="utf-8")
    assert _check(str(path)) == 4
    text = Comps.from_file(str(path)).to_pungi_bytes().decode("utf-8")
    # what the comparison covers: escaped text and attributes, translations, empty elements
    assert "<id>core &amp; more</id>" in text and 'requires="a&amp;b"' in text
    assert "&quot;quoted&quot;" in text and "ünïcödé ☃" in text and "<description/>" in text


def test_the_corpus_comps_written_as_minidom_writes_them():
    """Every comps file of the Pungi corpus (its variants' comps, when the corpus is here)
    and of this repository's tests."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = glob.glob(os.path.join(os.path.dirname(here), "shared", "oracles", "*", "*",
                                   "expected", "comps", "*.xml"))
    paths += glob.glob(os.path.join(here, "tests", "**", "*comps*.xml"), recursive=True)
    paths += glob.glob(os.path.join(here, "configs", "**", "*comps*.xml"), recursive=True)
    assert paths, "no comps file found"
    assert sum(_check(p) for p in paths) == 4 * len(paths)
