"""Writes the demo universe's comps.xml (groups and environments, no langpacks).

Packagereqs may carry Pungi's ``arch="x86_64"`` attribute; the comps filter of the init phase
drops them on other arches. The output parses with libcomps and is accepted by
``createrepo_c --groupfile``.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from .demo import EnvironmentSpec, GroupSpec


def _bool(value: bool) -> str:
    return "true" if value else "false"


def comps_xml(groups: list[GroupSpec], environments: list[EnvironmentSpec]) -> str:
    """The comps document text (deterministic: groups and environments in the given order)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">',
           "<comps>"]
    for group in groups:
        out += ["  <group>",
                f"    <id>{escape(group.id)}</id>",
                f"    <name>{escape(group.name)}</name>",
                f"    <description>{escape(group.description)}</description>",
                f"    <default>{_bool(group.is_default)}</default>",
                f"    <uservisible>{_bool(group.uservisible)}</uservisible>",
                "    <packagelist>"]
        for kind in ("mandatory", "default", "optional"):
            for name in getattr(group, kind):
                arch = f" arch={quoteattr(group.arch[name])}" if name in group.arch else ""
                out.append(f'      <packagereq type="{kind}"{arch}>{escape(name)}</packagereq>')
        out += ["    </packagelist>", "  </group>"]
    for order, env in enumerate(environments, start=1):
        out += ["  <environment>",
                f"    <id>{escape(env.id)}</id>",
                f"    <name>{escape(env.name)}</name>",
                f"    <description>{escape(env.description)}</description>",
                f"    <display_order>{order * 10}</display_order>",
                "    <grouplist>"]
        out += [f"      <groupid>{escape(g)}</groupid>" for g in env.groups]
        out += ["    </grouplist>", "    <optionlist>"]
        out += [f"      <groupid>{escape(g)}</groupid>" for g in env.options]
        out += ["    </optionlist>", "  </environment>"]
    out.append("</comps>")
    return "\n".join(out) + "\n"
