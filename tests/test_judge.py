"""The judge's side of the boundary: what comes back from the learner's kernel is plain data.

The agent (``autograder/kernel_side.py``) encodes in the kernel; :func:`decode` rebuilds in
the trusted process and refuses anything outside the format. Here the two meet directly,
without a kernel; the hostile class (tests/test_hostile_submissions.py) runs them for real.
"""

import base64
import json
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from autograder import kernel_side
from autograder.judge import Judge, JudgeError, LearnerError, Remote, decode


def roundtrip(obj):
    agent = kernel_side.Agent(lambda: {})
    return decode(json.loads(json.dumps(agent.encode(obj), allow_nan=True)), Judge(None, [], 1.0))


@pytest.mark.parametrize("value", [
    None, True, 3, -2.5, float("inf"), "text", [1, [2, "a"]], (1, (2.0, None)), {"a": 1, 2: (3,)}, {1, 2},
])
def test_plain_python_values_round_trip(value):
    assert roundtrip(value) == value and type(roundtrip(value)) is type(value)


def test_nan_arrays_scalars_frames_and_tensors_round_trip():
    assert np.isnan(roundtrip(float("nan")))
    for array in (np.arange(6, dtype=np.int32).reshape(2, 3), np.array([0.5, np.nan]), np.array([True]),
                  np.array(["ab", "c"]), np.zeros((0, 4)), np.array([1 + 2j])):
        back = roundtrip(array)
        assert back.dtype == array.dtype and back.shape == array.shape
        np.testing.assert_array_equal(back, array)
    assert roundtrip(np.float32(1.5)) == np.float32(1.5) and roundtrip(np.float32(1.5)).dtype == np.float32
    objects = roundtrip(np.array([1, "a", None], dtype=object))
    assert objects.dtype == object and objects.tolist() == [1, "a", None]
    frame = pd.DataFrame({"x": [1.0, 2.0], "name": ["a", "b"]}, index=[10, 20])
    pd.testing.assert_frame_equal(roundtrip(frame), frame)
    series = pd.Series([1, 2], index=["a", "b"], name="s")
    pd.testing.assert_series_equal(roundtrip(series), series)
    tensor = torch.arange(4, dtype=torch.float32).reshape(2, 2)
    assert torch.equal(roundtrip(tensor), tensor) and roundtrip(tensor).dtype == torch.float32


def test_what_plain_data_cannot_hold_stays_behind_a_handle_equal_only_to_itself():
    class Anything:
        def __eq__(self, other):
            return True

    back = roundtrip(Anything())
    assert isinstance(back, Remote) and "Anything" in repr(back)
    assert back != 3 and not (back == 3) and back == back


@pytest.mark.parametrize("data, message", [
    ({"__ndarray__": ["O", [1], ""]}, "malformed array"),                      # object dtype as bytes
    ({"__ndarray__": ["<f8", [3], base64.b64encode(b"x" * 16).decode()]}, "does not match"),
    ({"__ndarray__": ["<f8", [-1], ""]}, "shape"),
    ({"__reduce__": ["os.system", ["echo pwned"]]}, "unknown kind"),
    ({"__tuple__": [1], "__set__": [2]}, "format"),
    ({"__handle__": ["1", "x"]}, "malformed handle"),
])
def test_anything_outside_the_format_is_refused(data, message):
    with pytest.raises(JudgeError, match=message):
        decode(data, Judge(None, [], 1.0))


def test_nesting_bombs_are_refused_not_crashed():
    deep = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(JudgeError, match="nested too deeply"):
        decode(deep)
    judge = Judge(None, [], 1.0)
    with pytest.raises(JudgeError, match="format"):
        judge._reply("[" * 100_000 + "]" * 100_000)


def test_learner_exceptions_come_back_as_builtin_types_or_a_learner_error():
    judge = Judge(None, [], 1.0)
    with pytest.raises(ValueError, match="no model"):
        judge._reply(json.dumps({"error": ["ValueError", "no model"]}))
    with pytest.raises(LearnerError, match="MyError: boom"):
        judge._reply(json.dumps({"error": ["MyError", "boom"]}))
    with pytest.raises(JudgeError, match="no answer"):
        judge._reply(None)


def test_a_function_of_the_tests_is_called_back_not_shipped():
    judge = Judge(None, [], 1.0)
    calls = []

    def objective(x):
        calls.append(x)
        return x * 2

    agent = kernel_side.Agent(lambda: {})
    stand_in = agent.load(judge._pickle(objective))
    answer = {}
    kernel_side.input = lambda prompt: answer.setdefault("reply", judge._answer_callback(prompt))
    try:
        assert stand_in(21) == 42
    finally:
        del kernel_side.input
    assert calls == [21]
    assert pickle.loads(base64.b64decode(judge._pickle(abs))) is abs        # importable: by reference
