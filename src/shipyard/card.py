"""What a trained model says about itself, stored with it in the registry.

The server needs no project file: the card tells it the task, the input schema
and, for classifiers, the class order of ``predict_proba``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from shipyard.schema import Schema


@dataclass(frozen=True)
class ModelCard:
    name: str  # the registered model's name: the project's name
    task: str
    target: str | None  # None: an anomaly detector trained without labels
    schema: Schema
    classes: tuple = ()  # predict_proba column order; empty for regression
    positive_class: Any = None  # binary: the class whose probability is reported;
    # anomaly: the target's value that marks an anomaly
    threshold: float | None = None  # binary only: positive when its probability >= this;
    # anomaly: a row is flagged when its anomaly score >= this
    entity: str | None = None
    estimator: str = ""  # the winning candidate, e.g. "lightgbm"
    metrics: dict[str, float] = field(default_factory=dict)  # holdout metrics
    # Inputs that hold personal data (found by the privacy gate): never written to the
    # prediction log. They are not features unless the project file allowed them.
    private: tuple[str, ...] = ()
    version: str | None = None  # set when loaded from the registry
    run_id: str | None = None

    def with_version(self, version: str, run_id: str | None = None) -> ModelCard:
        return replace(self, version=str(version), run_id=run_id or self.run_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "task": self.task, "target": self.target,
            "schema": self.schema.to_dict(), "classes": [_plain(c) for c in self.classes],
            "positive_class": _plain(self.positive_class), "threshold": self.threshold,
            "entity": self.entity,
            "estimator": self.estimator, "metrics": dict(self.metrics),
            "private": list(self.private),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        return cls(
            name=data["name"], task=data["task"], target=data["target"],
            schema=Schema.from_dict(data["schema"]), classes=tuple(data.get("classes", ())),
            positive_class=data.get("positive_class"), threshold=data.get("threshold"),
            entity=data.get("entity"),
            estimator=data.get("estimator", ""), metrics=dict(data.get("metrics", {})),
            private=tuple(data.get("private", ())),
        )


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, so the card survives JSON and YAML."""
    return value.item() if hasattr(value, "item") else value


@dataclass(frozen=True)
class LoadedModel:
    """A fitted pipeline, which takes ``card.schema.model_frame`` input, and its card.

    ``onnx`` is the same pipeline compiled for ONNX Runtime, present only when it
    was verified to agree with ``pipeline`` at registration; otherwise
    ``fast_note`` says why there is none."""

    pipeline: Any
    card: ModelCard
    onnx: bytes | None = None
    fast_note: str = ""
    # The monitoring reference's files (see shipyard.monitor.reference), when it has one.
    reference: dict[str, bytes] | None = None
