"""A variant's comps as Pungi 4.3.2 writes it: filtering rules and the written form."""

import libcomps

from pungi_like.rpmtools.comps import Comps, filter_for_variant
from pungi_like.variants import Environment, Group

SOURCE = """<?xml version="1.0" encoding="UTF-8"?>
<comps>
  <group>
    <id>core</id>
    <name>Core</name>
    <name xml:lang="de">Kern</name>
    <default>true</default>
    <uservisible>false</uservisible>
    <display_order>5</display_order>
    <packagelist>
      <packagereq type="optional">zed-devel</packagereq>
      <packagereq type="default">beta-doc</packagereq>
      <packagereq type="mandatory" arch="x86_64,aarch64">zed</packagereq>
      <packagereq type="mandatory" arch="ppc64le">ppc-only</packagereq>
      <packagereq type="conditional" requires="zed">zed-extra</packagereq>
      <packagereq type="mandatory">alpha</packagereq>
    </packagelist>
  </group>
  <group>
    <id>extras</id>
    <name>Extras</name>
    <description>More</description>
    <packagelist><packagereq>gamma</packagereq></packagelist>
  </group>
  <group variant="Workstation">
    <id>desktop</id>
    <name>Desktop</name>
    <packagelist><packagereq>delta</packagereq></packagelist>
  </group>
  <group><id>empty</id><name>Empty</name><packagelist/></group>
  <group><id>conflicts-server</id><name>Conflicts</name><packagelist/></group>
  <category>
    <id>cat</id>
    <name>Cat</name>
    <display_order>3</display_order>
    <grouplist><groupid>extras</groupid><groupid>core</groupid><groupid>desktop</groupid></grouplist>
  </category>
  <environment>
    <id>server-env</id>
    <name>Server Env</name>
    <display_order>1</display_order>
    <grouplist><groupid>extras</groupid><groupid>core</groupid><groupid>gone</groupid></grouplist>
    <optionlist><groupid>zzz-missing</groupid><groupid>desktop</groupid></optionlist>
  </environment>
  <environment>
    <id>a-env</id>
    <name>A Env</name>
    <grouplist><groupid>desktop</groupid><groupid>core</groupid></grouplist>
  </environment>
  <langpacks>
    <match name="zed" install="zed-lang-%s"/>
    <match name="alpha" install="alpha-lang-%s"/>
  </langpacks>
</comps>
"""


def server(groups=None, environments=None, **kw):
    comps = Comps.from_string(SOURCE)
    if groups is None:
        groups = [Group("core", default=False, uservisible=True), Group("ext*", glob=True),
                  Group("conflicts-server")]
    return filter_for_variant(comps, "x86_64", "Server", groups=groups,
                              environments=environments or [], **kw)


def test_written_like_pungi(tmp_path):
    result, missing = server(environments=[Environment("server-env", display_order=7)])
    assert missing == []
    text = result.to_pungi_bytes().decode()
    # package entries by type, then by name; arch attributes gone; conditional keeps requires
    assert """    <packagelist>
      <packagereq type="mandatory">alpha</packagereq>
      <packagereq type="mandatory">zed</packagereq>
      <packagereq type="default">beta-doc</packagereq>
      <packagereq type="optional">zed-devel</packagereq>
      <packagereq requires="zed" type="conditional">zed-extra</packagereq>
    </packagelist>""" in text
    assert "ppc-only" not in text and "arch=" not in text
    # variants.xml default/uservisible win; group display_order is not written; translations
    # kept; an empty description is written for groups
    assert """    <id>core</id>
    <name>Core</name>
    <name xml:lang="de">Kern</name>
    <description/>
    <default>false</default>
    <uservisible>true</uservisible>
    <packagelist>""" in text
    assert "<display_order>5</display_order>" not in text
    # an empty group matching conflicts-<variant> is kept, other empty groups go
    assert "<id>conflicts-server</id>" in text and "<id>empty</id>" not in text
    # category list cut to the variant's groups and sorted; environment display_order from
    # variants.xml; its group list sorted (dangling "gone" dropped), option list sorted, not cut
    assert "<groupid>core</groupid>\n      <groupid>extras</groupid>\n    </grouplist>\n  </category>" in text
    assert """    <display_order>7</display_order>
    <grouplist>
      <groupid>core</groupid>
      <groupid>extras</groupid>
    </grouplist>
    <optionlist>
      <groupid>desktop</groupid>
      <groupid>zzz-missing</groupid>
    </optionlist>""" in text
    assert "a-env" not in text
    assert text.index("<category>") < text.index("<environment>") < text.index("<langpacks>")
    assert '<match install="alpha-lang-%s" name="alpha"/>' in text
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE comps\n'
                           "  PUBLIC '-//Red Hat, Inc.//DTD Comps info//EN'\n  'comps.dtd'>\n<comps>\n")
    # libcomps (which Pungi and dnf read comps with) reads it back
    path = tmp_path / "c.xml"
    result.write(path, pungi_style=True)
    parsed = libcomps.Comps()
    parsed.fromxml_f(str(path))
    assert sorted(g.id for g in parsed.groups) == ["conflicts-server", "core", "extras"]


def test_environments_kept_when_not_filtered_or_variant_lists_nothing():
    # comps_filter_environments False: every environment stays, display_order untouched
    result, _ = server(environments=[Environment("server-env", display_order=7)],
                       filter_environments=False)
    assert sorted(result.environment_ids()) == ["a-env", "server-env"]
    assert "<display_order>1</display_order>" in result.to_pungi_bytes().decode()
    # a variant with neither groups nor environments keeps every group and environment
    comps = Comps.from_string(SOURCE)
    result, _ = filter_for_variant(comps, "x86_64", "Server", groups=[], environments=[],
                                   keep_groups_filter=False)
    assert "extras" in result.group_ids() and len(result.environment_ids()) == 2


def test_unmatched_group_and_lookaside_groups():
    result, missing = server(groups=[Group("core"), Group("nope")], lookaside_groups=["gone"],
                             environments=[Environment("server-env")])
    assert missing == ["nope"]
    env = result.environment_groups("server-env")
    assert "gone" in env           # a lookaside group may stay referenced by an environment
    # an addon without groups keeps none of the comps groups
    comps = Comps.from_string(SOURCE)
    result, _ = filter_for_variant(comps, "x86_64", "Server-HA", groups=[],
                                   lookaside_groups=["core"], keep_groups_filter=True)
    assert result.group_ids() == []


def test_libcomps_reading_of_missing_type_and_booleans():
    comps = Comps.from_string("""<comps><group><id>g</id><name>G</name>
        <default>yes</default><uservisible>0</uservisible>
        <packagelist><packagereq>a</packagereq></packagelist></group></comps>""")
    text = comps.to_pungi_bytes().decode()
    # no type means mandatory; only "true" is true for default, only "false" hides a group
    assert '<packagereq type="mandatory">a</packagereq>' in text
    assert "<default>false</default>" in text and "<uservisible>true</uservisible>" in text
    assert comps.groups()["g"].packages[0].type == "mandatory"
