"""course.tools.deployment: latency-constrained choice, safe save/reload, drift and the re-tune rule."""

import warnings

import joblib
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from course.tools import deployment
from course.tools.deployment import (choose_under_latency, drift_report, ks_statistic, load_model,
                                     measure_latency, plot_drift, population_stability_index,
                                     predictions_match, save_model, should_retune)


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)


BOARD = pd.DataFrame({"model": ["forest", "boosting", "logistic", "knn", "tree"],
                      "score": [0.97, 0.975, 0.95, 0.96, 0.93],
                      "latency_ms": [12.0, 30.0, 0.2, 3.0, 0.1]})


# -- choosing under a latency limit -------------------------------------------------------------

@pytest.mark.parametrize("limit, expected", [(100, "boosting"), (20, "forest"), (5, "knn"), (1, "logistic"),
                                             (0.15, "tree"), (3.0, "knn")])
def test_choose_under_latency(limit, expected):
    assert choose_under_latency(BOARD, limit) == expected


def test_choose_under_latency_direction_and_ties():
    errors = BOARD.assign(score=1 - BOARD["score"])
    assert choose_under_latency(errors, 20, higher_is_better=False) == "forest"
    tie = pd.DataFrame({"model": ["slow", "fast", "fast2"], "score": [0.9, 0.9, 0.9], "latency_ms": [2.0, 1.0, 1.0]})
    assert choose_under_latency(tie, 5) == "fast"      # equal scores: faster, then earlier row
    renamed = BOARD.rename(columns={"model": "name", "score": "auc", "latency_ms": "ms"})
    assert choose_under_latency(renamed, 5, model="name", score="auc", latency="ms") == "knn"


@pytest.mark.parametrize("seed", range(20))
def test_choose_under_latency_agrees_with_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 15))
    board = pd.DataFrame({"model": [f"m{i}" for i in range(n)], "score": rng.integers(0, 5, n) / 10,
                          "latency_ms": rng.exponential(2.0, n)})
    limit = float(rng.uniform(0.5, 6.0))
    ok = board[board.latency_ms <= limit]
    if ok.empty:
        with pytest.raises(ValueError, match="no model meets"):
            choose_under_latency(board, limit)
    else:
        best = ok.sort_values(["score", "latency_ms"], ascending=[False, True], kind="stable").iloc[0]
        assert choose_under_latency(board, limit) == best["model"]


def test_choose_under_latency_bad_input():
    with pytest.raises(ValueError, match="no model meets.*'tree' at 0.1 ms"):
        choose_under_latency(BOARD, 0.05)
    with pytest.raises(ValueError, match="max_latency_ms"):
        choose_under_latency(BOARD, -1)
    with pytest.raises(ValueError, match="max_latency_ms"):
        choose_under_latency(BOARD, "5")
    with pytest.raises(ValueError, match=r"\['latency_ms'\]"):
        choose_under_latency(BOARD.drop(columns="latency_ms"), 5)
    with pytest.raises(ValueError, match="unique"):
        choose_under_latency(pd.concat([BOARD, BOARD.iloc[:1]]), 5)
    with pytest.raises(ValueError, match="finite.*knn"):
        choose_under_latency(BOARD.assign(score=[0.9, 0.9, 0.9, np.nan, 0.9]), 5)
    with pytest.raises(ValueError, match="non-negative"):
        choose_under_latency(BOARD.assign(latency_ms=[1, 1, 1, -1, 1]), 5)
    with pytest.raises(ValueError, match="empty"):
        choose_under_latency(BOARD.iloc[:0], 5)
    with pytest.raises(TypeError, match="DataFrame"):
        choose_under_latency(BOARD.to_dict(), 5)


# -- latency ------------------------------------------------------------------------------------

class CountingModel:
    """Records the rows it was asked to predict."""

    def __init__(self):
        self.calls = []

    def predict(self, X):
        self.calls.append(np.asarray(X).copy())
        return np.zeros(len(X))


