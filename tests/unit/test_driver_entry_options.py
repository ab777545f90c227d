"""The entry point's own reading of the command line (compose_driver.early_precheck_dirs) knows
the driver's options as the driver's parser defines them: an option added to the parser and
not to these lists would only cost the early child, but one listed with the wrong arity would
make the entry point misread the command line, so both lists are checked against the parser."""

import argparse

from pungi_like.cli import compose_driver, compose_run


def _parser_options():
    with_value, flags = set(), set()
    for action in compose_run.build_parser()._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        for opt in action.option_strings:
            (flags if action.nargs == 0 else with_value).add(opt)
    return with_value, flags


def test_options_with_a_value_are_the_parsers():
    with_value, _ = _parser_options()
    assert compose_driver._VALUE_OPTIONS == with_value


def test_flags_are_the_parsers():
    _, flags = _parser_options()
    assert compose_driver._FLAGS == flags
