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
    assert s.html.count(IMG) == 2
    assert _alts(s.html) == ["Predicted vs actual", "Residuals vs predicted"]
    for header in ("metric", "model", "constant baseline"):
        assert f"<th>{header}</th>" in s.html
    assert s.html.count('<tr class="highlight"><td>RMSE (primary)</td>') == 1
    assert s.html.count("badge-good") == 3  # the model beats the baseline on all three


def test_large_regression_holdouts_are_subsampled():
    s = section(_evaluation("regression", n=12000), metric="r2")
    assert "(5,000 of 6,000 rows)" in s.html
    assert '<tr class="highlight"><td>R² (primary)</td>' in s.html


def test_binary_section():
    s = section(_evaluation("binary"), metric="roc_auc")
    assert s.html.count(IMG) == 3
    alts = _alts(s.html)
    assert alts[0].startswith("ROC curve") and alts[1].startswith("Precision–recall")
    assert alts[2].startswith("Confusion matrix")
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
    assert s.html.count(IMG) == 2
    alts = _alts(s.html)
    assert alts[0].startswith("Confusion matrix") and alts[1].startswith("ROC curves")


def test_section_without_baseline_has_no_baseline_column():
    X, y = make_regression(200, 3, random_state=0)
    e = evaluate(Ridge().fit(X, y), X, y, task="regression")
    s = section(e, metric="mae")
    assert "constant baseline" not in s.html and s.html.count(IMG) == 2


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="'rmse' was not computed for this binary evaluation"):
        section(_evaluation("binary"), metric="rmse")


def test_sections_make_a_page(tmp_path):
    page = report.render("Run", [section(_evaluation("binary"), metric="f1")])
    path = report.write(tmp_path / "report.html", page)
    assert path.read_text(encoding="utf-8").count(IMG) == 3
    assert 'src="http' not in page and 'href="http' not in page
