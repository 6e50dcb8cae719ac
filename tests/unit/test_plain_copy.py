"""copy_plain: deepcopy's values for plain data, without sharing anything mutable."""

import copy
import datetime
from collections import OrderedDict

from hypothesis import given
from hypothesis import strategies as st

from docpipe_local.plain_copy import copy_plain

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
                     max_leaves=30)


def _mutables(value):
    if isinstance(value, (dict, list)):
        yield value
        for item in value.values() if isinstance(value, dict) else value:
            yield from _mutables(item)


@given(_json)
def test_same_value_as_deepcopy_and_nothing_mutable_shared(value):
    copied = copy_plain(value)
    assert copied == copy.deepcopy(value)
    originals = {id(v) for v in _mutables(value)}
    assert not originals & {id(v) for v in _mutables(copied)}


def test_what_is_not_plain_data_is_deep_copied():
    when = datetime.datetime(2026, 11, 27)
    ordered = OrderedDict(a=[1, 2])
    value = {"t": (1, [2]), "ordered": ordered, "when": when}
    copied = copy_plain(value)
    assert copied == value and type(copied["ordered"]) is OrderedDict and copied["ordered"] is not ordered
    assert copied["t"][1] is not value["t"][1]
