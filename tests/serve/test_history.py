"""Stateful serving: a client sends one raw reading; the server keeps the entity's
history and computes the series features there, exactly as training does."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pandas as pd
import pytest

from shipyard.card import LoadedModel, ModelCard
from shipyard.prepare import dataset, steps
from shipyard.serve import create_app
from shipyard.serve.background import BackgroundServer
from shipyard.serve.compiler import compile_pipeline
from shipyard.serve.engine import engine_for
from shipyard.serve.history import HistoryStore, Service
from shipyard.spec import Serve
from shipyard.train.cv import make_pipeline
from tests.helpers import project

ENTITIES, READINGS = 6, 36

# Every series step at least once: median and EWM smoothing, every statistic, lags,
# elapsed rows, per-regime standardisation, raw values kept or not.
CONFIGS = {
    "median": "{smooth: {method: median, window: 3}, windows: [4, 9], "
              "stats: [mean, std, min, max, slope], lags: [1, 3], elapsed: true, "
              "regime: mode}",
    "ewm": "{smooth: {method: ewm, window: 4, columns: [s1]}, windows: [5], "
           "stats: [mean, slope], lags: [2], elapsed: true, keep_raw: false}",
    # regimes found by clustering: on an operating setting, and on the series themselves
    "settings": "{windows: [4, 9], stats: [mean, slope], lags: [1], "
                "regime: {columns: [mode]}}",
    "auto": "{smooth: {method: median, window: 3}, windows: [5], stats: [mean, std], "
            "regime: auto}",
}


def readings(seed: int = 0, entities: int = ENTITIES, n: int = READINGS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for unit in range(1, entities + 1):
        wear = 0.0
        for cycle in range(1, n + 1):
            wear += rng.uniform(0, 0.2)
            mode = float(rng.integers(0, 3))
            rows.append({"unit": unit, "cycle": cycle, "mode": mode,
                         "s1": 600 + 10 * mode + 3 * wear + rng.normal(),
                         "s2": (np.nan if rng.random() < 0.1
                                else 1 + 0.1 * wear + rng.normal(0, .05)),
                         "fleet": rng.choice(["A", "B"]), "y": 100 - 8 * wear})
    return pd.DataFrame(rows)


def trained(config: str, model: str = "lightgbm", version: str = "1"):
    extra = f"entity: unit\ntime: cycle\nprepare: {{series: {config}}}"
    p = project("regression", target="y", models=f"[{{name: {model}}}]", extra=extra)
    ds = dataset(readings(), p)
    pipeline = make_pipeline(steps(ds, p), model, "regression",
                             {"n_estimators": 30} if model == "lightgbm" else {}, p.seed)
    pipeline.fit(ds.X, ds.y)
    card = ModelCard(name="t", task="regression", target="y", schema=ds.schema, entity="unit",
                     version=version)
    onnx = compile_pipeline(pipeline, card, ds.X).onnx
    return LoadedModel(pipeline=pipeline, card=card, onnx=onnx)


class Server:
    def __init__(self, model: LoadedModel, folder, fast: bool = True, retention=None,
                 url: str | None = None):
        self.store = HistoryStore(url or f"sqlite:///{folder / 'history.db'}")
        self.app = create_app(model, settings=Serve(fast_path=fast),
                              entities=Service(self.store, retention))
        self.server = BackgroundServer(self.app).__enter__()
        self.client = httpx.Client(base_url=self.server.url, timeout=30, trust_env=False)

    def send(self, rows):
        return self.client.post("/predict", json=rows)

    def close(self):
        self.client.close()
        self.server.stop()


def as_json(frame: pd.DataFrame, card: ModelCard) -> list[dict]:
    names = card.schema.names
    out = []
    for row in frame[names].to_dict("records"):
        out.append({k: (None if isinstance(v, float) and np.isnan(v) else
                        v.item() if hasattr(v, "item") else v) for k, v in row.items()})
    return out


@pytest.mark.parametrize("config, fast", [("median", True), ("ewm", True), ("median", False),
                                          ("settings", True), ("auto", True)])
def test_each_reading_is_answered_as_the_pipeline_answers_that_entitys_first_k_rows(
        tmp_path, config, fast):
    model = trained(CONFIGS[config])
    server = Server(model, tmp_path, fast=fast)
    try:
        new = readings(seed=5)  # entities and readings the model never saw
        # Landings interleave across entities, one reading per request.
        order = new.sort_values(["cycle", "unit"], kind="stable")
        served = {}
        for row in as_json(order, model.card):
            answer = server.send(row)
            assert answer.status_code == 200, answer.text
            item = answer.json()["predictions"][0]
            served[(row["unit"], row["cycle"])] = item
        path = server.client.get("/model").json()["serving"]
        assert path["path"] == ("onnx" if fast else "python")
        assert path["history"]["history_rows"] == model.pipeline[0].history_rows()
        frame = model.card.schema.model_frame(new)
        worst = 0.0
        for unit, rows in frame.groupby("unit", sort=True):
            for k in range(1, len(rows) + 1):
                expected = model.pipeline.predict(rows.iloc[:k])[-1]
                item = served[(unit, int(rows["cycle"].iloc[k - 1]))]
                worst = max(worst, abs(item["prediction"] - expected))
                assert item["history_rows"] == min(k, path["history"]["history_rows"])
        assert worst <= 1e-9, worst
    finally:
        server.close()


def test_features_from_a_short_history_equal_those_of_the_whole_frame():
    model = trained(CONFIGS["median"])
    step = model.pipeline[0]
    frame = model.card.schema.model_frame(readings(seed=3, entities=1, n=60))
    whole = step.transform(frame)
    need = step.history_rows()
    for k in (1, 5, need, 60):
        tail = frame.iloc[max(0, k - need):k]
        history = {c: tail[c].to_numpy(dtype=float) for c in step.history_columns()}
        n = len(tail)
        got = step.features_at(history, np.zeros(n, dtype=int), np.array([n - 1]),
                               np.arange(k - n, k, dtype=float))
        for name, values in got.items():
            assert values[0] == pytest.approx(whole[name].iloc[k - 1], nan_ok=True, abs=0,
                                              rel=0), name  # bit for bit


def test_duplicates_out_of_order_and_conflicting_readings(tmp_path):
    model = trained(CONFIGS["median"])
    server = Server(model, tmp_path)
    try:
        rows = as_json(model.card.schema.model_frame(readings(seed=9, entities=1, n=12)),
                       model.card)
        first = [server.send(r).json()["predictions"][0] for r in rows[:10]]
        again = server.send(rows[4]).json()["predictions"][0]  # a retried request
        assert again["duplicate"] is True and again["prediction"] == first[4]["prediction"]
        assert server.store.count("1") == 10
        # An older reading that was never sent is placed in order: the entity's next
        # reading sees it.
        late = server.send([rows[11], rows[10]])
        assert late.status_code == 200
        kept = server.store.rows("1")
        assert [r.t for r in kept] == sorted(r.t for r in kept) and len(kept) == 12
        assert [r.pos for r in kept] == list(range(12))
        changed = dict(rows[3], s1=rows[3]["s1"] + 1)
        conflict = server.send(changed)
        assert conflict.status_code == 409 and "already has a reading at time 4" in \
            conflict.json()["error"]
        assert server.store.count("1") == 12
    finally:
        server.close()


def test_entity_and_time_are_required_and_a_new_entity_starts_cold(tmp_path):
    model = trained(CONFIGS["ewm"])
    server = Server(model, tmp_path)
    try:
        row = as_json(model.card.schema.model_frame(readings(seed=2, entities=1, n=1)),
                      model.card)[0]
        no_time = server.send(dict(row, cycle=None))
        assert no_time.status_code == 422 and "'cycle'" in no_time.json()["error"]
        missing = server.send({k: v for k, v in row.items() if k != "unit"})
        assert missing.status_code == 422 and "missing column 'unit'" in missing.json()["error"]
        text_time = server.send(dict(row, cycle="2026-01-01"))
        assert text_time.status_code == 422 and "'cycle'" in text_time.json()["error"]
        cold = server.send(dict(row, unit=999))
        assert cold.status_code == 200 and cold.json()["predictions"][0]["history_rows"] == 1
        assert server.store.count() == 1
    finally:
        server.close()


def test_retention_prunes_old_readings_but_elapsed_counts_them(tmp_path):
    model = trained(CONFIGS["median"])
    need = model.pipeline[0].history_rows()
    server = Server(model, tmp_path, retention=need)
    try:
        frame = model.card.schema.model_frame(readings(seed=4, entities=1, n=120))
        rows = as_json(frame, model.card)
        answers = [server.send(r).json()["predictions"][0]["prediction"] for r in rows]
        kept = server.store.rows("1")
        assert len(kept) < 120 and kept[-1].pos == 119
        expected = model.pipeline.predict(frame)[-1]
        assert answers[-1] == pytest.approx(expected, rel=1e-12)
        too_old = server.send(rows[0])  # pruned since
        assert too_old.status_code == 409 and "older than the history kept" in \
            too_old.json()["error"]
    finally:
        server.close()


def test_a_new_champion_with_longer_windows_keeps_more_and_says_when_it_has_less(tmp_path):
    short = trained("{windows: [3], stats: [mean]}")
    longer = trained("{windows: [12], stats: [mean, slope], elapsed: true}", version="2")
    need = longer.pipeline[0].history_rows()
    assert short.pipeline[0].history_rows() == 3 and need == 12
    server = Server(short, tmp_path, retention=5)
    try:
        frame = short.card.schema.model_frame(readings(seed=6, entities=1, n=40))
        rows = as_json(frame, short.card)
        for row in rows[:20]:
            assert server.send(row).status_code == 200
        assert len(server.store.rows("1")) == 8  # pruned to 5 at the 17th, 3 since
        server.app.state.swap(engine_for(longer))  # as the reload watcher does
        served = server.client.get("/model").json()["serving"]["history"]
        assert served == {"entity": "unit", "time": "cycle", "history_rows": 12,
                          "retention": 12}
        item = server.send(rows[20]).json()["predictions"][0]
        assert item["history_rows"] == 12
        assert item["history_note"] == ("the windows read 12 readings; 9 of this entity's "
                                        "21 are kept, so the features use those")
        for k in range(21, 24):
            item = server.send(rows[k]).json()["predictions"][0]
        # Twelve readings kept again: the answers are the new pipeline's on the whole life.
        assert "history_note" not in item
        assert item["prediction"] == pytest.approx(
            longer.pipeline.predict(frame.iloc[:24])[-1], rel=1e-12)
    finally:
        server.close()


def test_a_postgresql_store_shared_by_two_servers_and_a_read_only_database(tmp_path,
                                                                          postgres):
    database = postgres.create_database()
    url = postgres.url(database)
    model = trained(CONFIGS["median"])
    servers = [Server(model, tmp_path, url=url), Server(model, tmp_path, url=url)]
    try:
        frame = model.card.schema.model_frame(readings(seed=8, entities=1, n=30))
        rows = as_json(frame, model.card)
        order = random.Random(5).sample(range(len(rows)), len(rows))

        def post(n: int) -> int:
            return servers[n % 2].send(rows[order[n]]).status_code

        with ThreadPoolExecutor(6) as pool:
            assert list(pool.map(post, range(len(rows)))) == [200] * len(rows)
        kept = servers[0].store.rows("1")
        assert [r.pos for r in kept] == list(range(30))
        assert [r.t for r in kept] == sorted(r.t for r in kept)
        for k in (0, 9, 29):  # each answered again from its place in the history
            item = servers[1].send(rows[k]).json()["predictions"][0]
            assert item["duplicate"] is True
            assert item["prediction"] == pytest.approx(
                model.pipeline.predict(frame.iloc[:k + 1])[-1], rel=1e-9)

        def reconnect() -> None:
            postgres.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", [database])

        postgres.sql(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
        reconnect()
        new = dict(rows[-1], cycle=rows[-1]["cycle"] + 1)
        refused = servers[0].send(new)
        assert refused.status_code == 503, refused.text
        assert "history store" in refused.json()["error"] and "nothing was stored" in \
            refused.json()["error"]
        assert refused.headers["retry-after"] == "1"
        count = "SELECT count(*) FROM readings"
        assert postgres.sql(count, database=database) == [(30,)]
        postgres.sql(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
        reconnect()
        again = servers[0].send(new)
        assert again.status_code == 200 and again.json()["predictions"][0]["history_rows"] \
            == model.pipeline[0].history_rows()
        assert postgres.sql(count, database=database) == [(31,)]
    finally:
        for server in servers:
            server.close()
