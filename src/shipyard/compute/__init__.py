"""Where work runs: in this process, or on a Dask cluster (tuning trials,
cross-validation folds, batch scoring), as the project's ``compute`` section says."""

from shipyard.compute.cluster import connect, workers

__all__ = ["connect", "workers"]
