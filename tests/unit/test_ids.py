from urllib.parse import quote_plus

from hypothesis import given, strategies as st

from docpipe.ids import decode_event_key, doc_id_for


def test_plus_is_a_space_and_encoded_plus_is_a_plus():
    assert decode_event_key("inbox/r%C3%A9sum%C3%A9+2024.pdf") == "inbox/r\u00e9sum\u00e9 2024.pdf"
    assert decode_event_key("inbox/a%2Bb.txt") == "inbox/a+b.txt"


@given(st.text(min_size=1, max_size=60))
def test_decoding_exactly_once_round_trips_what_s3_encodes(key):
    assert decode_event_key(quote_plus(key, safe="/")) == key


def test_doc_id_is_stable_readable_and_sensitive_to_every_part():
    base = doc_id_for("b", "inbox/R\u00e9sum\u00e9 2024.pdf", "v1", "abc")
    assert base == doc_id_for("b", "inbox/R\u00e9sum\u00e9 2024.pdf", "v1", "abc")
    assert base.startswith("resume-2024-")
    others = {doc_id_for("c", "inbox/R\u00e9sum\u00e9 2024.pdf", "v1", "abc"),
              doc_id_for("b", "inbox/other.pdf", "v1", "abc"), doc_id_for("b", "inbox/R\u00e9sum\u00e9 2024.pdf", "v2", "abc"),
              doc_id_for("b", "inbox/R\u00e9sum\u00e9 2024.pdf", "v1", "abd")}
    assert base not in others and len(others) == 4
