"""Other libraries' samplers behind the course's ``ask``/``tell`` interface.

The course compares its from-scratch samplers with the ones practitioners use. To
make that comparison fair, every sampler runs in the same loop
(:func:`course.hpo.loop.minimize`) on the same objectives; this module wraps

* Optuna's samplers (random search, TPE, GP-BO and CMA-ES), driven through Optuna's
  *ask-and-tell* interface, and
* Hyperopt's TPE, driven one suggestion at a time through its ``Trials`` database,

so that each of them is just another :class:`~course.hpo.sampler.Sampler`.

Both wrappers keep their library's own record of the run (an Optuna ``Study``, a
Hyperopt ``Trials``) and bring it up to date from the loop's ``history`` at each
:meth:`ask`: a result passed to :meth:`tell` is forwarded at once, and a result that
only appears in ``history`` (a hand-written loop that never calls ``tell``, or trials
from an earlier run used to warm-start) is added as a finished trial. An empty
``history`` starts a new run, with a fresh library sampler seeded by ``seed``, so a
wrapper with a seed replays the same run every time.

References
----------
T. Akiba, S. Sano, T. Yanase, T. Ohta and M. Koyama, "Optuna: a next-generation
hyperparameter optimization framework", KDD 2019 (section 3: define-by-run, and the
ask-and-tell interface used here).

J. Bergstra, D. Yamins and D. Cox, "Making a science of model search: hyperparameter
optimization in hundreds of dimensions for vision architectures", ICML 2013
(Hyperopt; section 3 describes the nested ``hp.choice`` spaces built here).
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .sampler import Sampler, Trial
from .space import Categorical, Float, Int, Parameter, SearchSpace

__all__ = ["OptunaSampler", "HyperoptTPESampler", "OPTUNA_KINDS"]

#: The Optuna samplers :class:`OptunaSampler` can build, by ``kind``.
OPTUNA_KINDS = ("random", "tpe", "gp", "cmaes")


def _check_space(space: Any, who: str) -> SearchSpace:
    if not isinstance(space, SearchSpace):
        raise ValueError(f"{who}.ask: space must be a SearchSpace, got {type(space).__name__}")
    return space


def _check_seed(seed: Any) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"seed must be an int or None, got {seed!r}")
    return None if seed is None else int(seed)


# ======================================================================================
# Optuna
# ======================================================================================

@contextlib.contextmanager
def _optuna_quiet() -> Iterator[None]:
    """Silence Optuna's per-trial INFO messages for the duration of one call only.

    Optuna logs "Trial 3 finished with value ..." at INFO level for every trial, which
    drowns a benchmark's output. Its verbosity is a process-wide setting, so we lower
    it on entry and put the caller's setting back on exit instead of changing it for
    good.
    """
    import optuna

    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


def _optuna_sampler_class(kind: str):
    import optuna

    return {
        "random": optuna.samplers.RandomSampler,
        "tpe": optuna.samplers.TPESampler,
        "gp": optuna.samplers.GPSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
    }[kind]


def _optuna_distribution(param: Parameter):
    """The Optuna distribution that matches ``param`` (categoricals by position)."""
    from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                      IntDistribution)

    if isinstance(param, Float):
        return FloatDistribution(param.low, param.high, log=param.log)
    if isinstance(param, Int):
        return IntDistribution(param.low, param.high, log=param.log)
    if isinstance(param, Categorical):
        return CategoricalDistribution(list(range(len(param.choices))))
    raise ValueError(f"unsupported parameter type {type(param).__name__}")


def _encode_for_optuna(param: Parameter, value: Any) -> Any:
    return param.index(value) if isinstance(param, Categorical) else value


class _LibraryRun(Sampler):
    """Shared bookkeeping of the adapters: another library's run mirrors the course's history.

    Subclasses start a fresh run of their library in ``_new_run`` (which resets
    ``_space``, ``_pending`` and ``_n_recorded``) and add one finished trial in
    ``_record``; ``_sync`` keeps the library's run equal to ``history``.
    """

    _space: SearchSpace | None = None
    _n_recorded: int = 0          # how many trials of the history the library holds

    def _new_run(self, space: SearchSpace) -> None:
        raise NotImplementedError

    def _record(self, trial: Trial) -> None:
        raise NotImplementedError

    def _sync(self, space: SearchSpace, history: Sequence[Trial]) -> None:
        """Make the library's run hold exactly the trials of ``history`` (new run if needed)."""
        if self._space is None or space is not self._space or len(history) < self._n_recorded:
            self._new_run(space)
        for trial in history[self._n_recorded:]:
            self._record(trial)


