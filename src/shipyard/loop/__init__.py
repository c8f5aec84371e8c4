"""The closed loop: when to retrain, one retraining cycle, and running it on a
schedule (or exporting it to Airflow).

``retrain(project)`` runs one cycle: a monitoring pass, the ``retrain`` policy,
and when it triggers, a challenger trained on fresh data and compared with the
champion on the same recent holdout; promoted only when it passes its gates
and beats the champion by ``retrain.margin``. Every cycle's :class:`Decision`
is recorded in MLflow and in the prediction log.
"""

from shipyard.loop.cycle import retrain
from shipyard.loop.decision import Decision
from shipyard.loop.policy import reasons

__all__ = ["Decision", "reasons", "retrain"]
