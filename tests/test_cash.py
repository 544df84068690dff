"""The CASH space and configuration -> pipeline (course.automl.cash)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import make_classification, make_regression
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from course.automl.cash import (FEATURES, IMPUTERS, MODELS, REGRESSION_MODELS, SCALERS,
                                PolynomialOnBestFeatures, SelectBestFraction, StableSignPCA,
                                build_pipeline, cash_space, components)
from course.hpo import RandomSampler, TPESampler, Trial
from course.testing import rescaled_by_ulps

# the models' iterations are capped on purpose (cheap fits); their convergence warnings are expected
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def classification_data(n=90, d=6, seed=0, nan=False):
    X, y = make_classification(n_samples=n, n_features=d, n_informative=3, n_redundant=1,
                               n_classes=3, n_clusters_per_class=1, random_state=seed)
    if nan:
        X[np.random.default_rng(seed).random(X.shape) < 0.1] = np.nan
    return X, y


def regression_data(n=90, d=6, seed=0):
    X, y = make_regression(n_samples=n, n_features=d, n_informative=3, noise=5.0, random_state=seed)
    return X, 100.0 + 50.0 * y  # a target far from standard scale


# -- the model lists ---------------------------------------------------------------------------

def test_model_families():
    assert MODELS == ("logistic_regression", "knn", "svm", "decision_tree", "random_forest",
                      "gradient_boosting", "mlp")
    assert REGRESSION_MODELS == ("ridge", "knn", "svr", "decision_tree", "random_forest",
                                 "gradient_boosting", "mlp")
    assert set(FEATURES) == {"none", "select_k_best", "pca", "polynomial"}
    assert set(SCALERS) == {"none", "standard", "minmax", "robust"}


# -- the space -----------------------------------------------------------------------------------

def test_space_layout_and_names():
    space = cash_space()
    roots = [p.name for p in space if not p.when]
    assert roots == ["imputer", "scaler", "features", "model"]
    assert list(space["model"].choices) == list(MODELS)
    for name in ("svm:C", "svm:gamma", "knn:n_neighbors", "select_k_best:fraction", "pca:variance",
                 "polynomial:n_inputs", "random_forest:n_estimators", "mlp:alpha"):
        assert name in space
    # every child names its parent choice, and hyperparameters of a model need that model
    for param in space:
        if ":" in param.name:
            owner = param.name.split(":")[0]
            group = "model" if owner in MODELS else "features"
            assert param.when[group] == (owner,)
    assert space["svm:gamma"].when == {"model": ("svm",), "svm:kernel": ("rbf",)}
    assert "imputer" not in cash_space(imputation=False)
    regression = cash_space(task="regression")
    assert list(regression["model"].choices) == list(REGRESSION_MODELS)
    assert "svr:epsilon" in regression and "svm:C" not in regression


def test_a_subset_of_models():
    space = cash_space(["knn", "svm"])
    assert space["model"].choices == ["knn", "svm"]
    assert not any(name.startswith(("mlp:", "random_forest:")) for name in space.names)
    assert cash_space("knn")["model"].choices == ["knn"]   # one name is accepted too


def test_conditional_parameters_only_when_active():
    space = cash_space()
    rng = np.random.default_rng(0)
    seen_models, seen_features = set(), set()
    for _ in range(300):
        config = space.sample(rng)
        space.validate(config)
        model, features = config["model"], config["features"]
        seen_models.add(model)
        seen_features.add(features)
        for key in config:
            if ":" in key:
                assert key.split(":")[0] in (model, features), (key, config)
        own = {hp for hp in space.names if hp.startswith(model + ":")}
        expected = {hp for hp in own if hp != "svm:gamma" or config.get("svm:kernel") == "rbf"}
        assert own & set(config) == expected
        assert ("svm:gamma" in config) == (model == "svm" and config["svm:kernel"] == "rbf")
    assert seen_models == set(MODELS) and seen_features == set(FEATURES)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"models": ["svm", "xgboost"]}, ValueError, r"unknown model\(s\) \['xgboost'\].*logistic_regression"),
    ({"models": ["ridge"]}, ValueError, "for task 'classification'"),
    ({"models": ["svm"], "task": "regression"}, ValueError, "choose from.*svr"),
    ({"models": []}, ValueError, "at least one model"),
    ({"models": ["knn", "knn"]}, ValueError, "twice"),
    ({"models": 3}, TypeError, "models must be a list"),
    ({"task": "clustering"}, ValueError, "task must be"),
    ({"imputation": "yes"}, TypeError, "imputation must be a bool"),
])
def test_space_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        cash_space(**kwargs)


# -- configuration -> pipeline ---------------------------------------------------------------------

@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("features", list(FEATURES))
def test_every_classifier_and_feature_choice_builds_and_fits(model, features):
    X, y = classification_data()
    pipe = build_pipeline({"imputer": "mean", "scaler": "standard", "features": features,
                           "model": model})
    assert [name for name, _ in pipe.steps] == ["imputer", "scaler", "features", "model"]
    pipe.fit(X[:60], y[:60])
    assert set(pipe.predict(X[60:])) <= set(y)
    proba = pipe.predict_proba(X[60:])
    assert proba.shape == (30, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert pipe.score(X[60:], y[60:]) > 0.4   # better than guessing among 3 classes


@pytest.mark.parametrize("model", REGRESSION_MODELS)
@pytest.mark.parametrize("features", list(FEATURES))
def test_every_regressor_and_feature_choice_builds_and_fits(model, features):
    X, y = regression_data()
    pipe = build_pipeline({"scaler": "standard", "features": features, "model": model},
                          task="regression")
    assert isinstance(pipe.named_steps["model"], TransformedTargetRegressor)
    pipe.fit(X[:60], y[:60])
    prediction = pipe.predict(X[60:])
    assert prediction.shape == (30,) and np.isfinite(prediction).all()
    assert abs(np.mean(prediction) - np.mean(y)) < 3 * np.std(y)   # the target's scale is kept


@pytest.mark.parametrize("imputer", list(IMPUTERS))
@pytest.mark.parametrize("scaler", list(SCALERS))
def test_every_imputer_and_scaler_handles_missing_values(imputer, scaler):
    X, y = classification_data(nan=True)
    assert np.isnan(X).any()
    pipe = build_pipeline({"imputer": imputer, "scaler": scaler, "model": "logistic_regression"})
    assert set(pipe.fit(X, y).predict(X)) <= set(y)


def test_sampled_configurations_all_build_and_fit():
    X, y = classification_data(n=150, d=8, seed=1)
    space = cash_space()
    sampler = RandomSampler(seed=3)
    configs = [sampler.ask(space, []) for _ in range(60)]
    assert len({c["model"] for c in configs}) == len(MODELS)
    for k, config in enumerate(configs):
        pipe = build_pipeline(config, random_state=k)
        if k % 2 == 0:   # fit half of them: every model family still gets fitted several times
            pipe.fit(X[:100], y[:100])
            assert pipe.predict(X[100:]).shape == (50,)
    # TPE's model-based proposals (after its start-up) build as well
    tpe, history = TPESampler(n_startup_trials=5, seed=0), []
    for k in range(12):
        config = tpe.ask(space, history)
        build_pipeline(config)
        history.append(Trial(k, config, float(k % 3)))


def test_hyperparameters_reach_the_estimators():
    pipe = build_pipeline({"scaler": "none", "features": "pca", "pca:variance": 0.8,
                           "model": "svm", "svm:C": 3.0, "svm:kernel": "rbf", "svm:gamma": 0.05},
                          random_state=7)
    assert pipe.named_steps["scaler"] == "passthrough" and pipe.named_steps["imputer"] == "passthrough"
    pca = pipe.named_steps["features"]
    assert isinstance(pca, StableSignPCA) and pca.n_components == 0.8 and pca.random_state == 7
    calibrated = pipe.named_steps["model"]
    assert isinstance(calibrated, CalibratedClassifierCV)
    svc = calibrated.estimator
    assert (svc.C, svc.kernel, svc.gamma, svc.random_state) == (3.0, "rbf", 0.05, 7)

    bare = build_pipeline({"model": "svm", "svm:kernel": "linear"}, probability=False)
    assert isinstance(bare.named_steps["model"], SVC) and bare.named_steps["model"].kernel == "linear"

    knn = build_pipeline({"model": "knn", "knn:n_neighbors": 9, "knn:weights": "distance"})
    assert knn.named_steps["model"].n_neighbors == 9 and knn.named_steps["model"].weights == "distance"
    mlp = build_pipeline({"model": "mlp", "mlp:units": 20, "mlp:layers": 2})
    assert mlp.named_steps["model"].hidden_layer_sizes == (20, 20)
    forest = build_pipeline({"model": "random_forest", "random_forest:n_estimators": 12},
                            task="regression")
    assert forest.named_steps["model"].regressor.n_estimators == 12


def test_left_out_hyperparameters_take_their_defaults():
    pipe = build_pipeline({"model": "gradient_boosting", "features": "select_k_best"})
    model = pipe.named_steps["model"]
    assert model.learning_rate == 0.1 and model.max_iter == 20
    assert pipe.named_steps["features"].fraction == 0.5
    # every default is a valid value of its parameter in the space
    for task in ("classification", "regression"):
        space = cash_space(task=task)
        for group, choices in components(task).items():
            for component in choices.values():
                for hp in component.hyperparameters:
                    space[f"{component.name}:{hp.name}"].check(hp.default)


def test_same_random_state_same_predictions():
    X, y = classification_data(n=120)
    config = {"model": "random_forest", "random_forest:n_estimators": 15,
              "random_forest:max_features": 0.5}
    a = build_pipeline(config, random_state=3).fit(X, y).predict_proba(X)
    b = build_pipeline(config, random_state=3).fit(X, y).predict_proba(X)
    c = build_pipeline(config, random_state=4).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("config, kwargs, error, match", [
    ({"model": "xgboost"}, {}, ValueError, r"unknown model 'xgboost'.*'logistic_regression'"),
    ({"model": "ridge"}, {}, ValueError, "unknown model 'ridge' for task 'classification'"),
    ({"model": "svm"}, {"task": "regression"}, ValueError, "choose from.*'svr'"),
    ({"scaler": "standard"}, {}, ValueError, "no 'model'"),
    ({"model": "knn", "knn:k": 3}, {}, ValueError, "unknown key 'knn:k'"),
    ({"model": "knn", "svm:C": 1.0}, {}, ValueError, "'svm:C' is set but inactive"),
    ({"model": "svm", "svm:kernel": "linear", "svm:gamma": 0.1}, {}, ValueError,
     "'svm:gamma' is set but inactive"),
    ({"model": "knn", "pca:variance": 0.9}, {}, ValueError, "'pca:variance' is set but inactive"),
    ({"model": "knn", "knn:n_neighbors": 500}, {}, ValueError, "outside"),
    ({"model": "knn", "scaler": "log"}, {}, ValueError, "'log' is not one of"),
    ([("model", "knn")], {}, TypeError, "must be a dict"),
    ({"model": "knn"}, {"task": "ranking"}, ValueError, "task must be"),
    ({"model": "knn"}, {"random_state": 1.5}, TypeError, "random_state must be an int"),
])
def test_build_pipeline_errors(config, kwargs, error, match):
    with pytest.raises(error, match=match):
        build_pipeline(config, **kwargs)


def test_the_pipeline_is_unfitted_and_a_fresh_object_each_time():
    a, b = build_pipeline({"model": "knn"}), build_pipeline({"model": "knn"})
    assert isinstance(a, Pipeline) and a is not b and a.named_steps["model"] is not b.named_steps["model"]
    assert not hasattr(a.named_steps["model"], "classes_")


# -- the two feature steps ------------------------------------------------------------------------

def test_select_best_fraction_keeps_the_informative_features():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 50)
    X = rng.normal(size=(100, 8))
    X[:, 2] += 3 * y
    X[:, 5] -= 2 * y
    X[:, 7] = 1.0   # constant: never chosen before a real feature
    selector = SelectBestFraction(0.25).fit(X, y)
    assert list(np.flatnonzero(selector.get_support())) == [2, 5]
    assert selector.transform(X).shape == (100, 2)
    assert SelectBestFraction(0.01).fit(X, y).transform(X).shape == (100, 1)   # never empty
    assert SelectBestFraction(1.0).fit(X, y).transform(X).shape == (100, 8)
    with pytest.raises(ValueError, match="fraction must be in"):
        SelectBestFraction(0.0).fit(X, y)
    yr = X[:, 4] * 2.0 + rng.normal(scale=0.1, size=100)
    regression = SelectBestFraction(1 / 8, task="regression").fit(X, yr)
    assert list(np.flatnonzero(regression.get_support())) == [4]


def test_polynomial_on_best_features_appends_products():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 40)
    X = rng.normal(size=(80, 6))
    X[:, 1] += 2 * y
    X[:, 4] += 3 * y
    poly = PolynomialOnBestFeatures(n_inputs=2).fit(X, y)
    assert list(poly.inputs_) == [1, 4]
    Z = poly.transform(X)
    assert Z.shape == (80, 6 + 3)   # x1^2, x1 x4, x4^2
    np.testing.assert_allclose(Z[:, :6], X)
    np.testing.assert_allclose(Z[:, 6:], np.column_stack([X[:, 1] ** 2, X[:, 1] * X[:, 4], X[:, 4] ** 2]))
    assert list(poly.get_feature_names_out()[6:]) == ["x1^2", "x1 x4", "x4^2"]
    inter = PolynomialOnBestFeatures(n_inputs=3, interaction_only=True).fit(X, y)
    assert inter.transform(X).shape == (80, 6 + 3)   # 3 pairs, no squares
    assert PolynomialOnBestFeatures(n_inputs=50).fit(X, y).transform(X).shape == (80, 6 + 21)
    with pytest.raises(ValueError, match="n_inputs must be a positive int"):
        PolynomialOnBestFeatures(n_inputs=0).fit(X, y)
    with pytest.raises(ValueError, match="task must be"):
        PolynomialOnBestFeatures(task="ranking").fit(X, y)


def test_stable_sign_pca_does_not_let_rounding_pick_the_signs():
    # Two standardised features: the principal directions are (1, 1)/sqrt(2) and
    # (1, -1)/sqrt(2), so the two loadings of each component tie in magnitude.
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    X = np.column_stack([x, 0.6 * x + rng.normal(size=200)])
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    signs_sklearn, signs_stable = set(), set()
    for seed in range(40):
        Xs = rescaled_by_ulps(X, seed)   # another CPU's rounding, emulated
        signs_sklearn.add(tuple(np.sign(PCA(2).fit(Xs).components_[:, 0])))
        signs_stable.add(tuple(np.sign(StableSignPCA(2).fit(Xs).components_[:, 0])))
    assert len(signs_sklearn) > 1   # the knife-edge exists: scikit-learn's signs follow the rounding
    assert signs_stable == {(1.0, 1.0)}   # here the first of two tied loadings is positive


def test_stable_sign_pca_is_pca_up_to_the_signs():
    X, y = make_classification(n_samples=120, n_features=8, random_state=3)
    for whiten in (False, True):
        ours, theirs = StableSignPCA(0.9, whiten=whiten).fit(X), PCA(0.9, whiten=whiten).fit(X)
        assert ours.n_components_ == theirs.n_components_ >= 2
        np.testing.assert_allclose(ours.explained_variance_, theirs.explained_variance_)
        signs = np.sign(np.sum(ours.components_ * theirs.components_, axis=1))
        np.testing.assert_allclose(ours.components_, signs[:, None] * theirs.components_)
        np.testing.assert_allclose(ours.transform(X), theirs.transform(X) * signs, atol=1e-9)
        np.testing.assert_allclose(StableSignPCA(0.9, whiten=whiten).fit_transform(X),
                                   ours.transform(X))
        largest = np.abs(ours.components_).argmax(axis=1)   # no ties here: the largest is positive
        assert (ours.components_[np.arange(len(largest)), largest] > 0).all()
    assert StableSignPCA(3, random_state=1).get_params() == PCA(3, random_state=1).get_params()
