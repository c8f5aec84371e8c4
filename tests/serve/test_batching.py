"""Micro-batching on a real engine: batches form under concurrency, each request
gets its own rows back, and overload is shed with a reason, never left waiting."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from shipyard.serve.batching import Batcher, Overloaded
from shipyard.serve.engine import engine_for
from shipyard.serve.inputs import checked, to_batch
from shipyard.spec import Batching

from .models import SCHEMA, binary_model, raw_rows


@pytest.fixture(scope="module")
def engine():
    return engine_for(binary_model())


def batches(n: int, rows: int = 3):
    return [checked(raw_rows(rows, seed=100 + i), SCHEMA) for i in range(n)]


def test_concurrent_requests_share_a_batch_and_get_their_own_scores(engine):
    sizes = []
    batcher = Batcher(Batching(max_rows=64), on_batch=lambda rows, s: sizes.append(rows))
    requests = batches(12)

    async def go():
        return await asyncio.gather(*(batcher.score(engine, b) for b in requests))

    together = asyncio.run(go())
    alone = [engine.score(to_batch([b], SCHEMA)) for b in requests]
    for got, want in zip(together, alone, strict=True):
        np.testing.assert_allclose(got.proba, want.proba, rtol=1e-12)
    assert sum(sizes) == 36
    assert max(sizes) > 3, sizes  # requests were scored together, not one by one
    batcher.close()


def test_a_batch_never_exceeds_max_rows(engine):
    sizes = []
    batcher = Batcher(Batching(max_rows=7), on_batch=lambda rows, s: sizes.append(rows))

    async def go():
        return await asyncio.gather(*(batcher.score(engine, b) for b in batches(10)))

    asyncio.run(go())
    assert sum(sizes) == 30 and max(sizes) <= 7, sizes
    batcher.close()


def test_a_full_queue_refuses_at_once(engine):
    batcher = Batcher(Batching(queue_rows=5))
    big = checked(raw_rows(6, seed=1), SCHEMA)
    with pytest.raises(Overloaded, match="6 rows|at most 5") as caught:
        asyncio.run(batcher.score(engine, big))
    assert caught.value.retry_after >= 1
    batcher.close()


def test_requests_over_the_latency_budget_are_shed(engine):
    # Each batch waits 20 ms for company, longer than the 5 ms budget.
    batcher = Batcher(Batching(max_wait_ms=20, budget_ms=5))

    async def go():
        return await asyncio.gather(*(batcher.score(engine, b) for b in batches(3)),
                                    return_exceptions=True)

    results = asyncio.run(go())
    assert all(isinstance(r, Overloaded) for r in results), results
    assert "over the 5 ms budget" in str(results[0])
    batcher.close()


def test_one_failing_request_does_not_fail_its_batch_mates():
    from .models import regression_model

    fragile = engine_for(regression_model(handle_unknown="error"))
    good = batches(3)
    bad = checked([{**raw_rows(1, seed=5)[0], "city": "Atlantis"}], SCHEMA)
    batcher = Batcher(Batching())

    async def go():
        return await asyncio.gather(*(batcher.score(fragile, b) for b in [*good, bad]),
                                    return_exceptions=True)

    results = asyncio.run(go())
    assert all(r.values.shape == (3,) for r in results[:3])
    assert isinstance(results[3], ValueError)
    batcher.close()
