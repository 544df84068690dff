"""After the search: choose under a latency limit, save and reload safely, watch for drift.

An AutoML run ends with a leaderboard; a model in production must also be fast enough,
survive a round trip to disk unchanged, and be re-tuned when the data it sees no longer
look like the data it was tuned on. This module holds the reference for each step:

1. :func:`measure_latency` and :func:`choose_under_latency`: the best model whose
   median per-row prediction time meets a limit (a constrained choice, the simplest
   form of the multi-objective trade-off of chapter 2);
2. :func:`save_model` and :func:`load_model`: joblib files in a folder, written next
   to a *check set* of inputs and the predictions the model made on them, so that every
   reload proves that it predicts exactly as before (a different library version, a
   truncated file or a wrong file is caught at once, not in production);
3. :func:`population_stability_index` and :func:`ks_statistic`: per-feature drift
   statistics between the training data (the reference) and new data;
4. :func:`should_retune`: re-tune when enough features drifted, or when the score on
   labelled new data dropped too much.

Drift statistics, exactly. Both compare the distribution of one feature in a reference
sample ``r`` (``n`` values) and a current sample ``c`` (``m`` values).

* The **population stability index** (PSI) cuts the line into bins at the deciles (in
  general the ``1/n_bins`` quantiles) of the reference, the outer bins open to
  ``-inf`` and ``+inf``, and sums over bins

      PSI = sum_b (p_c(b) - p_r(b)) * ln(p_c(b) / p_r(b)),

  where ``p_r(b)`` and ``p_c(b)`` are the shares of each sample in bin ``b``, floored at
  ``1e-4`` so that an empty bin gives a large but finite term. It is the symmetrised
  Kullback-Leibler divergence of the binned distributions. Common reading (Siddiqi
  2006; Yurdakul 2018 studies its sampling distribution): below 0.1 no shift, 0.1 to
  0.25 a moderate shift, above 0.25 a significant one.
* The two-sample **Kolmogorov-Smirnov** statistic is the largest gap between the two
  empirical distribution functions, ``D = sup_x |F_r(x) - F_c(x)|``, between 0 and 1,
  with a p-value from :func:`scipy.stats.ks_2samp` (Massey 1951). With thousands of
  rows, tiny harmless shifts are "significant"; read ``D`` as an effect size.

References
----------
N. Siddiqi, *Credit Risk Scorecards: Developing and Implementing Intelligent Credit
Scoring*, Wiley, 2006 (chapter 8: the population stability index and its thresholds).

B. Yurdakul, "Statistical properties of population stability index", PhD thesis, Western
Michigan University, 2018.

F. J. Massey, "The Kolmogorov-Smirnov test for goodness of fit", Journal of the American
Statistical Association 46(253), 68-78, 1951.

J. Gama, I. Žliobaitė, A. Bifet, M. Pechenizkiy and A. Bouchachia, "A survey on concept
drift adaptation", ACM Computing Surveys 46(4), 2014 (detecting drift and deciding to
adapt a model).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from scipy import stats

__all__ = ["choose_under_latency", "measure_latency", "save_model", "load_model", "predictions_match",
           "population_stability_index", "ks_statistic", "drift_report", "should_retune", "plot_drift"]

PSI_FLOOR = 1e-4          # smallest bin share in the PSI, so an empty bin stays finite
_FORMAT = "course-model-v1"  # marks a file written by save_model


# -- 1. choosing under a latency limit -------------------------------------------------------

def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def choose_under_latency(leaderboard: pd.DataFrame, max_latency_ms: float, *, score: str = "score",
                         latency: str = "latency_ms", model: str = "model",
                         higher_is_better: bool = True) -> str:
    """The best-scoring model whose latency is at most ``max_latency_ms``.

    Parameters
    ----------
    leaderboard : pandas.DataFrame
        One row per model, with at least the columns named by ``model`` (unique names),
        ``score`` and ``latency`` (finite numbers, latencies non-negative, in ms).
    max_latency_ms : float
        The limit, in milliseconds per row; a model exactly at the limit meets it.
    score, latency, model : str
        Column names.
    higher_is_better : bool, default True
        Direction of the score (``False`` for an error or a loss).

    Returns
    -------
    str
        The name of the chosen model. Equal scores go to the faster model, then to the
        earlier row.

    Raises
    ------
    TypeError
        If ``leaderboard`` is not a DataFrame.
    ValueError
        If a column is missing, the names are not unique, a score or latency is not a
        finite number (or a latency is negative), ``max_latency_ms`` is not a positive
        number, or no model meets the limit (the message gives the fastest one).

    Examples
    --------
    >>> board = pd.DataFrame({"model": ["forest", "logistic", "knn"], "score": [0.97, 0.95, 0.96],
    ...                       "latency_ms": [12.0, 0.2, 3.0]})
    >>> choose_under_latency(board, 5.0)
    'knn'
    """
    if not isinstance(leaderboard, pd.DataFrame):
        raise TypeError(f"leaderboard must be a pandas DataFrame, got {type(leaderboard).__name__}")
    missing = [c for c in (model, score, latency) if c not in leaderboard.columns]
    if missing:
        raise ValueError(f"leaderboard lacks the column(s) {missing}; it has {list(leaderboard.columns)}")
    if leaderboard.empty:
        raise ValueError("leaderboard is empty: no model to choose")
    if not _is_number(max_latency_ms) or not np.isfinite(max_latency_ms) or max_latency_ms <= 0:
        raise ValueError(f"max_latency_ms must be a positive number, got {max_latency_ms!r}")
    names = leaderboard[model].astype(str)
    if names.duplicated().any():
        raise ValueError(f"model names must be unique; repeated: {sorted(set(names[names.duplicated()]))}")
    scores = pd.to_numeric(leaderboard[score], errors="coerce").to_numpy(dtype=float)
    latencies = pd.to_numeric(leaderboard[latency], errors="coerce").to_numpy(dtype=float)
    for column, values in ((score, scores), (latency, latencies)):
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(f"column {column!r} must hold finite numbers; not for {names[bad].tolist()}")
    if (latencies < 0).any():
        raise ValueError(f"latencies must be non-negative; negative for {names[latencies < 0].tolist()}")
    feasible = np.flatnonzero(latencies <= max_latency_ms)
    if feasible.size == 0:
        fastest = int(np.argmin(latencies))
        raise ValueError(f"no model meets the latency limit of {max_latency_ms} ms; the fastest is "
                         f"{names.iloc[fastest]!r} at {latencies[fastest]:.4g} ms")
    sign = 1.0 if higher_is_better else -1.0
    # lexsort: last key first; best score, then lowest latency, then earliest row
    best = feasible[np.lexsort((feasible, latencies[feasible], -sign * scores[feasible]))[0]]
    return str(names.iloc[best])


def measure_latency(model: Any, X: Any, *, repeats: int = 50, batch_size: int = 1, seed: int = 0,
                    warmup: int = 3) -> float:
    """Median prediction time per row, in milliseconds.

    Each repeat times one ``model.predict`` call on a batch of ``batch_size`` rows of
    ``X`` drawn at random (seeded) and divides by ``batch_size``. ``batch_size=1``
    measures online serving, one request at a time, which is what a latency limit
    usually means; larger batches show how much vectorised prediction saves. The median
    ignores the occasional slow call (a garbage collection, another process).

    Parameters
    ----------
    model : object with a ``predict`` method
        A fitted estimator.
    X : array_like or pandas.DataFrame of shape (n_rows, n_features)
        Rows to predict (at least ``batch_size``).
    repeats : int, default 50
        Timed calls (at least 1).
    batch_size : int, default 1
        Rows per call.
    seed : int, default 0
        Seed of the choice of rows.
    warmup : int, default 3
        Untimed calls first (caches, lazy initialisation).

    Returns
    -------
    float
        The median over the repeats of (call time / ``batch_size``), in ms. Wall-clock
        time: it changes from run to run and machine to machine.

    Raises
    ------
    TypeError
        If ``model`` has no ``predict`` method.
    ValueError
        If ``repeats`` or ``batch_size`` is not a positive int, ``warmup`` a
        non-negative int, or ``X`` has fewer than ``batch_size`` rows.
    """
    if not callable(getattr(model, "predict", None)):
        raise TypeError(f"model must have a predict method, got {type(model).__name__}")
    for name, value, low in (("repeats", repeats, 1), ("batch_size", batch_size, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    rows = X if isinstance(X, pd.DataFrame) else np.asarray(X)
    if rows.ndim != 2:
        raise ValueError(f"X must be 2-D (n_rows, n_features), got shape {rows.shape}")
    if len(rows) < batch_size:
        raise ValueError(f"X has {len(rows)} rows, fewer than batch_size={batch_size}")
    take = (lambda idx: rows.iloc[idx]) if isinstance(rows, pd.DataFrame) else (lambda idx: rows[idx])
    rng = np.random.default_rng(seed)
    batches = [take(rng.choice(len(rows), batch_size, replace=False)) for _ in range(warmup + repeats)]
    times = []
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        model.predict(batch)
        elapsed = time.perf_counter() - start
        if i >= warmup:
            times.append(elapsed / batch_size)
    return float(np.median(times) * 1000.0)


# -- 2. saving and reloading -----------------------------------------------------------------

def predictions_match(expected: Any, actual: Any, *, rtol: float = 1e-9, atol: float = 1e-12) -> bool:
    """Whether two arrays of predictions agree: exactly for labels, within tolerances for numbers.

    Parameters
    ----------
    expected, actual : array_like
        Predictions (class labels, numbers or probabilities).
    rtol, atol : float
        Tolerances for floating-point predictions (:func:`numpy.allclose`).

    Returns
    -------
    bool
        ``False`` for different shapes; NaN matches NaN.

    Examples
    --------
    >>> predictions_match([1, 0, 1], [1, 0, 1]), predictions_match([0.5, 0.2], [0.5, 0.2 + 1e-15])
    (True, True)
    """
    expected, actual = np.asarray(expected), np.asarray(actual)
    if expected.shape != actual.shape:
        return False
    if expected.dtype.kind == "f" or actual.dtype.kind == "f":
        try:
            return bool(np.allclose(expected.astype(float), actual.astype(float), rtol=rtol, atol=atol,
                                    equal_nan=True))
        except (TypeError, ValueError):
            return False
    return bool(np.array_equal(expected, actual))


def _model_path(folder: str | Path, name: str) -> Path:
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"name must be a plain file name without folders, got {name!r}")
    if not isinstance(folder, (str, Path)):
        raise TypeError(f"folder must be a path, got {type(folder).__name__}")
    return Path(folder) / f"{name}.joblib"


def save_model(model: Any, folder: str | Path, X_check: Any, *, name: str = "model",
               overwrite: bool = False) -> Path:
    """Save a fitted model with joblib, with a check set that every reload must reproduce.

    The file holds the model, ``X_check``, the model's predictions on it and the
    scikit-learn version. Right after writing, the file is loaded back and checked
    (:func:`load_model`), so a model that does not survive the round trip is caught
    here, and the file is removed again.

    Parameters
    ----------
    model : object with a ``predict`` method
        A fitted estimator.
    folder : str or Path
        An existing folder.
    X_check : array_like or pandas.DataFrame
        A few rows of input (at least one), e.g. a sample of the validation set.
    name : str, default "model"
        File name without extension: the file is ``folder / f"{name}.joblib"``.
    overwrite : bool, default False
        Replace an existing file; without it an existing file is an error.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    TypeError
        If ``model`` has no ``predict`` method, ``folder`` is not a path, or the model
        cannot be pickled.
    ValueError
        If ``name`` is not a plain file name or ``X_check`` has no rows, or the reloaded
        model predicts differently.
    FileNotFoundError
        If ``folder`` does not exist.
    FileExistsError
        If the file exists and ``overwrite`` is false.

    Notes
    -----
    joblib files are pickles: loading one runs code, so load only files you made.
    """
    if not callable(getattr(model, "predict", None)):
        raise TypeError(f"model must have a predict method, got {type(model).__name__}")
    path = _model_path(folder, name)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"folder {path.parent} does not exist")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    if len(X_check) == 0:
        raise ValueError("X_check must hold at least one row")
    expected = model.predict(X_check)
    payload = {"format": _FORMAT, "model": model, "X_check": X_check, "predictions": expected,
               "sklearn_version": sklearn.__version__}
    try:
        joblib.dump(payload, path)
    except Exception as err:  # pickling fails with many exception types
        path.unlink(missing_ok=True)
        raise TypeError(f"the model cannot be saved with joblib ({type(err).__name__}: {err})") from err
    try:
        load_model(path.parent, name=name)
    except Exception:
        path.unlink(missing_ok=True)
        raise
    return path


def load_model(folder: str | Path, *, name: str = "model") -> Any:
    """Load a model written by :func:`save_model` and check that it predicts as it did.

    Parameters
    ----------
    folder : str or Path
        The folder given to :func:`save_model`.
    name : str, default "model"
        The name given to :func:`save_model`.

    Returns
    -------
    object
        The model, whose predictions on the saved check set equal the saved ones.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not a readable joblib file written by :func:`save_model`
        (truncated, corrupted, another format), or the reloaded model's predictions
        on the check set differ from the saved ones.

    Warns
    -----
    UserWarning
        If the file was written with another scikit-learn version (the check still
        decides).
    """
    path = _model_path(folder, name)
    if not path.is_file():
        raise FileNotFoundError(f"no saved model at {path}")
    try:
        payload = joblib.load(path)
    except Exception as err:  # truncated or foreign files fail in many ways
        raise ValueError(f"{path} is not a readable model file ({type(err).__name__}: {err})") from err
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(f"{path} was not written by save_model (no check set inside)")
    if payload["sklearn_version"] != sklearn.__version__:
        warnings.warn(f"{path} was saved with scikit-learn {payload['sklearn_version']}, "
                      f"this is {sklearn.__version__}", UserWarning, stacklevel=2)
    model = payload["model"]
    if not predictions_match(payload["predictions"], model.predict(payload["X_check"])):
        raise ValueError(f"the model reloaded from {path} predicts differently on its check set")
    return model


# -- 3. drift ----------------------------------------------------------------------------------

def _as_samples(reference: Any, current: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both samples as 2-D float arrays with the same number of columns, finite, non-empty."""
    arrays = []
    for label, data in (("reference", reference), ("current", current)):
        try:
            array = np.asarray(data, dtype=float)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{label} must be numeric: {err}") from None
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
            raise ValueError(f"{label} must be a non-empty 1-D or 2-D array, got shape {np.shape(data)}")
        if not np.isfinite(array).all():
            raise ValueError(f"{label} must hold finite numbers (impute missing values first)")
        arrays.append(array)
    if arrays[0].shape[1] != arrays[1].shape[1]:
        raise ValueError(f"reference and current must have the same features, got "
                         f"{arrays[0].shape[1]} and {arrays[1].shape[1]} columns")
    return arrays[0], arrays[1]


