"""Test cells judged in a trusted process: the learner's code runs only in its kernel.

nbgrader executes the learner's notebook in the sandboxed kernel with the hidden tests
taken out of every test cell, so the kernel never receives them (nor can a hook print
them). After the kernel has run a test cell (its visible tests, for the learner's
feedback), :class:`JudgedExecute` runs the *whole* source test cell, hidden tests
included, in nbgrader's own process, which never executes learner code:

* the instructor's cells that do not use the learner's functions (imports, data,
  constants) are run here too, so the tests find the names they use;
* each of the learner's functions is a :class:`Remote`: calling it sends the arguments to
  the kernel (as a pickle: trusted data going to the untrusted side) and gets the result
  back as plain data (:func:`decode`: numbers, strings, lists, dicts, tuples, NumPy arrays
  of plain dtypes, data frames, tensors; never an unpickled object, never an object whose
  ``__eq__`` the learner wrote). What plain data cannot hold (a fitted pipeline) stays in
  the kernel as a :class:`Remote` handle whose attributes and methods are again remote;
* a function of the tests passed to the learner's code (an objective) stays here: the
  kernel calls back through Jupyter's stdin channel with plain arguments;
* a learner's exception comes back as its type (builtin types only) and message.

A test that fails here adds an error to the cell's outputs, so nbgrader scores the cell 0
and the feedback says why; what the kernel itself claims about the tests never counts.
The test cells therefore verdict exactly as they would in one process, and a learner's
code can only influence the data its functions return.
"""

from __future__ import annotations

import base64
import builtins
import io
import json
import pickle
import re
import sys
import time
import types
from pathlib import Path

import numpy as np
from traitlets import Unicode

from .execute import CappedExecute

MIME = "text/x-autograder-judge"
MAX_REPLY_CHARACTERS = 256 * 2**20
MAX_DEPTH = 100
PLAIN_DTYPE = re.compile(r"[<>|=]?(b1|[iu][1248]|f[248]|c(8|16)|U\d{1,6})")
AGENT_SOURCE = (Path(__file__).with_name("kernel_side.py")).read_text()
SAFE_ERRORS = {e.__name__: e for e in (
    ArithmeticError, AssertionError, AttributeError, FloatingPointError, IndexError, KeyError,
    LookupError, MemoryError, NameError, NotImplementedError, OverflowError, RecursionError, RuntimeError,
    StopIteration, TypeError, ValueError, ZeroDivisionError)}


class JudgeError(Exception):
    """The kernel did not answer as the judge asked (died, timed out, sent no data)."""


class LearnerError(Exception):
    """An exception of a type the judge does not recreate, raised by the learner's code."""


class Remote:
    """A learner's function or object, living in the kernel; every use is a request."""

    __slots__ = ("_judge", "_ref", "_label")

    def __init__(self, judge: "Judge", ref: tuple, label: str):
        object.__setattr__(self, "_judge", judge)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_label", label)

    def __call__(self, *args, **kwargs):
        return self._judge.request("call", self, args, kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._judge.request("getattr", self, name)

    def __getitem__(self, key):
        return self._judge.request("getitem", self, key)

    def __len__(self) -> int:
        value = self._judge.request("len", self)
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("len() of the learner's object is not an int")
        return value

    def __iter__(self):
        value = self._judge.request("list", self)
        if not isinstance(value, list):
            raise TypeError("the learner's object did not iterate to a list")
        return iter(value)

    def __repr__(self) -> str:
        return f"<{self._label}, in the learner's kernel>"

    def __remote_apply__(self, func, *args, **kwargs):
        """``func(self, *args, **kwargs)`` run in the kernel, ``func`` sent by reference."""
        return self._judge.request("call", func, (self, *args), kwargs)


def _importable(func) -> bool:
    module = sys.modules.get(getattr(func, "__module__", None) or "")
    target = module
    for part in getattr(func, "__qualname__", "<>").split("."):
        target = getattr(target, part, None)
    return target is func


class _Pickler(pickle.Pickler):
    def __init__(self, file, judge: "Judge"):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.judge = judge

    def persistent_id(self, obj):
        if isinstance(obj, Remote):
            return obj._ref
        if isinstance(obj, types.ModuleType):
            return ("module", obj.__name__)
        if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)) and not _importable(obj):
            self.judge.callbacks.append(obj)
            return ("callback", len(self.judge.callbacks) - 1)
        return None