def test_measure_latency_is_seeded_and_counts_repeats(data):
    X, _ = data
    a, b = CountingModel(), CountingModel()
    measure_latency(a, X, repeats=7, warmup=2, seed=3)
    measure_latency(b, X, repeats=7, warmup=2, seed=3)
    assert len(a.calls) == 9 and all(c.shape == (1, X.shape[1]) for c in a.calls)
    assert all(np.array_equal(x, y) for x, y in zip(a.calls, b.calls))
    c = CountingModel()
    measure_latency(c, X, repeats=7, warmup=2, seed=4)
    assert not all(np.array_equal(x, y) for x, y in zip(a.calls, c.calls))


def test_measure_latency_per_row_and_slower_model_is_slower(data, fitted):
    X, _ = data

    class Slow:
        def predict(self, X):
            import time
            time.sleep(0.002 * len(X))
            return np.zeros(len(X))

    slow = measure_latency(Slow(), X, repeats=5, batch_size=3)
    assert 1.9 <= slow <= 20, slow                     # about 2 ms per row, whatever the batch
    fast = measure_latency(fitted, X, repeats=20)
    assert 0 < fast < slow
    assert measure_latency(fitted, pd.DataFrame(X), repeats=5) > 0


def test_measure_latency_bad_input(data, fitted):
    X, _ = data
    with pytest.raises(TypeError, match="predict"):
        measure_latency(object(), X)
    with pytest.raises(ValueError, match="repeats"):
        measure_latency(fitted, X, repeats=0)
    with pytest.raises(ValueError, match="batch_size"):
        measure_latency(fitted, X[:3], batch_size=5)
    with pytest.raises(ValueError, match="2-D"):
        measure_latency(fitted, X[0])


# -- save and load --------------------------------------------------------------------------------

def test_save_and_load_round_trip(tmp_path, data, fitted):
    X, _ = data
    path = save_model(fitted, tmp_path, X[:20])
    assert path == tmp_path / "model.joblib" and path.is_file()
    again = load_model(tmp_path)
    np.testing.assert_array_equal(again.predict(X), fitted.predict(X))
    regressor = LinearRegression().fit(X[:, :3], X[:, 3])
    save_model(regressor, str(tmp_path), pd.DataFrame(X[:5, :3]), name="reg")
    assert predictions_match(load_model(tmp_path, name="reg").predict(X[:, :3]), regressor.predict(X[:, :3]))


def test_save_refuses_to_overwrite(tmp_path, data, fitted):
    X, y = data
    save_model(fitted, tmp_path, X[:10])
    tree = DecisionTreeClassifier(random_state=0).fit(X, y)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_model(tree, tmp_path, X[:10])
    assert isinstance(load_model(tmp_path), type(fitted))     # the first file is intact
    save_model(tree, tmp_path, X[:10], overwrite=True)
    assert isinstance(load_model(tmp_path), DecisionTreeClassifier)


def test_load_reports_missing_corrupted_and_foreign_files(tmp_path, data, fitted):
    X, _ = data
    with pytest.raises(FileNotFoundError, match="no saved model"):
        load_model(tmp_path)
    path = save_model(fitted, tmp_path, X[:10])
    path.write_bytes(path.read_bytes()[:200])                  # truncated
    with pytest.raises(ValueError, match="not a readable model file"):
        load_model(tmp_path)
    path.write_bytes(b"this is not a joblib file")
    with pytest.raises(ValueError, match="not a readable model file"):
        load_model(tmp_path)
    joblib.dump(fitted, path)                                  # a bare model, no check set
    with pytest.raises(ValueError, match="not written by save_model"):
        load_model(tmp_path)


def test_load_detects_a_model_that_predicts_differently(tmp_path, data, fitted):
    X, _ = data
    path = save_model(fitted, tmp_path, X[:10])
    payload = joblib.load(path)
    payload["predictions"] = 1 - payload["predictions"]         # as if the model had changed
    joblib.dump(payload, path)
    with pytest.raises(ValueError, match="predicts differently"):
        load_model(tmp_path)
    payload = joblib.load(path)
    payload["predictions"] = fitted.predict(X[:10])
    payload["sklearn_version"] = "0.0.1"
    joblib.dump(payload, path)
    with pytest.warns(UserWarning, match="scikit-learn 0.0.1"):
        load_model(tmp_path)


