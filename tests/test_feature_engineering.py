import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.utils.estimator_checks import check_estimator
from threadpoolctl import threadpool_limits

from course.automl.feature_engineering import FeatureConstructor, FilterSelector, ForwardSelector


@pytest.fixture(autouse=True)
def one_thread():
    # these problems are tiny: BLAS threads only fight over the cores
    with threadpool_limits(1):
        yield


def informative_problem(seed, n_features=10):
    """Three informative features (columns 0-2) among ``n_features``; the rest is noise."""
    return make_classification(300, n_features=n_features, n_informative=3, n_redundant=0,
                               n_clusters_per_class=1, shuffle=False, random_state=seed)


def product_problem(seed=0, n=400):
    """A target that depends on x0 * x1 only: invisible to a linear model of the raw features."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, X[:, 0] * X[:, 1] + 0.1 * rng.normal(size=n)


@pytest.mark.parametrize("estimator", [
    FeatureConstructor(), FeatureConstructor(operations=("polynomial", "ratio", "log", "sqrt")),
    FilterSelector(criterion="anova", k=2), ForwardSelector(GaussianNB(), cv=2, max_features=1)],
    ids=["constructor", "constructor-all-ops", "filter", "wrapper"])
def test_scikit_learn_estimator_checks(estimator):
    # every check of scikit-learn's check_estimator; the array-API check needs an
    # environment variable and is skipped by scikit-learn itself, so it is not reported
    results = check_estimator(estimator, on_fail=None, on_skip=None)
    failed = [f"{r['check_name']}: {r['exception']}" for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) >= 40


# ---------------------------------------------------------------------------------------
# Construction
# ---------------------------------------------------------------------------------------

def test_constructor_shapes_names_and_values():
    X = np.array([[1.0, 2.0, 4.0], [3.0, 0.5, 1.0], [2.0, 1.0, 8.0]])
    all_ops = FeatureConstructor(operations=("product", "ratio", "square", "log", "sqrt")).fit(X)
    names = all_ops.get_feature_names_out().tolist()
    assert len(names) == 3 + 3 + 6 + 3 + 3 + 3
    assert names[:6] == ["x0", "x1", "x2", "x0*x1", "x0*x2", "x1*x2"]
    assert names[6:12] == ["x0/x1", "x0/x2", "x1/x0", "x1/x2", "x2/x0", "x2/x1"]
    assert names[12:] == ["x0^2", "x1^2", "x2^2", "log(x0)", "log(x1)", "log(x2)",
                          "sqrt(x0)", "sqrt(x1)", "sqrt(x2)"]
    Z = all_ops.transform(X)
    assert Z.shape == (3, len(names))
    column = dict(zip(names, Z.T))
    np.testing.assert_allclose(column["x1*x2"], X[:, 1] * X[:, 2])
    np.testing.assert_allclose(column["x2/x1"], X[:, 2] / X[:, 1])
    np.testing.assert_allclose(column["x0^2"], X[:, 0] ** 2)
    np.testing.assert_allclose(column["log(x2)"], np.log(X[:, 2]))
    np.testing.assert_allclose(column["sqrt(x1)"], np.sqrt(X[:, 1]))
    only_new = FeatureConstructor(operations=("product",), include_original=False).fit(X)
    assert only_new.transform(X).shape == (3, 3)


def test_polynomial_gives_the_degree_two_terms():
    X = np.random.default_rng(0).normal(size=(20, 4))
    ours = FeatureConstructor(operations=("polynomial",)).fit_transform(X)
    reference = PolynomialFeatures(degree=2, include_bias=False).fit_transform(X)
    assert ours.shape == reference.shape
    # the same columns, in another order
    ours_sorted = ours[:, np.lexsort(ours)]
    reference_sorted = reference[:, np.lexsort(reference)]
    np.testing.assert_allclose(ours_sorted, reference_sorted)


def test_ratios_are_safe_and_log_sqrt_apply_to_positive_columns_only():
    X = np.array([[1.0, 0.0, -1.0, 4.0], [2.0, 1e-12, 3.0, 9.0], [3.0, 2.0, 5.0, 1.0]])
    constructor = FeatureConstructor(operations=("ratio", "log", "sqrt"), include_original=False).fit(X)
    names = constructor.get_feature_names_out().tolist()
    assert [n for n in names if n.startswith("log")] == ["log(x0)", "log(x3)"]      # > 0 in training
    assert [n for n in names if n.startswith("sqrt")] == ["sqrt(x0)", "sqrt(x1)", "sqrt(x3)"]   # >= 0
    Z = constructor.transform(X)
    assert np.all(np.isfinite(Z))
    x0_over_x1 = Z[:, names.index("x0/x1")]
    np.testing.assert_allclose(x0_over_x1, [0.0, 0.0, 1.5])           # |x1| <= eps: 0, not inf
    # new data below the training minimum is clipped, never NaN
    fresh = constructor.transform(np.array([[-5.0, 0.0, 0.0, -1.0]]))
    assert np.all(np.isfinite(fresh))
    assert fresh[0, names.index("log(x0)")] == pytest.approx(np.log(1.0))


def test_constructor_keeps_dataframe_column_names():
    X = pd.DataFrame({"height": [1.0, 2.0, 3.0], "width": [2.0, 1.0, 4.0]})
    constructor = FeatureConstructor(operations=("product", "ratio")).fit(X)
    assert constructor.get_feature_names_out().tolist() == [
        "height", "width", "height*width", "height/width", "width/height"]
    assert constructor.get_feature_names_out(["a", "b"]).tolist()[2] == "a*b"


def test_constructor_errors():
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match="unknown operation 'cube'"):
        FeatureConstructor(operations=("cube",)).fit(X)
    with pytest.raises(ValueError, match="list of operator names"):
        FeatureConstructor(operations="product").fit(X)
    with pytest.raises(ValueError, match="eps must be"):
        FeatureConstructor(eps=-1).fit(X)
    with pytest.raises(ValueError, match="nothing to output"):
        FeatureConstructor(operations=("product",), include_original=False).fit(X[:, :1])
    with pytest.raises(NotFittedError):
        FeatureConstructor().transform(X)
    with pytest.raises(ValueError, match="features"):
        FeatureConstructor().fit(X).transform(np.ones((3, 5)))


def test_construction_really_helps_a_linear_model():
    # regression: y = x0 * x1 + noise
    X, y = product_problem()
    raw = cross_val_score(LinearRegression(), X, y, cv=5, scoring="r2").mean()
    constructed = cross_val_score(make_pipeline(FeatureConstructor(), LinearRegression()),
                                  X, y, cv=5, scoring="r2").mean()
    assert raw < 0.05 and constructed > 0.95
    # classification: the sign of x0 * x1 (XOR), hopeless for a linear classifier without it
    labels = (X[:, 0] * X[:, 1] > 0).astype(int)
    raw = cross_val_score(LogisticRegression(), X, labels, cv=5).mean()
    constructed = cross_val_score(make_pipeline(FeatureConstructor(), StandardScaler(), LogisticRegression()),
                                  X, labels, cv=5).mean()
    assert raw < 0.65 and constructed > 0.9


# ---------------------------------------------------------------------------------------
# Filter
# ---------------------------------------------------------------------------------------

def test_filter_ranks_by_score_and_keeps_k():
    X, y = informative_problem(1)
    anova = FilterSelector(criterion="anova", k=2).fit(X, y)
    assert anova.get_support(indices=True).tolist() == [0, 2]
    assert anova.ranking_[:2].tolist() == np.argsort(-anova.scores_)[:2].tolist()
    mutual = FilterSelector(k=0.2).fit(X, y)                    # 20 % of 10 features
    assert mutual.get_support().sum() == 2 and set(mutual.get_support(indices=True)) <= {0, 1, 2}
    assert FilterSelector(criterion="anova", k=50).fit(X, y).get_support().all()   # capped
    assert FilterSelector(criterion="anova", k=0.01).fit(X, y).get_support().sum() == 1  # at least one
    assert anova.transform(X).shape == (300, 2)
    assert anova.get_feature_names_out().tolist() == ["x0", "x2"]


def test_filter_regression_constant_features_and_callable_criteria():
    X, y = make_regression(200, n_features=6, n_informative=2, shuffle=False, random_state=0)
    X[:, 5] = 1.0                                                   # constant: NaN F score, ranked last
    selector = FilterSelector(criterion="anova", k=5).fit(X, y)
    assert selector.get_support(indices=True).tolist() == [0, 1, 2, 3, 4]
    assert selector.ranking_[-1] == 5 and set(selector.ranking_[:2]) == {0, 1}
    by_variance = FilterSelector(criterion=lambda X, y: X.var(axis=0), k=1).fit(X, y)
    assert by_variance.get_support(indices=True).tolist() == [int(np.argmax(X.var(axis=0)))]
    mutual = FilterSelector(k=2).fit(X, y)                         # mutual_info_regression
    assert set(mutual.get_support(indices=True)) == {0, 1}


def test_filter_errors():
    X, y = informative_problem(0)
    for k in (0, -1, 1.5, "half", True):
        with pytest.raises(ValueError, match="k"):
            FilterSelector(k=k).fit(X, y)
    with pytest.raises(ValueError, match="criterion must be"):
        FilterSelector(criterion="chi3").fit(X, y)
    with pytest.raises(ValueError, match="task must be"):
        FilterSelector(task="ranking").fit(X, y)
    with pytest.raises(ValueError, match="one score per feature"):
        FilterSelector(criterion=lambda X, y: np.ones(3)).fit(X, y)


# ---------------------------------------------------------------------------------------
# Wrapper
# ---------------------------------------------------------------------------------------

def test_wrapper_finds_the_informative_features():
    for seed in range(6):
        X, y = informative_problem(seed)
        # on 300 samples a noise feature can gain up to about 0.01 of CV accuracy by chance
        selector = ForwardSelector(LinearDiscriminantAnalysis(), tol=0.015).fit(X, y)
        assert selector.selected_ and set(selector.selected_) <= {0, 1, 2}, seed     # never noise
        assert np.all(np.diff(selector.scores_) > 0.015)
    # seed 0: all three, including x2, which is useless alone: the filter prefers noise to it
    X, y = informative_problem(0)
    selector = ForwardSelector(LinearDiscriminantAnalysis(), tol=0.01).fit(X, y)
    assert selector.selected_ == [0, 1, 2]
    assert selector.n_evaluations_ == 10 + 9 + 8 + 7      # the fourth round found no gain
    assert 2 not in FilterSelector(criterion="anova", k=3).fit(X, y).get_support(indices=True)
    all_three = cross_val_score(LinearDiscriminantAnalysis(), X[:, :3], y, cv=5).mean()
    assert selector.scores_[-1] == pytest.approx(all_three)
    assert selector.get_feature_names_out().tolist() == ["x0", "x1", "x2"]


def test_wrapper_cap_scoring_and_regression():
    X, y = informative_problem(0)
    capped = ForwardSelector(LinearDiscriminantAnalysis(), max_features=2).fit(X, y)
    assert capped.selected_ == [0, 1] and capped.transform(X).shape == (300, 2)
    fraction = ForwardSelector(LinearDiscriminantAnalysis(), max_features=0.1).fit(X, y)
    assert len(fraction.selected_) == 1
    log_loss = ForwardSelector(GaussianNB(), scoring="neg_log_loss", cv=3, max_features=2).fit(X, y)
    assert len(log_loss.selected_) == 2 and all(s < 0 for s in log_loss.scores_)
    Xr, yr = make_regression(200, n_features=8, n_informative=3, noise=5.0, shuffle=False, random_state=0)
    ridge = ForwardSelector(Ridge(), cv=3, tol=0.01).fit(Xr, yr)
    assert sorted(ridge.selected_) == [0, 1, 2]


def test_wrapper_errors():
    X, y = informative_problem(0)
    with pytest.raises(ValueError, match="tol must be"):
        ForwardSelector(GaussianNB(), tol=float("nan")).fit(X, y)
    with pytest.raises(ValueError, match="max_features"):
        ForwardSelector(GaussianNB(), max_features=0).fit(X, y)
    with pytest.raises(ValueError, match="estimator must be"):
        ForwardSelector("GaussianNB").fit(X, y)


# ---------------------------------------------------------------------------------------
# As pipeline steps
# ---------------------------------------------------------------------------------------

def test_construction_then_selection_in_a_pipeline_finds_the_product():
    X, y = product_problem(1)
    labels = (X[:, 0] * X[:, 1] > 0).astype(int)
    filtered = make_pipeline(FeatureConstructor(), FilterSelector(k=1), LogisticRegression())
    filtered.fit(X, labels)
    assert filtered[:-1].get_feature_names_out().tolist() == ["x0*x1"]
    wrapped = make_pipeline(FeatureConstructor(), ForwardSelector(LogisticRegression(), cv=3, tol=0.01),
                            LogisticRegression())
    wrapped.fit(X, labels)
    assert wrapped[:-1].get_feature_names_out().tolist()[0] == "x0*x1"
    assert wrapped.score(X, labels) > 0.9


def test_clone_params_and_search_over_a_step():
    for step in (FeatureConstructor(operations=("ratio",)), FilterSelector(k=3),
                 ForwardSelector(GaussianNB(), max_features=2)):
        copy = clone(step)
        assert copy.get_params() == step.get_params() or "estimator" in step.get_params()
        assert type(copy) is type(step)
    selector = FilterSelector(k=3).set_params(k=5, criterion="anova")
    assert selector.get_params()["k"] == 5 and selector.criterion == "anova"
    X, y = product_problem(2, n=200)
    search = GridSearchCV(make_pipeline(FeatureConstructor(), FilterSelector(criterion="anova"),
                                        LinearRegression()),
                          {"featureconstructor__operations": [("square",), ("product",)],
                           "filterselector__k": [1, 4]}, cv=3).fit(X, y)
    assert search.best_params_["featureconstructor__operations"] == ("product",)
    assert search.best_score_ > 0.9