def decode(data, judge: "Judge | None" = None, depth: int = 0):
    """Plain data from the kernel, rebuilt; anything not in the format raises ``JudgeError``."""
    if depth > MAX_DEPTH:
        raise JudgeError("the learner's answer is nested too deeply")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v, judge, depth + 1) for v in data]
    if not isinstance(data, dict) or len(data) != 1:
        raise JudgeError("the learner's answer is not in the judge's format")
    (tag, value), = data.items()
    again = lambda v: decode(v, judge, depth + 1)  # noqa: E731
    if tag == "__tuple__" and isinstance(value, list):
        return tuple(again(v) for v in value)
    if tag == "__set__" and isinstance(value, list):
        return set(again(v) for v in value)
    if tag == "__dict__" and isinstance(value, list):
        return {again(k): again(v) for k, v in value}
    if tag == "__ndarray__":
        return _ndarray(value)
    if tag == "__npscalar__":
        return _ndarray(value)[()]
    if tag == "__objarray__" and isinstance(value, list) and len(value) == 2:
        items = again(value[1])
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out.reshape(_shape(value[0]))
    if tag == "__tensor__":
        import torch
        return torch.from_numpy(_ndarray(value))
    if tag in ("__dataframe__", "__series__", "__index__"):
        import pandas as pd
        if tag == "__index__":
            return pd.Index(again(value))
        if tag == "__series__":
            name, index, values = value
            return pd.Series(again(values), index=again(index), name=again(name))
        columns, index, values = value
        frame = pd.DataFrame({i: again(v) for i, v in enumerate(values)}, index=again(index))
        frame.columns = again(columns) if values else []
        return frame
    if tag == "__handle__" and judge is not None:
        number, type_name = value
        if not isinstance(number, int) or not isinstance(type_name, str):
            raise JudgeError("a malformed handle")
        return Remote(judge, ("handle", number), f"a {type_name[:200]}")
    raise JudgeError(f"the learner's answer holds an unknown kind of data ({str(tag)[:40]!r})")


def _shape(shape) -> tuple[int, ...]:
    if not isinstance(shape, list) or len(shape) > 32 or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise JudgeError("a malformed array shape")
    return tuple(shape)


def _ndarray(value) -> np.ndarray:
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and PLAIN_DTYPE.fullmatch(value[0]) and isinstance(value[2], str)):
        raise JudgeError("a malformed array")
    dtype, shape = np.dtype(value[0]), _shape(value[1])
    raw = base64.b64decode(value[2], validate=True)
    if len(raw) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise JudgeError("an array whose size does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


class Judge:
    """The trusted namespace in which one notebook's test cells run.

    ``send(code, on_stdin, timeout)`` executes code in the kernel and returns the data
    displayed under :data:`MIME` (or raises ``JudgeError``); the executor provides it.
    """

    def __init__(self, send, exercises: list[str], seconds: float):
        self.send, self.exercises, self.seconds = send, list(exercises), seconds
        self.namespace: dict = {"__name__": "__judge__", "__builtins__": builtins}
        self.callbacks: list = []
        self.deadline = float("inf")
        self.agent_ready = False

    # -- running the instructor's code -----------------------------------------------------

    def run_setup(self, source: str) -> None:
        """An instructor cell that does not use the learner's code: run here as well."""
        try:
            exec(compile(_without_magics(source), "<instructor cell>", "exec"), self.namespace)
        except Exception:   # noqa: BLE001 - a test that needs what failed here fails itself
            pass

    def run_test(self, source: str) -> BaseException | None:
        """Run a whole test cell here; return what it raised (``None``: passed)."""
        for name in self.exercises:
            self.namespace[name] = Remote(self, ("name", name), f"the learner's {name}")
        self.deadline = time.monotonic() + self.seconds
        self.callbacks.clear()
        try:
            exec(compile(_without_magics(source), "<test cell>", "exec"), self.namespace)
        except Exception as err:   # noqa: BLE001 - the verdict
            return err
        return None

    # -- talking to the kernel -----------------------------------------------------------------

    def request(self, op: str, target, arg=None, kwargs=None):
        if not self.agent_ready:
            self.send(f"__autograder_judge_ns__ = {{}}\nexec({AGENT_SOURCE!r}, __autograder_judge_ns__)\n"
                      "__autograder_judge__ = __autograder_judge_ns__['Agent'](lambda: get_ipython().user_ns)",
                      self._answer_callback, self._left())
            self.agent_ready = True
        text = self._pickle((op, target, arg, kwargs or {}))
        return self._reply(self.send(f"__autograder_judge__.handle({text!r})", self._answer_callback,
                                     self._left()))

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise JudgeError("took longer than the time limit of a cell")
        return left

    def _pickle(self, obj) -> str:
        buffer = io.BytesIO()
        _Pickler(buffer, self).dump(obj)
        return base64.b64encode(buffer.getvalue()).decode()

    def _reply(self, text: str | None):
        if text is None:
            raise JudgeError("the kernel gave no answer (was the judge's agent replaced?)")
        if not isinstance(text, str) or len(text) > MAX_REPLY_CHARACTERS:
            raise JudgeError("the learner's answer is too large")
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):
            raise JudgeError("the learner's answer is not in the judge's format") from None
        if not isinstance(payload, dict) or len(payload) != 1:
            raise JudgeError("the learner's answer is not in the judge's format")
        if "error" in payload:
            ename, message = (payload["error"] + ["", ""])[:2] if isinstance(payload["error"], list) else ("", "")
            ename, message = str(ename)[:100], str(message)[:2000]
            raise SAFE_ERRORS.get(ename, LearnerError)(message if ename in SAFE_ERRORS else f"{ename}: {message}")
        if "ok" not in payload:
            raise JudgeError("the learner's answer is not in the judge's format")
        return decode(payload["ok"], self)

    def _answer_callback(self, prompt: str) -> str:
        """The kernel asks for one of the tests' functions (an objective) to be called."""
        try:
            request = json.loads(prompt)
            func = self.callbacks[request["callback"]]
            args, kwargs = decode(request["args"], self), decode(request["kwargs"], self)
            answer = ("ok", func(*args, **kwargs))
        except Exception as err:   # noqa: BLE001 - the kernel's call fails, with the reason
            answer = ("error", f"{type(err).__name__}: {str(err)[:500]}")
        return self._pickle(answer)