class Forgetful:
    """Predicts from a value that pickling loses."""

    def __init__(self):
        self.offset = 1

    def __getstate__(self):
        return {"offset": 0}

    def predict(self, X):
        return np.full(len(X), self.offset)


def test_save_checks_its_own_round_trip(tmp_path, data):
    X, _ = data
    with pytest.raises(ValueError, match="predicts differently"):
        save_model(Forgetful(), tmp_path, X[:3])
    assert not (tmp_path / "model.joblib").exists()

    class Local:          # a class defined in a function cannot be pickled
        def predict(self, X):
            return np.zeros(len(X))

    with pytest.raises(TypeError, match="cannot be saved"):
        save_model(Local(), tmp_path, X[:3])
    assert not (tmp_path / "model.joblib").exists()


def test_save_bad_input(tmp_path, data, fitted):
    X, _ = data
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_model(fitted, tmp_path / "absent", X[:3])
    with pytest.raises(ValueError, match="plain file name"):
        save_model(fitted, tmp_path, X[:3], name="../escape")
    with pytest.raises(ValueError, match="at least one row"):
        save_model(fitted, tmp_path, X[:0])
    with pytest.raises(TypeError, match="predict"):
        save_model(object(), tmp_path, X[:3])


def test_predictions_match():
    assert predictions_match(np.array(["a", "b"]), np.array(["a", "b"]))
    assert not predictions_match(np.array(["a", "b"]), np.array(["a", "c"]))
    assert not predictions_match([1.0, 2.0], [1.0, 2.001])
    assert not predictions_match([1, 2], [1, 2, 3])
    assert predictions_match([np.nan, 1.0], [np.nan, 1.0])


# -- drift ---------------------------------------------------------------------------------------

def psi_by_hand(ref, cur, n_bins=10):
    """PSI with explicit loops over bins, for comparison."""
    qs = sorted(set(np.quantile(ref, np.linspace(0, 1, n_bins + 1)[1:-1]).tolist()))
    bounds = [-np.inf, *qs, np.inf]
    total = 0.0
    for low, high in zip(bounds[:-1], bounds[1:]):
        p = max(np.mean((ref >= low) & (ref < high)), 1e-4)
        q = max(np.mean((cur >= low) & (cur < high)), 1e-4)
        total += (q - p) * np.log(q / p)
    return total


@pytest.mark.parametrize("seed", range(15))
def test_psi_matches_a_loop_over_bins(seed):
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=(int(rng.integers(20, 400)), 3))
    ref[:, 2] = rng.integers(0, 4, len(ref))               # a discrete feature: merged bins
    cur = rng.normal(rng.uniform(-1, 1), rng.uniform(0.5, 2), size=(int(rng.integers(5, 300)), 3))
    cur[:, 2] = rng.integers(0, 6, len(cur))
    n_bins = int(rng.integers(2, 12))
    psi = population_stability_index(ref, cur, n_bins=n_bins)
    expected = [psi_by_hand(ref[:, j], cur[:, j], n_bins) for j in range(3)]
    np.testing.assert_allclose(psi, expected, rtol=1e-10)


def test_psi_properties():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(3000, 2))
    same = population_stability_index(ref, rng.normal(size=(3000, 2)))
    moved = population_stability_index(ref, rng.normal(0.5, 1.0, size=(3000, 2)))
    far = population_stability_index(ref, rng.normal(3.0, 1.0, size=(3000, 2)))
    assert (same < 0.02).all() and (moved > 0.1).all() and (far > moved).all()
    assert population_stability_index(ref, ref) == pytest.approx(0.0)
    const = population_stability_index(np.ones(50), np.ones(40))
    assert const.shape == (1,) and const[0] == 0.0