class OptunaSampler(_LibraryRun):
    """One of Optuna's samplers, run through Optuna's ask-and-tell interface.

    At each :meth:`ask` the wrapper opens an Optuna trial (``study.ask()``) and lets
    it suggest the parameters one at a time, in the order of the search space,
    skipping those whose condition does not hold: Optuna is *define-by-run*, so a
    conditional space needs no special encoding. :meth:`tell` finishes the trial
    with ``study.tell(trial, value)``.

    Parameters
    ----------
    kind : {"tpe", "random", "gp", "cmaes"}
        Which Optuna sampler to use:

        * ``"tpe"``: ``optuna.samplers.TPESampler``. In Optuna 5 it is
          *multivariate* by default (one joint Parzen estimator over the parameters
          every trial shares; conditional parameters fall back to univariate TPE);
          pass ``multivariate=False`` for the independent TPE of Bergstra et al. (2011).
        * ``"random"``: ``optuna.samplers.RandomSampler``.
        * ``"gp"``: ``optuna.samplers.GPSampler`` (GP-BO with a Matérn-5/2 kernel and
          log-EI). Parameters outside the space that every trial shares (conditional
          ones) are sampled at random.
        * ``"cmaes"``: ``optuna.samplers.CmaEsSampler``. CMA-ES only models the
          numeric parameters that every trial shares; categorical and conditional
          parameters are drawn by its independent sampler (random search), so on a
          conditional space it is partly a random search.
    seed : int, optional
        Seed of the Optuna sampler. A new run (empty history) builds a fresh Optuna
        sampler with this seed, so the same seed gives the same history.
    **options
        Passed on to the Optuna sampler's constructor (for example
        ``n_startup_trials=10`` or ``multivariate=False``). For ``"gp"`` and
        ``"cmaes"`` ``warn_independent_sampling`` defaults to ``False`` here, because
        the fallback described above is expected, not a mistake.

    Raises
    ------
    ValueError
        For an unknown ``kind``, a bad ``seed``, or options the Optuna sampler does
        not accept.

    Attributes
    ----------
    study : optuna.Study or None
        The Optuna study of the current run (``None`` before the first ask).

    References
    ----------
    T. Akiba et al., "Optuna: a next-generation hyperparameter optimization
    framework", KDD 2019.

    Examples
    --------
    >>> from course.hpo.loop import minimize
    >>> from course.hpo.space import Float, SearchSpace
    >>> space = SearchSpace([Float("x", -2.0, 2.0)])
    >>> history = minimize(lambda c: c["x"] ** 2, space, OptunaSampler("tpe", seed=0), 20)
    >>> bool(history["value"].min() < 0.1)
    True
    """

    def __init__(self, kind: str = "tpe", seed: int | None = None, **options: Any) -> None:
        if not isinstance(kind, str) or kind not in OPTUNA_KINDS:
            raise ValueError(f"kind must be one of {list(OPTUNA_KINDS)}, got {kind!r}")
        self.kind = kind
        self.seed = _check_seed(seed)
        if kind in ("gp", "cmaes"):
            options.setdefault("warn_independent_sampling", False)
        try:
            inspect.signature(_optuna_sampler_class(kind)).bind(seed=self.seed, **options)
        except TypeError as err:
            raise ValueError(f"OptunaSampler(kind={kind!r}): bad options {sorted(options)}: {err}") from None
        self.options = options
        self.study = None
        self._space: SearchSpace | None = None
        self._pending = None          # (optuna trial, configuration) of the last ask
        self._n_recorded = 0          # how many trials of the history the study holds

    def __repr__(self) -> str:
        options = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"OptunaSampler({self.kind!r}, seed={self.seed!r}{options})"

    # -- the run ----------------------------------------------------------------------
    def _new_run(self, space: SearchSpace) -> None:
        import optuna

        sampler = _optuna_sampler_class(self.kind)(seed=self.seed, **self.options)
        self.study = optuna.create_study(direction="minimize", sampler=sampler)
        self._space, self._pending, self._n_recorded = space, None, 0

    def _record(self, trial: Trial) -> None:
        """Add a finished trial to the study: finish the pending one, or add it whole."""
        import optuna

        if self._pending is not None and self._pending[1] == trial.params:
            self.study.tell(self._pending[0], float(trial.value))
        else:
            # a result the study has not seen (warm start, or a loop that skipped ask)
            space = self._space
            active = [space[name] for name in space.active_names(trial.params)]
            self.study.add_trial(optuna.trial.create_trial(
                params={p.name: _encode_for_optuna(p, trial.params[p.name]) for p in active},
                distributions={p.name: _optuna_distribution(p) for p in active},
                value=float(trial.value),
            ))
        self._pending = None
        self._n_recorded += 1

    # -- the Sampler interface ----------------------------------------------------------
    def ask(self, space: SearchSpace, history: Sequence[Trial]) -> dict[str, Any]:
        _check_space(space, "OptunaSampler")
        from optuna.trial import TrialState

        with _optuna_quiet():
            self._sync(space, history)
            if self._pending is not None:
                # asked twice without a result: the first proposal was never evaluated
                self.study.tell(self._pending[0], state=TrialState.FAIL)
                self._pending = None
            optuna_trial = self.study.ask()
            config: dict[str, Any] = {}
            for param in space:
                if not param.is_active(config):
                    continue
                if isinstance(param, Float):
                    value = optuna_trial.suggest_float(param.name, param.low, param.high, log=param.log)
                    config[param.name] = min(max(float(value), param.low), param.high)
                elif isinstance(param, Int):
                    config[param.name] = int(optuna_trial.suggest_int(param.name, param.low, param.high,
                                                                      log=param.log))
                else:
                    # Optuna's choices must be None/bool/int/float/str; positions always are
                    index = optuna_trial.suggest_categorical(param.name, list(range(len(param.choices))))
                    config[param.name] = param.choices[index]
            self._pending = (optuna_trial, config)
        return dict(config)

    def tell(self, trial: Trial) -> None:
        """Finish the pending Optuna trial with ``trial.value``.

        A ``trial`` that does not answer the last :meth:`ask` is not lost: it is
        added to the study from ``history`` at the next :meth:`ask`.
        """
        if self._pending is not None and self._pending[1] == trial.params:
            with _optuna_quiet():
                self._record(trial)


