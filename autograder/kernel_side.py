"""The judge's agent inside the learner's kernel (the untrusted side).

The judge (:mod:`autograder.judge`) sends this file's source to the kernel once and then
asks it, one request at a time, to call a learner's function or to look into an object
the learner's code returned. Requests come from the trusted side as pickles (trusted
data: unpickling them here is no risk to the grader). Answers go back as plain data only
(JSON with tagged NumPy arrays, tuples, data frames, tensors); anything else stays here
and is named by a handle. Nothing here can change a verdict: the learner may replace this
whole agent, and the judge then receives data it checks like any other.
"""

import base64
import io
import json
import pickle
import sys

MIME = "text/x-autograder-judge"
PLAIN_KINDS = "biufcU"      # NumPy dtypes that travel as raw bytes


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, agent: "Agent"):
        super().__init__(io.BytesIO(data))
        self.agent = agent

    def persistent_load(self, pid):
        kind, value = pid
        if kind == "name":
            if value not in self.agent.namespace():
                raise NameError(f"name {value!r} is not defined")
            return self.agent.namespace()[value]
        if kind == "handle":
            return self.agent.handles[value]
        if kind == "callback":
            return self.agent.callback(value)
        if kind == "module":
            import importlib
            return importlib.import_module(value)
        raise pickle.UnpicklingError(f"unknown reference {kind!r}")


def _array(a) -> dict:
    return {"__ndarray__": [a.dtype.str, list(a.shape), base64.b64encode(a.tobytes()).decode()]}


class Agent:
    def __init__(self, namespace):
        self.namespace = namespace
        self.handles: dict = {}

    def load(self, text: str):
        return _Unpickler(base64.b64decode(text), self).load()

    def callback(self, number: int):
        """A stand-in for a function of the judge's (an objective): each call asks the judge."""
        agent = self

        def ask_the_judge(*args, **kwargs):
            prompt = json.dumps({"callback": number, "args": agent.encode(list(args)),
                                 "kwargs": agent.encode(kwargs)}, allow_nan=True)
            status, value = agent.load(input(prompt))
            if status == "error":
                raise RuntimeError(f"the grader's function failed: {value}")
            return value

        return ask_the_judge

    def handle(self, request: str) -> None:
        try:
            op, target, arg, kwargs = self.load(request)
            if op == "call":
                result = target(*arg, **kwargs)
            elif op == "getattr":
                result = getattr(target, arg)
            elif op == "getitem":
                result = target[arg]
            elif op == "len":
                result = len(target)
            elif op == "list":
                result = list(target)
            else:
                raise ValueError(f"unknown request {op!r}")
            payload = {"ok": self.encode(result)}
        except BaseException as err:   # noqa: BLE001 - every failure goes back as data
            payload = {"error": [type(err).__name__, str(err)[:2000]]}
        from IPython.display import publish_display_data
        publish_display_data({MIME: json.dumps(payload, allow_nan=True)})

    def encode(self, obj):
        """Plain data for ``obj``; a handle for what plain data cannot hold."""
        np = sys.modules.get("numpy")
        pd = sys.modules.get("pandas")
        torch = sys.modules.get("torch")
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v) for v in obj]}
        if isinstance(obj, list):
            return [self.encode(v) for v in obj]
        if isinstance(obj, (set, frozenset)):
            return {"__set__": [self.encode(v) for v in obj]}
        if isinstance(obj, dict):
            return {"__dict__": [[self.encode(k), self.encode(v)] for k, v in obj.items()]}
        if np is not None:
            if isinstance(obj, np.ndarray):
                if obj.dtype.kind in PLAIN_KINDS:
                    return _array(obj)
                return {"__objarray__": [list(obj.shape), [self.encode(v) for v in obj.ravel().tolist()]]}
            if isinstance(obj, np.generic) and obj.dtype.kind in PLAIN_KINDS:
                return {"__npscalar__": _array(np.asarray(obj))["__ndarray__"]}
        if pd is not None:
            if isinstance(obj, pd.DataFrame):
                return {"__dataframe__": [self.encode(list(obj.columns)), self.encode(obj.index.to_numpy()),
                                          [self.encode(obj[c].to_numpy()) for c in obj.columns]]}
            if isinstance(obj, pd.Series):
                return {"__series__": [self.encode(obj.name), self.encode(obj.index.to_numpy()),
                                       self.encode(obj.to_numpy())]}
            if isinstance(obj, pd.Index):
                return {"__index__": self.encode(obj.to_numpy())}
        if torch is not None and isinstance(obj, torch.Tensor):
            return {"__tensor__": _array(obj.detach().cpu().numpy())["__ndarray__"]}
        number = len(self.handles)
        self.handles[number] = obj
        return {"__handle__": [number, f"{type(obj).__module__}.{type(obj).__qualname__}"]}
