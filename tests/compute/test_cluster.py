"""Reaching a Dask cluster from a project's ``compute`` section."""

from __future__ import annotations

import pytest

from shipyard import compute, spec
from shipyard.errors import ComputeError
from tests.pg import free_port


def test_joins_a_running_scheduler(dask):
    with compute.connect(spec.Compute(backend="dask", address=dask.address)) as client:
        assert compute.workers(client) == 2
        assert client.submit(sum, [1, 2, 3]).result() == 6


def test_a_scheduler_that_is_not_there_is_named():
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(ComputeError, match=f"No Dask scheduler answered at {address}"), \
            compute.connect(spec.Compute(backend="dask", address=address, timeout=1)):
        pass


def test_no_compute_section_keeps_work_in_process():
    with compute.connect(None) as client:
        assert client is None


def test_local_starts_a_loopback_cluster_and_stops_it():
    with compute.connect(spec.Compute(backend="local", workers=2)) as client:
        address = client.scheduler.address
        assert address.startswith("tcp://127.0.0.1:")
        assert compute.workers(client) == 2
    assert client.status == "closed"


@pytest.mark.parametrize(("section", "message"), [
    ({"backend": "dask"}, "needs 'address'"),
    ({"backend": "local", "address": "tcp://127.0.0.1:8786"}, "starts its own cluster"),
    ({"backend": "dask", "address": "127.0.0.1:8786"}, "is a scheduler's tcp://host:port"),
    ({"backend": "spark"}, "backend"),
])
def test_a_wrong_compute_section_is_a_spec_error(section, message):
    import json

    from shipyard.errors import SpecError
    from tests.helpers import project

    with pytest.raises(SpecError) as err:
        project(extra=f"compute: {json.dumps(section)}\n")
    assert "compute" in str(err.value)
    assert message in str(err.value)