# ======================================================================================
# Hyperopt
# ======================================================================================

@dataclass
class _Node:
    """A parameter in Hyperopt's expression tree.

    ``label`` is unique in the tree (a parameter that appears in several branches of
    a choice gets one label per branch). ``branches[k]`` holds the parameters that
    exist when a categorical parent takes its ``k``-th choice; leaves have none.
    """

    param: Parameter
    label: str
    branches: list[list["_Node"]] = field(default_factory=list)


def _dependants(first: Parameter, rest: list[Parameter]) -> list[Parameter]:
    """The parameters of ``rest`` whose existence hinges on ``first``'s value.

    That is the parameters conditioned on ``first``, on those, and so on, plus every
    other (not yet placed) parent they are conditioned on: all of them must live in
    the branches of ``first``'s choice so that their conditions can be decided there.
    """
    group = {first.name}
    changed = True
    while changed:
        changed = False
        for param in rest:
            if param.name in group:
                continue
            has_parent_in_group = any(parent in group for parent in param.when)
            is_parent_of_member = any(param.name in member.when for member in rest
                                      if member.name in group)
            if has_parent_in_group or is_parent_of_member:
                group.add(param.name)
                changed = True
    return [param for param in rest if param.name in group]


def _label(param: Parameter, path: tuple[tuple[str, Any], ...]) -> str:
    if not path:
        return param.name
    return param.name + "|" + ",".join(f"{name}={value!r}" for name, value in path)


def _build_tree(params: list[Parameter], context: dict[str, Any],
                path: tuple[tuple[str, Any], ...]) -> list[_Node]:
    """Nest the parameters in ``hp.choice`` branches, the way Hyperopt expresses conditions.

    ``context`` holds the values of the categorical parents already decided on the
    way down (``path`` in order). Parameters that depend on no undecided choice stay
    at this level, so Hyperopt models them on every trial.
    """
    nodes: list[_Node] = []
    rest = list(params)
    while rest:
        param = rest.pop(0)
        if not param.is_active(context):
            continue  # its parents are decided here, and they rule it out
        group = _dependants(param, rest)
        if not group:
            nodes.append(_Node(param, _label(param, path)))
            continue
        if not isinstance(param, Categorical):
            raise ValueError(
                f"HyperoptTPESampler: parameter(s) {[p.name for p in group if param.name in p.when]} "
                f"are conditioned on the numeric parameter {param.name!r}; Hyperopt expresses "
                "conditions with hp.choice, so only Categorical parents are supported"
            )
        rest = [p for p in rest if p not in group]
        branches = [_build_tree(group, {**context, param.name: choice}, path + ((param.name, choice),))
                    for choice in param.choices]
        nodes.append(_Node(param, _label(param, path), branches))
    return nodes


