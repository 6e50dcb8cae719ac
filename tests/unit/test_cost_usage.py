"""Usage the pipeline records for `docpipe cost`: the guardrail inside a Converse call bills text units too."""

from docpipe.generation import _trace_units

# the shape of Converse's `trace.guardrail` (GuardrailTraceAssessment): one assessment per guardrail on the
# input, a list per guardrail on the output, each with invocationMetrics.usage by policy
TRACE = {
    "inputAssessment": {"gr-1": {"topicPolicy": {"topics": []}, "invocationMetrics": {
        "guardrailProcessingLatency": 120, "usage": {"topicPolicyUnits": 2, "contentPolicyUnits": 2,
                                                     "wordPolicyUnits": 2, "sensitiveInformationPolicyUnits": 2,
                                                     "sensitiveInformationPolicyFreeUnits": 0,
                                                     "contextualGroundingPolicyUnits": 0}}}},
    "outputAssessments": {"gr-1": [{"invocationMetrics": {"usage": {"topicPolicyUnits": 1, "contentPolicyUnits": 1}}},
                                   {"invocationMetrics": {"usage": {"contentPolicyUnits": 1}}}]},
    "actionReason": "No action.",
}


def test_the_text_units_of_a_converse_guardrail_are_counted_from_its_trace():
    assert _trace_units(TRACE) == 8 + 2 + 1


def test_no_trace_no_units():
    assert _trace_units({}) == 0
