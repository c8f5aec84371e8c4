"""Decoding and validation on their own, without a server."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from shipyard.schema import Column, Schema
from shipyard.serve.inputs import MAX_PROBLEMS, InputError, parse, rows_of, validate
from shipyard.serve.predict import to_frame

from .cases import GOOD, row
from .models import SCHEMA, raw_rows


def test_frame_is_the_training_contract():
    rows = raw_rows(30, seed=4) + [dict.fromkeys(SCHEMA.names), row(plan="")]
    decoded = json.loads(json.dumps(rows))  # exactly what the server would see
    frame = to_frame(validate(decoded, SCHEMA))
    pd.testing.assert_frame_equal(frame, SCHEMA.model_frame(pd.DataFrame(rows)))


def test_columns_are_float64_and_str():
    batch = validate([row(age=None, member=False, city=None)], SCHEMA)
    assert batch.n_rows == 1
    assert np.isnan(batch.columns["age"][0])
    assert batch.columns["member"].dtype == np.float64 and batch.columns["member"][0] == 0.0
    assert batch.columns["city"].tolist() == [""]
    assert all(type(v) is str for v in batch.columns["plan"])


def test_one_row_with_the_entity_is_checked_like_many_rows():
    entity = frozenset(["engine_id"])
    one = validate([{**GOOD, "engine_id": 7}], SCHEMA, entity)
    many = validate([{**GOOD, "engine_id": 7}, {**GOOD, "engine_id": 8}], SCHEMA, entity)
    for name in SCHEMA.names:
        assert one.columns[name].tolist() == many.columns[name][:1].tolist()
        assert one.columns[name].flags.c_contiguous
    with pytest.raises(InputError, match="stray"):  # a key that is neither is still refused
        validate([{**GOOD, "engine_id": 7, "stray": 1}], SCHEMA, entity)


def test_the_entity_is_required_and_may_not_be_null():
    entity = frozenset(["engine_id"])
    with pytest.raises(InputError, match=r"row 1: missing column 'engine_id' \('engine_id': "
                                         r"the entity"):
        validate([{**GOOD, "engine_id": 7}, GOOD], SCHEMA, entity, ("engine_id",))
    with pytest.raises(InputError, match=r"row 0, column 'engine_id': null, but every row "
                                         r"needs it") as caught:
        validate([{**GOOD, "engine_id": None}], SCHEMA, entity, ("engine_id",))
    assert caught.value.status == 422 and caught.value.problems[0]["column"] == "engine_id"


def test_one_object_is_one_row_and_a_list_is_many():
    assert rows_of(GOOD, 5) == [GOOD]
    assert rows_of([GOOD, GOOD], 5) == [GOOD, GOOD]


def test_problems_are_reported_in_row_order_and_capped():
    rows = [row(city=1, age="x") for _ in range(MAX_PROBLEMS)]
    with pytest.raises(InputError) as caught:
        validate(rows, SCHEMA)
    error = caught.value
    assert error.status == 422
    first = "invalid values; first: row 0, column 'age'"
    assert error.headline.startswith(f"{2 * MAX_PROBLEMS} {first}")
    assert len(error.problems) == MAX_PROBLEMS
    assert [(p["row"], p["column"]) for p in error.problems[:3]] == [
        (0, "age"), (0, "city"), (1, "age")]


def test_long_lists_of_missing_names_are_shortened():
    schema = Schema(tuple(Column(f"c{i}", "number") for i in range(8)))
    with pytest.raises(InputError, match=r"row 0: missing columns 'c0', 'c1', 'c2', 'c3', 'c4' "
                                         r"and 3 more$"):
        validate([{}], schema)


def test_long_values_are_shortened_in_the_message():
    with pytest.raises(InputError) as caught:
        validate([row(income="z" * 500)], SCHEMA)
    assert len(caught.value.headline) < 150
    assert len(caught.value.problems[0]["value"]) < 110


def test_input_error_renders_like_other_shipyard_errors():
    with pytest.raises(InputError) as caught:
        parse(b'{"a": }')
    assert str(caught.value).splitlines() == [
        "malformed JSON at line 1, column 7: Expecting value", "  Expecting value"]


def test_many_rows_checked_at_once_equal_the_value_by_value_check():
    rows = raw_rows(40, seed=7)
    rows[3]["age"] = 41.0  # an integral float is an integer
    rows[5]["income"] = 12  # an int is a number
    many = validate(rows, SCHEMA)
    one_by_one = [validate([row], SCHEMA) for row in rows]
    for name, column in many.columns.items():
        expected = np.concatenate([b.columns[name] for b in one_by_one])
        if column.dtype == object:
            assert column.tolist() == expected.tolist(), name
        else:
            np.testing.assert_array_equal(column, expected, err_msg=name)


@pytest.mark.parametrize(("column", "value", "message"), [
    ("age", 2.5, "column 'age': expected an integer or null, got 2.5"),
    ("income", True, "column 'income': expected a number or null, got true"),
    ("income", 10**400, "got an integer too large for float64"),
    ("member", 1, "column 'member': expected true, false or null, got 1"),
    ("city", 3, "column 'city': expected a string or null, got 3"),
])
def test_a_bad_value_among_many_rows_is_named_like_in_one_row(column, value, message):
    rows = raw_rows(30, seed=8)
    rows[17][column] = value
    with pytest.raises(InputError) as caught:
        validate(rows, SCHEMA)
    assert caught.value.status == 422
    assert caught.value.headline == f"row 17, {message}" or message in caught.value.headline