def _hp_expression(nodes: list[_Node]) -> dict[str, Any]:
    """The Hyperopt search space (a pyll graph) of a list of nodes."""
    from hyperopt import hp

    expression: dict[str, Any] = {}
    for node in nodes:
        param, label = node.param, node.label
        if isinstance(param, Categorical):
            options = ([_hp_expression(branch) for branch in node.branches] if node.branches
                       else list(range(len(param.choices))))
            expression[label] = hp.choice(label, options)
        elif isinstance(param, Float):
            expression[label] = (hp.loguniform(label, math.log(param.low), math.log(param.high))
                                 if param.log else hp.uniform(label, param.low, param.high))
        else:
            # each integer owns the cell [k - 1/2, k + 1/2), as in course.hpo.space.Int
            low, high = param.low - 0.5, param.high + 0.5
            expression[label] = (hp.qloguniform(label, math.log(low), math.log(high), 1) if param.log
                                 else hp.quniform(label, low, high, 1))
    return expression


def _decode(nodes: list[_Node], vals: dict[str, list], config: dict[str, Any]) -> None:
    """Read a configuration from a Hyperopt trial's ``misc["vals"]`` (in place)."""
    for node in nodes:
        param, value = node.param, vals[node.label][0]
        if isinstance(param, Categorical):
            config[param.name] = param.choices[int(value)]
            if node.branches:
                _decode(node.branches[int(value)], vals, config)
        elif isinstance(param, Float):
            config[param.name] = min(max(float(value), param.low), param.high)
        else:
            config[param.name] = min(max(int(round(float(value))), param.low), param.high)


def _encode(nodes: list[_Node], config: dict[str, Any], vals: dict[str, list]) -> None:
    """The inverse of :func:`_decode`: fill ``vals`` (label -> [value]) from ``config``."""
    for node in nodes:
        param = node.param
        if isinstance(param, Categorical):
            index = param.index(config[param.name])
            vals[node.label] = [index]
            if node.branches:
                _encode(node.branches[index], config, vals)
        else:
            vals[node.label] = [float(config[param.name])]


def _all_labels(nodes: list[_Node]) -> Iterator[str]:
    for node in nodes:
        yield node.label
        for branch in node.branches:
            yield from _all_labels(branch)


