import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression, Ridge

from shipyard import report
from shipyard.evaluate import baseline_for, evaluate, section

IMG = '<img class="plot" src="data:image/png;base64,'


def _evaluation(task, n=600, **kwargs):
    if task == "regression":
        X, y = make_regression(n, 4, noise=3.0, random_state=0)
        model_class = Ridge
    else:
        X, y = make_classification(n, 6, n_informative=4,
                                   n_classes=2 if task == "binary" else 3, random_state=0)
        model_class = LogisticRegression
    X = pd.DataFrame(X, columns=["a", "b", "c", "d", "e", "f"][:X.shape[1]])
    cut = n // 2
    model = model_class().fit(X[:cut], y[:cut])
    baseline = baseline_for(task, X[:cut], y[:cut])
    return evaluate(model, X[cut:], y[cut:], task=task, baseline=baseline, **kwargs)


def _alts(html):
    return [part.split('"')[0] for part in html.split('alt="')[1:]]


def test_regression_section():
    s = section(_evaluation("regression"), metric="rmse")
    assert isinstance(s, report.Section) and s.title == "Holdout evaluation"
    assert s.html.count(IMG) == 3
    assert _alts(s.html) == ["Predicted vs actual", "Residuals vs predicted",
                             "Residuals vs actual"]
    for header in ("metric", "model", "constant baseline"):
        assert f"<th>{header}</th>" in s.html
    assert "CV mean" not in s.html and "Metrics by" not in s.html
    assert s.html.count('<tr class="highlight"><td>RMSE (primary)</td>') == 1
    assert s.html.count("badge-good") == 5  # the model beats the baseline on all five


def test_large_regression_holdouts_are_subsampled():
    s = section(_evaluation("regression", n=12000), metric="r2")
    assert "(5,000 of 6,000 rows)" in s.html
    assert '<tr class="highlight"><td>R² (primary)</td>' in s.html


def test_binary_section():
    s = section(_evaluation("binary"), metric="roc_auc")
    assert s.html.count(IMG) == 5
    alts = _alts(s.html)
    assert alts[0].startswith("ROC curve") and alts[1].startswith("Precision–recall")
    assert alts[2].startswith("Confusion matrix") and alts[3].startswith("Calibration")
    assert alts[4] == "Metrics across thresholds"
    assert "at least 0.5, the model" in s.html
    assert '<tr class="highlight"><td>ROC-AUC (primary)</td>' in s.html
    assert s.html.count("<tr>") + s.html.count('<tr class="highlight">') == 1 + 7


def test_binary_section_names_the_positive_class():
    X, y = make_classification(400, 5, weights=[0.8], random_state=3)
    X, y = pd.DataFrame(X, columns=list("abcde")), np.where(y == 1, "fail", "ok")
    model = LogisticRegression().fit(X[:200], y[:200])
    s = section(evaluate(model, X[200:], y[200:], task="binary", positive="fail"),
                metric="pr_auc")
    alts = _alts(s.html)
    assert "positive class: fail" in alts[0] and "positive class: fail" in alts[1]
    assert "<code>fail</code>" in s.html


def test_multiclass_section():
    s = section(_evaluation("multiclass"), metric="f1")
    assert s.html.count(IMG) == 3
    alts = _alts(s.html)
    assert alts[0].startswith("Confusion matrix") and alts[1].startswith("ROC curves")
    assert alts[2] == "Calibration of the top class (equal-count bins)"


def test_section_without_baseline_has_no_baseline_column():
    X, y = make_regression(200, 3, random_state=0)
    e = evaluate(Ridge().fit(X, y), X, y, task="regression")
    s = section(e, metric="mae")
    assert "constant baseline" not in s.html and s.html.count(IMG) == 3


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="'rmse' was not computed for this binary evaluation"):
        section(_evaluation("binary"), metric="rmse")


def test_sections_make_a_page(tmp_path):
    page = report.render("Run", [section(_evaluation("binary"), metric="f1")])
    path = report.write(tmp_path / "report.html", page)
    assert path.read_text(encoding="utf-8").count(IMG) == 5
    assert 'src="http' not in page and 'href="http' not in page


def test_cv_column_sits_next_to_the_holdout_values():
    cv = {"roc_auc": (0.91234, 0.0123), "f1": (0.8, 0.05)}
    s = section(_evaluation("binary"), metric="roc_auc", cv=cv)
    assert "<th>model</th><th>CV mean ± std</th><th>constant baseline</th>" in s.html
    assert "<td>0.9123 ± 0.0123</td>" in s.html and "<td>0.8 ± 0.05</td>" in s.html
    assert s.html.count("<td></td>") == 5  # the other metrics had no CV value given


def test_importance_plot_and_segment_table():
    X, y = make_classification(600, 4, n_informative=3, n_redundant=0, random_state=1)
    X = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    region = pd.Series(np.where(X["d"][300:] > 0, "west", "east"), name="region")
    model = LogisticRegression().fit(X[:300], y[:300])
    e = evaluate(model, X[300:], y[300:], task="binary", segments=region, importance=True,
                 threshold=0.35)
    s = section(e, metric="f1")
    assert s.html.count(IMG) == 6 and _alts(s.html)[-1] == "Permutation importance"
    assert "<h3>Metrics by region</h3>" in s.html
    table = s.html[s.html.index("Metrics by region"):]
    assert "<th>region</th><th>rows</th><th>F1</th>" in table  # primary metric first
    assert table.count("<td>west</td>") == 1 and table.count("<td>east</td>") == 1
    assert "at least 0.35, the model" in s.html


def test_regression_importance_plot_names_its_units():
    e = _evaluation("regression", importance=True)
    s = section(e, metric="rmse", cv={"rmse": (3.0, 0.2), "phm08": (900.0, 50.0)})
    assert s.html.count(IMG) == 4 and _alts(s.html)[-1] == "Permutation importance"
    assert "PHM08 is a sum over rows" in s.html
    assert len(s.html) < 400_000  # plots stay compact
