"""Cross-validation on a Dask cluster: the training rows and the folds are copied
to every worker once per training; then each task is one fold (trials one after
another: the folds of a trial spread over the workers) or one whole trial (trials
in batches). A task runs on one thread. What comes back is taken in fold or
trial order, so the scores are the same as in this process."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from shipyard.compute.tasks import Shared, in_order, share
from shipyard.errors import ShipyardError
from shipyard.prepare import Dataset
from shipyard.train.cv import Maker, cross_validate, fit_fold


class Spread:
    """The cluster's side of one ``train``; a context manager: the workers keep
    their copies of the data until the block ends."""

    def __init__(self, client, ds: Dataset, folds: list) -> None:
        self.client, self.n = client, len(folds)
        self._copies = share(client, {"rows": ds, "folds": folds})

    def __enter__(self) -> Spread:
        handles = self._copies.__enter__()
        self.ds, self.folds = handles["rows"], handles["folds"]
        return self

    def __exit__(self, *exc) -> None:
        self._copies.__exit__(*exc)

    def fold_fitter(self, make: Maker, task: str, metric: str, patience: int | None):
        """For ``cross_validate(fit=...)``: ``fit(params)`` yields the folds' results
        in fold order, one task per fold."""
        one = replace(make, one_thread=True)

        def fit(params: dict[str, Any]):
            return in_order(self.client, "fold", _fold_task, range(self.n), self.ds,
                            self.folds, one, params, task, metric, patience)

        return fit

    def trial_scorer(self, make: Maker, task: str, metric: str, patience: int | None):
        """For ``search.tune(score_batch=...)``: every setting cross-validated as one
        task; a Candidate, or the reason the setting failed, for each."""
        one = replace(make, one_thread=True)

        def score_batch(settings: list[dict[str, Any]]) -> list:
            return list(in_order(self.client, "trial", _trial_task, settings, self.ds,
                                 self.folds, one, task, metric, patience))

        return score_batch


def _fold_task(i: int, ds: Shared, folds: Shared, make: Maker, params: dict, task: str,
               metric: str, patience: int | None):
    """On a worker: fit and score fold ``i``. A bad setting raises, as it would here."""
    fit_rows, val_rows = folds.value()[i]
    return fit_fold(ds.value(), make(params), fit_rows, val_rows, task, metric, patience)


def _trial_task(params: dict, ds: Shared, folds: Shared, make: Maker, task: str, metric: str,
                patience: int | None):
    """On a worker: cross-validate one setting. A setting that fails comes back as its
    reason (a failed trial, as in this process), not as an exception to unpickle."""
    try:
        return cross_validate(ds.value(), folds.value(), make, make.name, params, task, metric,
                              patience)
    except (ShipyardError, ValueError, TypeError) as exc:
        return str(exc)