class HyperoptTPESampler(_LibraryRun):
    """Hyperopt's TPE, asked for one configuration at a time.

    Hyperopt is built around ``fmin``, which owns the loop. Underneath, ``fmin``
    repeatedly calls ``tpe.suggest(new_ids, domain, trials, seed)``, which returns
    a new trial document whose ``misc["vals"]`` holds the proposal, and inserts the
    document into ``trials`` once evaluated. This wrapper makes exactly those calls
    from :meth:`ask` and :meth:`tell`, so Hyperopt runs inside the course's loop.

    The search space is translated to Hyperopt's: ``hp.uniform`` / ``hp.loguniform``
    for floats, ``hp.quniform`` / ``hp.qloguniform`` (step 1) for integers, and
    ``hp.choice`` for categoricals. A conditional parameter is nested inside the
    ``hp.choice`` branch of its parent, as in Bergstra et al. (2013); a parameter
    that several branches share gets one Hyperopt label per branch
    (``"gamma|kernel='rbf'"``), which is how Hyperopt models it.

    Parameters
    ----------
    seed : int, optional
        Seeds the generator that draws the seed of each ``tpe.suggest`` call (as
        ``fmin`` does), so the same seed gives the same history.
    n_startup_jobs : int
        Random configurations before TPE starts (Hyperopt's default, 20).
    n_ei_candidates : int
        Candidates drawn from l(x) per suggestion (Hyperopt's default, 24).
    gamma : float
        Fraction of trials that count as good (Hyperopt's default, 0.25).
    prior_weight : float
        Weight of the prior in the Parzen estimators (Hyperopt's default, 1.0).

    Raises
    ------
    ValueError
        For bad options; at :meth:`ask`, for a space with a condition on a numeric
        parameter (Hyperopt can only branch on a choice).

    References
    ----------
    J. Bergstra, R. Bardenet, Y. Bengio and B. Kégl, "Algorithms for
    hyper-parameter optimization", NeurIPS 2011 (section 4, TPE).
    J. Bergstra, D. Yamins and D. Cox, ICML 2013 (Hyperopt's conditional spaces).
    """

    def __init__(self, seed: int | None = None, *, n_startup_jobs: int = 20,
                 n_ei_candidates: int = 24, gamma: float = 0.25, prior_weight: float = 1.0) -> None:
        self.seed = _check_seed(seed)
        for name, value in (("n_startup_jobs", n_startup_jobs), ("n_ei_candidates", n_ei_candidates)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 < gamma < 1:
            raise ValueError(f"gamma must be a number in (0, 1), got {gamma!r}")
        if isinstance(prior_weight, bool) or not isinstance(prior_weight, (int, float)) \
                or not prior_weight > 0:
            raise ValueError(f"prior_weight must be a positive number, got {prior_weight!r}")
        self.n_startup_jobs = int(n_startup_jobs)
        self.n_ei_candidates = int(n_ei_candidates)
        self.gamma = float(gamma)
        self.prior_weight = float(prior_weight)
        self.trials = None            # hyperopt.Trials of the current run
        self._space: SearchSpace | None = None
        self._tree: list[_Node] = []
        self._domain = None
        self._rng: np.random.Generator | None = None
        self._pending = None          # (trial document, configuration) of the last ask
        self._n_recorded = 0

    def __repr__(self) -> str:
        return f"HyperoptTPESampler(seed={self.seed!r})"

    # -- the run ----------------------------------------------------------------------
    def _new_run(self, space: SearchSpace) -> None:
        from hyperopt import Domain, Trials

        if space is not self._space or self._domain is None:
            self._tree = _build_tree(list(space), {}, ())
            # the objective is evaluated by the course's loop, never by Hyperopt
            self._domain = Domain(lambda _: 0.0, _hp_expression(self._tree))
        self.trials = Trials()
        self._rng = np.random.default_rng(self.seed)
        self._space, self._pending, self._n_recorded = space, None, 0

    def _record(self, trial: Trial) -> None:
        from hyperopt import JOB_STATE_DONE, STATUS_OK

        if self._pending is not None and self._pending[1] == trial.params:
            doc = self._pending[0]
        else:
            # a result Hyperopt has not proposed: write its document ourselves
            (tid,) = self.trials.new_trial_ids(1)
            vals = {label: [] for label in _all_labels(self._tree)}
            _encode(self._tree, dict(trial.params), vals)
            misc = {"tid": tid, "cmd": self._domain.cmd, "workdir": self._domain.workdir,
                    "idxs": {label: ([tid] if v else []) for label, v in vals.items()},
                    "vals": vals}
            (doc,) = self.trials.new_trial_docs([tid], [None], [self._domain.new_result()], [misc])
        doc["state"] = JOB_STATE_DONE
        doc["result"] = {"loss": float(trial.value), "status": STATUS_OK}
        self.trials.insert_trial_docs([doc])
        self.trials.refresh()
        self._pending = None
        self._n_recorded += 1

    # -- the Sampler interface ----------------------------------------------------------
    def ask(self, space: SearchSpace, history: Sequence[Trial]) -> dict[str, Any]:
        _check_space(space, "HyperoptTPESampler")
        from hyperopt import tpe

        self._sync(space, history)
        self._pending = None  # an unanswered proposal was never inserted: just drop it
        new_ids = self.trials.new_trial_ids(1)
        (doc,) = tpe.suggest(new_ids, self._domain, self.trials, int(self._rng.integers(2**31 - 1)),
                             prior_weight=self.prior_weight, n_startup_jobs=self.n_startup_jobs,
                             n_EI_candidates=self.n_ei_candidates, gamma=self.gamma, verbose=False)
        config: dict[str, Any] = {}
        _decode(self._tree, doc["misc"]["vals"], config)
        config = {name: config[name] for name in space.names if name in config}
        self._pending = (doc, config)
        return dict(config)

    def tell(self, trial: Trial) -> None:
        """Insert the pending trial document into Hyperopt's ``Trials`` with its loss."""
        if self._pending is not None and self._pending[1] == trial.params:
            self._record(trial)
