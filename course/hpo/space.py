"""Search spaces: which hyperparameters a search may set, over which ranges.

A :class:`SearchSpace` is an ordered list of parameters. Each parameter knows how to

* sample a value (uniformly on its own scale),
* list the values of a grid with ``n`` points (:meth:`Parameter.grid_values`),
* map a value to the unit interval and back (:meth:`Parameter.to_unit`,
  :meth:`Parameter.from_unit`), which is the coordinate system the model-based
  samplers (GP-BO, TPE) work in.

A parameter may be *conditional*: ``Float("gamma", 1e-4, 10, log=True,
when={"kernel": "rbf"})`` exists only in configurations whose ``kernel`` is ``"rbf"``.
A configuration is a plain ``dict`` holding exactly the active parameters.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["Parameter", "Float", "Int", "Categorical", "SearchSpace"]


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a parameter name must be a non-empty str, got {name!r}")
    return name


def _normalise_condition(owner: str, when: Mapping[str, Any] | None) -> dict[str, tuple]:
    """``{"kernel": "rbf"}`` or ``{"kernel": ["rbf", "poly"]}`` -> ``{"kernel": ("rbf",)}``."""
    if when is None:
        return {}
    if not isinstance(when, Mapping) or not when:
        raise ValueError(
            f"parameter {owner!r}: `when` must be a non-empty dict such as "
            f"{{'kernel': 'rbf'}}, got {when!r}"
        )
    condition = {}
    for parent, allowed in when.items():
        values = tuple(allowed) if isinstance(allowed, (list, tuple, set, frozenset)) else (allowed,)
        if not values:
            raise ValueError(f"parameter {owner!r}: the condition on {parent!r} allows no value")
        condition[_check_name(parent)] = values
    return condition


class Parameter(ABC):
    """One hyperparameter. Subclasses define its scale; this base class its condition.

    Parameters
    ----------
    name : str
        The key of this parameter in a configuration dict.
    when : dict, optional
        The condition under which the parameter exists: a mapping from the name of
        an earlier parameter to the value (or list of values) it must take. Several
        entries must all hold. ``None`` means the parameter always exists.
    """

    def __init__(self, name: str, when: Mapping[str, Any] | None = None) -> None:
        self.name = _check_name(name)
        self.when = _normalise_condition(self.name, when)

    def is_active(self, config: Mapping[str, Any]) -> bool:
        """Whether this parameter exists given the (partial) configuration ``config``."""
        return all(parent in config and config[parent] in allowed
                   for parent, allowed in self.when.items())

    def sample(self, rng: np.random.Generator) -> Any:
        """Draw a value uniformly on the parameter's own scale."""
        return self.from_unit(rng.random())

    @abstractmethod
    def grid_values(self, n: int) -> list:
        """The values a grid with ``n`` points per dimension uses for this parameter."""

    @abstractmethod
    def to_unit(self, value: Any) -> float:
        """Map a value to [0, 1] (the inverse of :meth:`from_unit` on valid values)."""

    @abstractmethod
    def from_unit(self, u: float) -> Any:
        """Map ``u`` in [0, 1] to a value; uniform ``u`` gives a uniform value."""

    @abstractmethod
    def check(self, value: Any) -> None:
        """Raise ``ValueError`` if ``value`` is not a valid value of this parameter."""

    def _condition_repr(self) -> str:
        if not self.when:
            return ""
        parts = {p: (v[0] if len(v) == 1 else list(v)) for p, v in self.when.items()}
        return f", when={parts!r}"


def _check_grid_size(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"points per dimension must be a positive int, got {n!r}")
    return int(n)


