"""The runtime's fixes to moto: one parse per state machine definition, shared by its executions."""

import json

from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from docpipe_local.moto_fixes import parse_each_definition_once


def test_a_definition_is_parsed_once_and_its_program_shared():
    parse_each_definition_once()
    parse_each_definition_once()  # idempotent: no second cache around the first
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    first, again = AmazonStateLanguageParser.parse(definition), AmazonStateLanguageParser.parse(definition)
    assert first[0] is again[0]
    other = AmazonStateLanguageParser.parse(definition.replace("Done", "Finished"))
    assert other[0] is not first[0]
