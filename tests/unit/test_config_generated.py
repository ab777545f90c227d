"""The committed schema and doc/configuration.md match the declarations; registry sanity."""

import os
import sys
import types

import jsonschema
import pytest

from pungi_like.config import docgen, schema
from pungi_like.config.options import Option
from pungi_like.config.registry import build_registry

pytestmark = pytest.mark.unit

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_committed_schema_is_current():
    with open(os.path.join(REPO, "schemas", "config.schema.json")) as handle:
        committed = handle.read()
    assert committed == schema.render(), (
        "schemas/config.schema.json is stale: run "
        "`python -m pungi_like.config.schema > schemas/config.schema.json`")


def test_committed_doc_is_current():
    with open(os.path.join(REPO, "doc", "configuration.md")) as handle:
        committed = handle.read()
    assert committed == docgen.render(), (
        "doc/configuration.md is stale: run "
        "`python -m pungi_like.config.docgen > doc/configuration.md`")


def test_schema_is_a_valid_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(schema.build_schema())


def test_every_phase_module_imports_and_no_option_is_declared_twice():
    registry = build_registry()
    assert registry.duplicates == []
    assert registry.broken_modules == {}
    for opt in registry:
        jsonschema.Draft202012Validator.check_schema(opt.schema)
        assert opt.help, f"option {opt.name} has no help text"
        assert opt.mapping in (None, "variant", "variant_arch")


def test_registry_tolerates_a_phase_module_that_does_not_exist(monkeypatch):
    import phases

    monkeypatch.setattr(phases, "PHASE_MODULES", phases.PHASE_MODULES + ["notyet"])
    registry = build_registry()
    assert "notyet" in registry.missing_modules
    assert "release_short" in registry


def test_registry_collects_options_of_a_phase_module(monkeypatch):
    import phases

    module = types.ModuleType("phases.fakephase")
    module.OPTIONS = [Option("fake_option", {"type": "boolean"}, default=True, help="x")]
    monkeypatch.setitem(sys.modules, "phases.fakephase", module)
    monkeypatch.setattr(phases, "PHASE_MODULES", phases.PHASE_MODULES + ["fakephase"])
    registry = build_registry()
    assert registry["fake_option"].phase == "fakephase"