def _feature_names(data: Any, n: int) -> list[str]:
    return [str(c) for c in data.columns] if isinstance(data, pd.DataFrame) else [f"x{j}" for j in range(n)]


def population_stability_index(reference: Any, current: Any, *, n_bins: int = 10) -> np.ndarray:
    """PSI of each feature between a reference sample and a current one.

    Parameters
    ----------
    reference : array_like of shape (n, n_features) or (n,)
        The data the model was tuned on (finite numbers).
    current : array_like of shape (m, n_features) or (m,)
        New data, with the same features.
    n_bins : int, default 10
        Number of reference-quantile bins (at least 2). Repeated quantiles (a discrete
        feature) merge bins, so a feature may get fewer.

    Returns
    -------
    numpy.ndarray of shape (n_features,)
        Non-negative; 0 when both samples fill the bins in the same shares.

    Raises
    ------
    ValueError
        If a sample is empty, not numeric, not finite, or the numbers of features
        differ, or ``n_bins`` is not an int >= 2.

    References
    ----------
    Siddiqi (2006), chapter 8; Yurdakul (2018). The formula is in the module's docstring.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> same = population_stability_index(rng.normal(size=2000), rng.normal(size=2000))
    >>> shifted = population_stability_index(rng.normal(size=2000), rng.normal(1.0, 1.0, size=2000))
    >>> bool(same[0] < 0.02), bool(shifted[0] > 0.25)
    (True, True)
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 2:
        raise ValueError(f"n_bins must be an int >= 2, got {n_bins!r}")
    ref, cur = _as_samples(reference, current)
    psi = np.empty(ref.shape[1])
    for j in range(ref.shape[1]):
        edges = np.unique(np.quantile(ref[:, j], np.linspace(0, 1, n_bins + 1)[1:-1]))
        counts_r = np.bincount(np.searchsorted(edges, ref[:, j], side="right"), minlength=len(edges) + 1)
        counts_c = np.bincount(np.searchsorted(edges, cur[:, j], side="right"), minlength=len(edges) + 1)
        p_r = np.maximum(counts_r / len(ref), PSI_FLOOR)
        p_c = np.maximum(counts_c / len(cur), PSI_FLOOR)
        psi[j] = np.sum((p_c - p_r) * np.log(p_c / p_r))
    return psi


def ks_statistic(reference: Any, current: Any) -> tuple[np.ndarray, np.ndarray]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value of each feature.

    Parameters
    ----------
    reference, current : array_like of shape (n, n_features) or (n,)
        As in :func:`population_stability_index`.

    Returns
    -------
    statistic : numpy.ndarray of shape (n_features,)
        ``D = sup_x |F_r(x) - F_c(x)|``, in ``[0, 1]``.
    p_value : numpy.ndarray of shape (n_features,)
        Two-sided p-value of :func:`scipy.stats.ks_2samp`.

    Raises
    ------
    ValueError
        As :func:`population_stability_index`.

    References
    ----------
    Massey (1951).

    Examples
    --------
    >>> d, p = ks_statistic([1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0])
    >>> float(d[0])
    0.5
    """
    ref, cur = _as_samples(reference, current)
    results = [stats.ks_2samp(ref[:, j], cur[:, j]) for j in range(ref.shape[1])]
    return (np.array([float(r.statistic) for r in results]), np.array([float(r.pvalue) for r in results]))


