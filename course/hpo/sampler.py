"""The one interface every sampler shares: ``ask`` for a configuration, ``tell`` a result.

The loop in :mod:`course.hpo.loop` only ever talks to this interface, so a learner's
sampler, the course's reference samplers and the wrappers around Optuna and
Hyperopt are interchangeable.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .space import SearchSpace

__all__ = ["Trial", "Sampler", "SearchExhausted", "checked_proposal"]


@dataclass(frozen=True)
class Trial:
    """One finished evaluation.

    Attributes
    ----------
    number : int
        Position in the run, from 0.
    params : dict
        The configuration that was evaluated.
    value : float
        The objective's value (lower is better).
    seconds : float
        Wall time of the objective call.
    """

    number: int
    params: dict[str, Any] = field(hash=False)
    value: float
    seconds: float = 0.0


class SearchExhausted(Exception):
    """Raised by :meth:`Sampler.ask` when a finite sampler (a grid) has nothing left."""


class Sampler(ABC):
    """Base class of all samplers.

    A sampler is configured in ``__init__`` (including its ``seed``) and does its
    work in :meth:`ask`; nothing random happens at construction, so a new sampler
    with the same seed replays the same run.
    """

    @abstractmethod
    def ask(self, space: SearchSpace, history: Sequence[Trial]) -> dict[str, Any]:
        """Propose the next configuration, given every finished trial so far."""

    def tell(self, trial: Trial) -> None:
        """Receive the result of the configuration returned by the last :meth:`ask`.

        Model-based samplers can read everything they need from ``history`` in
        :meth:`ask`, so the default does nothing; wrappers around other libraries
        override it to forward the result.
        """


def checked_proposal(sampler: Sampler, space: SearchSpace, history: Sequence[Trial]) -> dict[str, Any]:
    """Ask ``sampler`` for a configuration and make sure it lies in ``space``.

    Raises
    ------
    ValueError
        Naming the sampler, if its proposal is not a valid configuration of ``space``.
    SearchExhausted
        Passed on from a finite sampler that has nothing left.
    """
    config = sampler.ask(space, tuple(history))
    try:
        space.validate(config)
    except ValueError as err:
        raise ValueError(f"{type(sampler).__name__} proposed an invalid configuration: {err}") from None
    return config