class _Numeric(Parameter):
    """Shared range checks of :class:`Float` and :class:`Int`."""

    kind = "numeric"

    def __init__(self, name, low, high, *, log=False, when=None):
        super().__init__(name, when)
        for label, bound in (("low", low), ("high", high)):
            if isinstance(bound, bool) or not isinstance(bound, (int, float, np.number)):
                raise ValueError(f"{self.kind} {self.name!r}: {label} must be a number, got {bound!r}")
            if not math.isfinite(bound):
                raise ValueError(f"{self.kind} {self.name!r}: {label} must be finite, got {bound!r}")
        if low >= high:
            raise ValueError(
                f"{self.kind} {self.name!r}: low must be < high, got low={low!r}, high={high!r}"
            )
        if log and low <= 0:
            raise ValueError(f"{self.kind} {self.name!r}: a log scale needs low > 0, got low={low!r}")
        self.low, self.high, self.log = low, high, bool(log)

    def check(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise ValueError(f"{self.kind} {self.name!r}: expected a number, got {value!r}")
        if not self.low <= value <= self.high:
            raise ValueError(
                f"{self.kind} {self.name!r}: {value!r} is outside [{self.low}, {self.high}]"
            )

    def __repr__(self) -> str:
        log = ", log=True" if self.log else ""
        return f"{type(self).__name__}({self.name!r}, {self.low!r}, {self.high!r}{log}{self._condition_repr()})"


class Float(_Numeric):
    """A real-valued parameter on ``[low, high]``, on a linear or a log scale.

    Examples
    --------
    >>> Float("learning_rate", 1e-4, 1e-1, log=True).grid_values(4)
    [0.0001, 0.001, 0.01, 0.1]
    """

    kind = "Float"

    def __init__(self, name: str, low: float, high: float, *, log: bool = False,
                 when: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, low, high, log=log, when=when)
        self.low, self.high = float(low), float(high)

    def grid_values(self, n: int) -> list[float]:
        n = _check_grid_size(n)
        if n == 1:
            return [self.from_unit(0.5)]
        points = np.geomspace(self.low, self.high, n) if self.log else np.linspace(self.low, self.high, n)
        return [float(x) for x in points]

    def to_unit(self, value: float) -> float:
        if self.log:
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> float:
        u = float(u)
        if u <= 0.0:
            return self.low
        if u >= 1.0:
            return self.high
        if self.log:
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        return min(max(value, self.low), self.high)  # exp/log round-off must not leave the range


class Int(_Numeric):
    """An integer parameter on ``{low, ..., high}``, on a linear or a log scale.

    On the unit interval each integer owns a cell: equal cells on a linear scale,
    cells of equal width in ``log`` on a log scale (so small values get wider cells).
    """

    kind = "Int"

    def __init__(self, name: str, low: int, high: int, *, log: bool = False,
                 when: Mapping[str, Any] | None = None) -> None:
        for label, bound in (("low", low), ("high", high)):
            if isinstance(bound, (float, np.floating)) and not float(bound).is_integer():
                raise ValueError(f"Int {name!r}: {label} must be an integer, got {bound!r}")
        super().__init__(name, low, high, log=log, when=when)
        self.low, self.high = int(low), int(high)

    def _edges(self) -> tuple[float, float]:
        """The continuous interval that the integer cells tile."""
        lo, hi = self.low - 0.5, self.high + 0.5
        return (math.log(lo), math.log(hi)) if self.log else (lo, hi)

    def grid_values(self, n: int) -> list[int]:
        n = _check_grid_size(n)
        if self.log:
            raw = [math.exp(x) for x in np.linspace(math.log(self.low), math.log(self.high), n)]
        else:
            raw = list(np.linspace(self.low, self.high, n))
        if n == 1:
            raw = [self.from_unit(0.5)]
        return sorted({int(round(x)) for x in raw})

    def check(self, value: Any) -> None:
        super().check(value)
        if float(value) != int(value):
            raise ValueError(f"Int {self.name!r}: expected an integer, got {value!r}")

    def to_unit(self, value: int) -> float:
        lo, hi = self._edges()
        x = math.log(value) if self.log else float(value)
        return (x - lo) / (hi - lo)

    def from_unit(self, u: float) -> int:
        lo, hi = self._edges()
        x = lo + min(max(float(u), 0.0), 1.0) * (hi - lo)
        value = math.exp(x) if self.log else x
        # floor(v + 0.5) rounds half up on both scales, so every cell maps to its own integer
        return min(max(int(math.floor(value + 0.5)), self.low), self.high)


class Categorical(Parameter):
    """A parameter that takes one of a finite list of ``choices`` (no order assumed)."""

    def __init__(self, name: str, choices: Sequence[Any], *,
                 when: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, when)
        if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence):
            raise ValueError(f"Categorical {self.name!r}: choices must be a list, got {choices!r}")
        if len(choices) == 0:
            raise ValueError(f"Categorical {self.name!r}: choices must not be empty")
        if len(set(map(repr, choices))) != len(choices):
            raise ValueError(f"Categorical {self.name!r}: choices must be distinct, got {list(choices)!r}")
        self.choices = list(choices)

    def index(self, value: Any) -> int:
        """Position of ``value`` in :attr:`choices`."""
        for i, choice in enumerate(self.choices):
            if choice == value and type(choice) is type(value):
                return i
        for i, choice in enumerate(self.choices):
            if choice == value:
                return i
        raise ValueError(f"Categorical {self.name!r}: {value!r} is not one of {self.choices!r}")

    def grid_values(self, n: int) -> list:
        _check_grid_size(n)
        return list(self.choices)  # a grid always lists every choice

    def check(self, value: Any) -> None:
        self.index(value)

    def to_unit(self, value: Any) -> float:
        return (self.index(value) + 0.5) / len(self.choices)

    def from_unit(self, u: float) -> Any:
        k = len(self.choices)
        return self.choices[min(int(min(max(float(u), 0.0), 1.0) * k), k - 1)]

    def __repr__(self) -> str:
        return f"Categorical({self.name!r}, {self.choices!r}{self._condition_repr()})"