def drift_report(reference: Any, current: Any, *, n_bins: int = 10, psi_threshold: float = 0.25) -> pd.DataFrame:
    """PSI and KS of every feature in one table, with a drift flag.

    Parameters
    ----------
    reference, current : array_like or pandas.DataFrame
        As in :func:`population_stability_index`; DataFrame column names label the rows.
    n_bins : int, default 10
        Bins of the PSI.
    psi_threshold : float, default 0.25
        A feature has ``drifted`` when its PSI exceeds this (Siddiqi's "significant").

    Returns
    -------
    pandas.DataFrame
        Indexed by feature, columns ``psi``, ``ks``, ``ks_p_value``, ``drifted``.

    Raises
    ------
    ValueError
        As :func:`population_stability_index`, or for a negative ``psi_threshold``.
    """
    if not _is_number(psi_threshold) or psi_threshold < 0:
        raise ValueError(f"psi_threshold must be a non-negative number, got {psi_threshold!r}")
    psi = population_stability_index(reference, current, n_bins=n_bins)
    d, p = ks_statistic(reference, current)
    index = pd.Index(_feature_names(reference, len(psi)), name="feature")
    return pd.DataFrame({"psi": psi, "ks": d, "ks_p_value": p, "drifted": psi > psi_threshold}, index=index)


