"""Seeded random search spaces and objectives, for tests that compare an
implementation with the reference on many inputs (pytest and the labs' hidden tests),
and a way to emulate another CPU's rounding."""

from __future__ import annotations

import types
from typing import Any, Callable

import numpy as np

from .hpo.space import Categorical, Float, Int, Parameter, SearchSpace

__all__ = ["random_space", "random_objective", "references_used", "rescaled_by_ulps"]


def random_space(seed: int, *, n_params: int | None = None, conditional: bool = False) -> SearchSpace:
    """A search space with 1-4 (or ``n_params``) parameters of random kinds and ranges.

    With ``conditional=True`` the first parameter is a categorical and some later
    parameters exist only for one of its choices.
    """
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5)) if n_params is None else n_params
    params: list[Parameter] = []
    if conditional:
        params.append(Categorical("branch", ["a", "b", "c"]))
    for i in range(n):
        kind = rng.choice(["float", "logfloat", "int", "logint", "cat"])
        when = {"branch": str(rng.choice(["a", "b"]))} if conditional and rng.random() < 0.5 else None
        name = f"p{i}"
        if kind == "float":
            low = float(np.round(rng.uniform(-5, 5), 3))
            params.append(Float(name, low, low + float(np.round(rng.uniform(0.5, 10), 3)), when=when))
        elif kind == "logfloat":
            low = 10.0 ** int(rng.integers(-5, 0))
            params.append(Float(name, low, low * 10.0 ** int(rng.integers(1, 5)), log=True, when=when))
        elif kind == "int":
            low = int(rng.integers(-10, 10))
            params.append(Int(name, low, low + int(rng.integers(1, 20)), when=when))
        elif kind == "logint":
            low = int(rng.integers(1, 5))
            params.append(Int(name, low, low * int(rng.integers(10, 200)), log=True, when=when))
        else:
            k = int(rng.integers(2, 5))
            params.append(Categorical(name, [f"c{j}" for j in range(k)], when=when))
    return SearchSpace(params)


def random_objective(space: SearchSpace, seed: int) -> Callable[[dict[str, Any]], float]:
    """A smooth random function of a configuration's unit-cube coordinates.

    Inactive parameters contribute nothing, so conditional spaces work too.
    """
    rng = np.random.default_rng(seed)
    centre = rng.random(len(space))
    weight = rng.uniform(0.1, 3.0, len(space))

    def objective(config: dict[str, Any]) -> float:
        u = space.to_unit(config)
        active = ~np.isnan(u)
        return float(np.sum(weight[active] * (u[active] - centre[active]) ** 2))

    return objective


def references_used(func: Callable, *references: Any) -> list[str]:
    """Names through which ``func`` can reach any of ``references``.

    A graded exercise asks the learner to write an algorithm that ``course`` already
    implements; a hidden test uses this to refuse an answer that merely calls the
    reference. It reads the code objects of ``func``, of functions nested in it, and
    of the plain functions of the same module that it calls (so a helper cannot hide
    the call), and reports every global name that is, or is named like, a reference.

    Parameters
    ----------
    func : callable
        The learner's function.
    *references : objects
        The reference functions or classes the answer must not use.

    Returns
    -------
    list of str
        Sorted offending names; empty when the answer stands on its own.
    """
    remote = getattr(type(func), "__remote_apply__", None)
    if remote is not None:
        # a function that lives in another process (the grader's judge holds a proxy of the
        # learner's function): the question is asked where the code is
        return remote(func, references_used, *references)
    if not isinstance(func, types.FunctionType):
        raise ValueError(f"expected a Python function, got {type(func).__name__}")
    forbidden_ids = {id(ref) for ref in references}
    forbidden_names = {getattr(ref, "__name__", None) for ref in references} - {None}
    found: set[str] = set()
    seen: set[int] = set()

    def visit(code: types.CodeType, namespace: dict[str, Any]) -> None:
        if id(code) in seen:
            return
        seen.add(id(code))
        for name in code.co_names:
            target = namespace.get(name)
            if name in forbidden_names or (target is not None and id(target) in forbidden_ids):
                found.add(name)
            elif isinstance(target, types.FunctionType) and target.__module__ == func.__module__:
                visit(target.__code__, target.__globals__)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                visit(const, namespace)

    visit(func.__code__, func.__globals__)
    for cell in func.__closure__ or ():
        try:
            if id(cell.cell_contents) in forbidden_ids:
                found.add(getattr(cell.cell_contents, "__name__", repr(cell.cell_contents)))
        except ValueError:  # an empty cell
            pass
    return sorted(found)


def rescaled_by_ulps(X: Any, seed: int) -> np.ndarray:
    """``X`` with each column multiplied by ``1 + k * eps``, ``k`` drawn from -2, -1, 1, 2 per column.

    Another CPU (other BLAS kernels, other vector instructions) rounds the same computation
    differently in the last bits. A result that changes when its input moves by a few ulps
    (this moves each value by ``|k|`` to ``2|k|`` ulps) hangs on a knife-edge and will not repeat there; one that does not is very likely to.
    Scaling whole columns keeps ties between samples (equal values stay equal), so only the
    rounding of what is computed from them changes.

    Examples
    --------
    >>> X = np.array([[1.0, 3.0], [2.0, 3.0]])
    >>> Y = rescaled_by_ulps(X, seed=0)
    >>> bool(np.all(Y != X)), bool(np.allclose(Y, X, rtol=1e-15, atol=0)), bool(Y[0, 1] == Y[1, 1])
    (True, True, True)
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-d array, got shape {X.shape}")
    steps = np.random.default_rng(seed).choice([-2, -1, 1, 2], size=X.shape[1])
    return X * (1.0 + steps * np.finfo(float).eps)