class SearchSpace:
    """An ordered collection of parameters; a parent must come before its children.

    Parameters
    ----------
    parameters : sequence of Parameter
        The hyperparameters, in order. Names must be unique, and a parameter's
        condition may only refer to parameters listed before it.

    Examples
    --------
    >>> space = SearchSpace([
    ...     Categorical("kernel", ["linear", "rbf"]),
    ...     Float("C", 1e-2, 1e2, log=True),
    ...     Float("gamma", 1e-4, 1e0, log=True, when={"kernel": "rbf"}),
    ... ])
    >>> space.sample(np.random.default_rng(0))["kernel"] in ("linear", "rbf")
    True
    >>> sorted(space.sample(np.random.default_rng(1)))   # doctest: +SKIP
    ['C', 'kernel']
    """

    def __init__(self, parameters: Sequence[Parameter]) -> None:
        if isinstance(parameters, Parameter):
            parameters = [parameters]
        parameters = list(parameters)
        if not parameters:
            raise ValueError("a SearchSpace needs at least one parameter")
        seen: dict[str, Parameter] = {}
        for param in parameters:
            if not isinstance(param, Parameter):
                raise ValueError(f"expected Float, Int or Categorical parameters, got {param!r}")
            if param.name in seen:
                raise ValueError(f"duplicate parameter name {param.name!r}")
            for parent, allowed in param.when.items():
                if parent not in seen:
                    where = "a later" if parent in {p.name for p in parameters} else "an unknown"
                    raise ValueError(
                        f"parameter {param.name!r}: its condition refers to {where} "
                        f"parameter {parent!r}; list parents before their children"
                    )
                for value in allowed:
                    try:
                        seen[parent].check(value)
                    except ValueError as err:
                        raise ValueError(
                            f"parameter {param.name!r}: its condition can never hold ({err})"
                        ) from None
            seen[param.name] = param
        self._params = seen

    # -- the collection ---------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self._params)

    @property
    def is_conditional(self) -> bool:
        return any(p.when for p in self)

    def __len__(self) -> int:
        return len(self._params)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._params.values())

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __getitem__(self, name: str) -> Parameter:
        try:
            return self._params[name]
        except KeyError:
            raise KeyError(f"unknown parameter {name!r}; the space has {self.names}") from None

    def __repr__(self) -> str:
        inner = ",\n    ".join(map(repr, self))
        return f"SearchSpace([\n    {inner},\n])"

    # -- configurations ---------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw one configuration: every active parameter uniformly on its scale.

        One uniform number is drawn per parameter, active or not, so a given ``rng``
        state always yields the same configuration.
        """
        return self.from_unit(rng.random(len(self)))

    def from_unit(self, u: Sequence[float] | np.ndarray) -> dict[str, Any]:
        """Map a point of the unit cube (one coordinate per parameter) to a configuration.

        Coordinates of parameters that turn out inactive are ignored (they may be NaN).
        """
        u = np.asarray(u, dtype=float)
        if u.shape != (len(self),):
            raise ValueError(f"expected {len(self)} unit coordinates, got shape {u.shape}")
        config: dict[str, Any] = {}
        for param, coordinate in zip(self, u):
            if param.is_active(config):
                if not np.isfinite(coordinate):
                    raise ValueError(f"unit coordinate of active parameter {param.name!r} is {coordinate}")
                config[param.name] = param.from_unit(coordinate)
        return config

    def to_unit(self, config: Mapping[str, Any]) -> np.ndarray:
        """Map a configuration to the unit cube; inactive parameters become NaN."""
        self.validate(config)
        return np.array([param.to_unit(config[param.name]) if param.name in config else np.nan
                         for param in self])

    def active_names(self, config: Mapping[str, Any]) -> list[str]:
        """Names of the parameters active in ``config``, in order."""
        active: dict[str, Any] = {}
        for param in self:
            if param.is_active(active) and param.name in config:
                active[param.name] = config[param.name]
        return list(active)

    def validate(self, config: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` unless ``config`` holds exactly the active parameters, each valid."""
        if not isinstance(config, Mapping):
            raise ValueError(f"a configuration must be a dict, got {type(config).__name__}")
        unknown = [name for name in config if name not in self._params]
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown}; the space has {self.names}")
        partial: dict[str, Any] = {}
        for param in self:
            active = param.is_active(partial)
            if active and param.name not in config:
                raise ValueError(f"parameter {param.name!r} is active but missing from {dict(config)!r}")
            if not active and param.name in config:
                raise ValueError(
                    f"parameter {param.name!r} is given but inactive: it needs {param.when!r}"
                )
            if active:
                param.check(config[param.name])
                partial[param.name] = config[param.name]