def test_ks_statistic_matches_scipy_and_its_definition():
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(size=(200, 2)), rng.normal(0.3, 1.0, size=(150, 2))
    d, p = ks_statistic(ref, cur)
    for j in range(2):
        grid = np.concatenate([ref[:, j], cur[:, j]])
        f_r = np.searchsorted(np.sort(ref[:, j]), grid, side="right") / len(ref)
        f_c = np.searchsorted(np.sort(cur[:, j]), grid, side="right") / len(cur)
        assert d[j] == pytest.approx(np.abs(f_r - f_c).max())
        assert p[j] == pytest.approx(stats.ks_2samp(ref[:, j], cur[:, j]).pvalue)


def test_drift_inputs_are_validated():
    with pytest.raises(ValueError, match="same features"):
        population_stability_index(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="finite"):
        population_stability_index(np.array([1.0, np.nan]), np.ones(3))
    with pytest.raises(ValueError, match="non-empty"):
        ks_statistic(np.zeros((0, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="n_bins"):
        population_stability_index(np.ones(5), np.ones(5), n_bins=1)
    with pytest.raises(ValueError, match="numeric"):
        population_stability_index(["a", "b"], ["a", "b"])


def test_drift_report_and_plot(data):
    X, _ = data
    frame = pd.DataFrame(X[:, :4], columns=["a", "b", "c", "d"])
    new = frame.sample(200, random_state=0).reset_index(drop=True)
    new["b"] = new["b"] + 2 * frame["b"].std()
    report = drift_report(frame, new)
    assert report.index.tolist() == ["a", "b", "c", "d"]
    assert report.loc["b", "drifted"] and report["drifted"].sum() == 1
    np.testing.assert_allclose(report["psi"], population_stability_index(frame.to_numpy(), new.to_numpy()))
    np.testing.assert_allclose(report["ks"], ks_statistic(frame, new)[0])
    assert drift_report(frame.to_numpy(), new.to_numpy()).index.tolist() == ["x0", "x1", "x2", "x3"]
    ax = plot_drift(report)
    assert len(ax.patches) == 4
    plt.close("all")
    with pytest.raises(ValueError, match="psi_threshold"):
        drift_report(frame, new, psi_threshold=-1)


# -- the decision --------------------------------------------------------------------------------

def test_should_retune_on_drift_share():
    assert not should_retune([0.01, 0.02, 0.05, 0.30], min_share=0.3)       # 25 % < 30 %
    assert should_retune([0.01, 0.02, 0.35, 0.30], min_share=0.3)            # 50 %
    assert not should_retune([0.25, 0.25])                                   # strictly above the threshold
    assert should_retune([0.15, 0.0], threshold=0.1, min_share=0.5)


def test_should_retune_on_score_drop():
    calm = [0.01, 0.02]
    assert not should_retune(calm, baseline_score=0.95, new_score=0.94)
    assert should_retune(calm, baseline_score=0.95, new_score=0.92)
    assert not should_retune(calm, baseline_score=0.95, new_score=0.99)
    assert should_retune(calm, baseline_score=0.10, new_score=0.15, higher_is_better=False)
    assert not should_retune(calm, baseline_score=0.10, new_score=0.05, higher_is_better=False)
    assert should_retune(calm, baseline_score=0.95, new_score=0.94, max_score_drop=0.005)


@pytest.mark.parametrize("bad, match", [
    (dict(drift=[]), "non-empty"), (dict(drift=[[0.1]]), "1-D"), (dict(drift=[-0.1]), "non-negative"),
    (dict(drift=[np.nan]), "finite"), (dict(drift=[0.1], min_share=0), "min_share"),
    (dict(drift=[0.1], min_share=1.5), "min_share"), (dict(drift=[0.1], threshold=-1), "threshold"),
    (dict(drift=[0.1], baseline_score=0.9), "both"), (dict(drift=[0.1], baseline_score=0.9, new_score="x"), "new_score"),
])
def test_should_retune_bad_input(bad, match):
    drift = bad.pop("drift")
    with pytest.raises(ValueError, match=match):
        should_retune(drift, **bad)


def test_module_writes_nothing_outside_the_given_folder(tmp_path, data, fitted, monkeypatch):
    X, _ = data
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "models"
    target.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("error")                             # same version: no warning
        save_model(fitted, target, X[:5])
        load_model(target)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["model.joblib", "models"]
    assert deployment.PSI_FLOOR == 1e-4