def _without_magics(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


class JudgedExecute(CappedExecute):
    """nbgrader's execution with every test cell judged in this (trusted) process."""

    judge_file = Unicode("", help="JSON written by the grader: per notebook, the test cells' "
                                  "sources, the instructor cells to mirror and the exercises").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        plan = json.loads(Path(self.judge_file).read_text()) if self.judge_file else {}
        where = (resources or {}).get("nbgrader", {})
        self._plan = plan.get(f"{where.get('assignment')}/{where.get('notebook')}.ipynb")
        if self._plan and not self._plan["tests"]:
            self._plan = None                  # nothing graded here (a tour): nothing to judge
        if self._plan:
            self._judge = Judge(self._send, self._plan["exercises"], float(self.timeout or 120))
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        if not self._plan or cell.cell_type != "code":
            return cell, resources
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in self._plan["tests"]:
            failure = self._judge.run_test(self._plan["tests"][grade_id])
            if failure is not None:
                cell.outputs.append(_error_output(failure))
        elif cell.get("id") in self._plan["mirror"]:
            self._judge.run_setup(cell.source)
        return cell, resources

    def _send(self, code: str, on_stdin, timeout: float) -> str | None:
        from jupyter_core.utils import run_sync

        answers: list[str] = []

        def on_output(msg):
            data = msg.get("content", {}).get("data", {})
            if msg.get("msg_type") == "display_data" and isinstance(data.get(MIME), str):
                answers.append(data[MIME])

        def on_input(msg):
            self.kc.input(on_stdin(msg["content"].get("prompt", "")))

        try:
            run_sync(self.kc.execute_interactive)(code, store_history=False, allow_stdin=True,
                                                  output_hook=on_output, stdin_hook=on_input, timeout=timeout)
        except TimeoutError:
            run_sync(self.km.interrupt_kernel)()
            raise JudgeError("took longer than the time limit of a cell") from None
        return answers[-1] if answers else None


def _error_output(err: BaseException):
    from nbformat.v4 import new_output

    ename = "CellTimeoutError" if isinstance(err, JudgeError) and "time limit" in str(err) else type(err).__name__
    evalue = str(err)[:2000]
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def autograde_preprocessors() -> list:
    """nbgrader's autograde steps with :class:`JudgedExecute` in place of ``Execute``."""
    from nbgrader.converters.autograde import Autograde
    from nbgrader.preprocessors import Execute

    default = Autograde.class_traits()["autograde_preprocessors"].default()
    return [JudgedExecute if step is Execute else step for step in default]