# -- 4. the decision ---------------------------------------------------------------------------

def should_retune(drift: Any, *, threshold: float = 0.25, min_share: float = 0.2,
                  baseline_score: float | None = None, new_score: float | None = None,
                  max_score_drop: float = 0.02, higher_is_better: bool = True) -> bool:
    """Decide whether to re-tune: enough drifted features, or a score drop on labelled new data.

    Re-tune when **either**

    * the share of features whose drift statistic exceeds ``threshold`` is at least
      ``min_share`` (unlabelled new data: the inputs moved), **or**
    * both scores are given and the score got worse by more than ``max_score_drop``
      (labelled new data: the model got worse, whatever the inputs did).

    Parameters
    ----------
    drift : array_like of shape (n_features,)
        A drift statistic per feature (PSI, or KS's ``D``), non-negative and finite.
    threshold : float, default 0.25
        A feature has drifted when its statistic is strictly above this (0.25 is the
        usual "significant" PSI; for KS's ``D`` choose something like 0.1 to 0.2).
    min_share : float, default 0.2
        Share of drifted features, in ``(0, 1]``, that triggers a re-tune.
    baseline_score, new_score : float, optional
        The validation score at tuning time and the score on labelled new data. Give
        both or neither.
    max_score_drop : float, default 0.02
        Tolerated loss of score (non-negative), in the score's units.
    higher_is_better : bool, default True
        Direction of the scores.

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        If ``drift`` is empty, not 1-D, negative or not finite; ``threshold`` or
        ``max_score_drop`` is negative; ``min_share`` is not in ``(0, 1]``; or only one
        of the two scores is given, or a score is not a finite number.

    References
    ----------
    Gama et al. (2014), section 3 (drift detection triggers model adaptation).

    Examples
    --------
    >>> should_retune([0.02, 0.40, 0.05, 0.01, 0.03])      # 1 of 5 features drifted: 20 %
    True
    >>> should_retune([0.02, 0.05], baseline_score=0.95, new_score=0.90)
    True
    """
    try:
        drift = np.asarray(drift, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"drift must be numeric: {err}") from None
    if drift.ndim != 1 or drift.size == 0:
        raise ValueError(f"drift must be a non-empty 1-D array (one value per feature), got shape {drift.shape}")
    if not np.isfinite(drift).all() or (drift < 0).any():
        raise ValueError("drift statistics must be finite and non-negative")
    for label, value in (("threshold", threshold), ("max_score_drop", max_score_drop)):
        if not _is_number(value) or not np.isfinite(value) or value < 0:
            raise ValueError(f"{label} must be a non-negative number, got {value!r}")
    if not _is_number(min_share) or not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], got {min_share!r}")
    if (baseline_score is None) != (new_score is None):
        raise ValueError("give both baseline_score and new_score, or neither")
    drifted_share = float(np.mean(drift > threshold))
    if drifted_share >= min_share:
        return True
    if baseline_score is None:
        return False
    for label, value in (("baseline_score", baseline_score), ("new_score", new_score)):
        if not _is_number(value) or not np.isfinite(value):
            raise ValueError(f"{label} must be a finite number, got {value!r}")
    drop = (baseline_score - new_score) if higher_is_better else (new_score - baseline_score)
    return bool(drop > max_score_drop)


def plot_drift(report: pd.DataFrame, *, column: str = "psi", threshold: float | None = 0.25, ax=None,
               title: str | None = None):
    """Bar chart of a drift statistic per feature, with the threshold as a line.

    Parameters
    ----------
    report : pandas.DataFrame
        From :func:`drift_report` (or any frame indexed by feature with ``column``).
    column : str, default "psi"
    threshold : float, optional
        Drawn as a horizontal line; bars above it are highlighted.
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if not isinstance(report, pd.DataFrame) or column not in report.columns:
        raise ValueError(f"report must be a DataFrame with a {column!r} column")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5.0, 0.35 * len(report) + 2), 3.5))
    values = report[column].to_numpy(dtype=float)
    colors = ["tab:red" if threshold is not None and v > threshold else "tab:blue" for v in values]
    ax.bar(np.arange(len(values)), values, color=colors)
    ax.set_xticks(np.arange(len(values)), [str(i) for i in report.index], rotation=90, fontsize=7)
    if threshold is not None:
        ax.axhline(threshold, color="k", linestyle=":", lw=1, label=f"threshold {threshold}")
        ax.legend(fontsize=8)
    ax.set(ylabel=column, title=title or f"{column} per feature")
    return ax
