"""What each shortcut of ``videoperf.library_internals`` is worth: the step it sits on, timed with the shortcut and
with the public API it stands in for (``docs/library_internals.md``).

    python benchmarks/library_internals.py --bundle DIR --data FILE [--rows 20000] [--calls 300] [--rounds 3]

``--bundle``: an ensemble bundle (``videoperf train --speed fast``); ``--data``: the export whose latest videos
become the requests (real titles, tags, categories, languages). CPU time of this thread (``time.thread_time``:
not stretched by other work on a shared machine), variants alternated round by round, medians reported.

* TF-IDF + SVD: ``ContentEncoder.transform`` of ``--rows`` requests and warm single ``predict_performance`` calls,
  with ``library_internals.tfidf_svd`` / with ``svd.transform(vectorizer.transform(texts))``; and with only the l2
  kernel swapped for ``sklearn.preprocessing.normalize``.
* XGBoost flat trees: warm single calls with ``FloatTrees`` / with the booster's one-thread ``inplace_predict``,
  and the two alone on 1 to 32 rows.
* Warm ``predict_batch`` of 100 and 1,000 requests (wall time): what a small batch costs as a whole.
* HistGradientBoosting and RandomForest flat trees (the ``balanced`` preset's sizes, fitted here on the bundle's
  features of the requests): 1 to 1,000 rows with ``BoostedTrees`` / ``ForestTrees`` and with the public calls
  (``predict`` on one OpenMP thread through threadpoolctl, or its own threads; the forest's trees in order), and
  the private ``_raw_predict(n_threads=1)`` the one-thread booster used before.
* HistGradientBoosting in a batch: two chunks of ``bundle.CHUNK_ROWS`` rows predicted side by side (as a batch
  runs them), wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from common import machine  # noqa: E402

import videoperf  # noqa: E402
from videoperf import library_internals  # noqa: E402
from videoperf.config import load_config  # noqa: E402
from videoperf.features.channel_history import relative_inputs  # noqa: E402
from videoperf.features.content import ContentEncoder  # noqa: E402
from videoperf.models.ensemble.stacking import (  # noqa: E402
    StackingEnsemble,
    _as_matrix,
    _forest_in_order,
    _training_matrix,
    _xgboost_iterations,
    make_learner,
    one_openmp_thread,
)
from videoperf.serving import bundle as bundle_module  # noqa: E402
from videoperf.serving.batch_checks import check_rows  # noqa: E402

REQUEST_COLUMNS = ["title", "tags", "categories", "duration_seconds", "published_at", "default_language",
                   "audio_language", "definition", "caption_available", "licensed_content", "made_for_kids",
                   "is_live"]


def requests(data: str, n: int) -> pd.DataFrame:
    """The ``n`` latest videos of ``data`` as requests (channel figures drawn at random), and their views."""
    from videoperf.data.sources import load_data

    raw = load_data(data)
    videos = raw.sort_values("observed_at").drop_duplicates("video_id", keep="last")
    videos = videos.sort_values("published_at").tail(n).reset_index(drop=True)
    rng = np.random.default_rng(0)
    rows = videos[REQUEST_COLUMNS].assign(channel_avg_views=10 ** rng.uniform(2, 7, n),
                                          channel_video_count=rng.integers(1, 500, n),
                                          days_since_publish=rng.uniform(0.5, 30, n))
    return rows.assign(views=videos["views"].to_numpy(float))


def public_text(self: ContentEncoder, titles: list[str], words: list[list[str]], tags: list[list[str]]
                ) -> tuple[list[str], np.ndarray]:
    """``ContentEncoder._text`` through the public API: ``svd.transform(vectorizer.transform(texts))``."""
    cfg = self.config
    names = [f"title_svd_{i}" for i in range(cfg.title_svd_components)] + [
        f"tag_svd_{i}" for i in range(cfg.tag_svd_components)]
    values = np.zeros((len(titles), len(names)), dtype=np.float32)
    offset = 0
    for vectorizer, svd, size, docs in ((self.title_vectorizer_, self.title_svd_, cfg.title_svd_components, titles),
                                        (self.tag_vectorizer_, self.tag_svd_, cfg.tag_svd_components, tags)):
        if svd is not None and len(titles):
            reduced = svd.transform(vectorizer.transform(docs))
            values[:, offset:offset + reduced.shape[1]] = reduced
        offset += size
    return names, values


@contextlib.contextmanager
def variant(name: str) -> Iterator[None]:
    """The code with one shortcut replaced by the public call it stands in for."""
    from sklearn.preprocessing import normalize

    with contextlib.ExitStack() as stack:
        patch = stack.enter_context(_patcher())
        if name == "tfidf: public":
            patch(ContentEncoder, "_text", public_text)
        elif name == "l2 kernel: public normalize":
            patch(library_internals, "l2_normalize_rows", lambda matrix: normalize(matrix, copy=False))
        elif name == "xgboost: public one-thread inplace_predict":
            patch(StackingEnsemble, "_xgboost_tiny_batch", lambda self, model: None)
        yield


@contextlib.contextmanager
def _patcher() -> Iterator[Callable[[Any, str, Any], None]]:
    saved = []

    def patch(owner: Any, attr: str, value: Any) -> None:
        saved.append((owner, attr, owner.__dict__[attr]))
        setattr(owner, attr, value)

    try:
        yield patch
    finally:
        for owner, attr, value in reversed(saved):
            setattr(owner, attr, value)


def cpu(run: Callable[[], Any], repeat: int = 1, clock: Callable[[], float] = time.thread_time) -> float:
    start = clock()
    for _ in range(repeat):
        run()
    return (clock() - start) / repeat


def process_cpu(run: Callable[[], Any], repeat: int = 1) -> float:
    """CPU time of the whole process: a library's own threads count."""
    return cpu(run, repeat, time.process_time)


def alternate(steps: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Median of each step over ``rounds`` rounds, the steps alternated within each round."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            times[name].append(step())
    return {name: float(np.median(values)) for name, values in times.items()}


def tfidf_and_xgboost(folder: str, rows: pd.DataFrame, calls: int, rounds: int) -> dict[str, Any]:
    bundle = videoperf.load_bundle(folder)
    content = bundle.features.content_
    checked = check_rows(rows.drop(columns="views"), bundle.default_days)
    bodies = [{**body, "title": f"{body['title']} {i}"} for i, body in  # a new text each call
              enumerate(rows.drop(columns="views").head(calls + 20).to_dict("records"))]
    for body in bodies:
        body["published_at"] = pd.Timestamp(body["published_at"]).isoformat()
        body.update({k: None for k, v in body.items() if not isinstance(v, list) and pd.isna(v)})
    for body in bodies[:20]:  # warm: the bundle, lazily built parts (flat trees, token lookups)
        videoperf.predict_performance(**body, artifacts_dir=folder)
        videoperf.predict_performance(**body, artifacts_dir=folder)
    names = ["shortcuts", "tfidf: public", "l2 kernel: public normalize", "xgboost: public one-thread inplace_predict"]

    def transform(name: str) -> Callable[[], float]:
        def step() -> float:
            with variant(name):
                return cpu(lambda: content.transform(checked))
        return step

    def warm(name: str) -> Callable[[], float]:
        def step() -> float:
            with variant(name):
                return 1000 * cpu(lambda: [videoperf.predict_performance(**b, artifacts_dir=folder)
                                           for b in bodies[20:]]) / calls
        return step

    with variant("tfidf: public"):
        public, _ = content.transform(checked)
    assert np.array_equal(content.transform(checked)[0], public, equal_nan=True), "the shortcut's numbers differ"
    model = bundle.model("ensemble")
    xgb = model.models_["xgboost"]
    X = bundle.features.transform_videos(checked.head(32))
    matrix = _as_matrix(relative_inputs(X, getattr(model, "views_target_", "absolute")), model.feature_names_)
    flat, one = library_internals.xgboost_arrays(xgb), model._xgboost_one_thread(xgb)
    xgboost_alone = {f"{n} rows": {name: 1000 * value for name, value in alternate({
        "flat": lambda n=n: cpu(lambda: flat.predict(matrix[:n]), 100),
        "one-thread inplace_predict": lambda n=n: cpu(lambda: one.inplace_predict(
            matrix[:n], iteration_range=_xgboost_iterations(xgb), predict_type="value", missing=xgb.missing,
            validate_features=False), 100)}, rounds).items()} for n in (1, 8, 16, 32)}
    batches = {f"{n} rows": 1000 * alternate({"predict_batch": lambda n=n: wall(
        lambda: videoperf.predict_batch(rows.drop(columns="views").head(n), artifacts_dir=folder), 20)}, rounds)[
        "predict_batch"] for n in (100, 1000)}
    return {"content transform seconds": alternate({n: transform(n) for n in names[:3]}, rounds),
            "warm call ms": alternate({n: warm(n) for n in names}, rounds),
            "xgboost alone, ms of CPU": xgboost_alone, "warm predict_batch, ms of wall time": batches}


def flat_trees(folder: str, rows: pd.DataFrame, rounds: int) -> dict[str, Any]:
    """Small batches through the histogram booster and forest of the ``balanced`` preset, fitted on the features
    the bundle computes for ``rows`` (timing, not accuracy: any fitted trees of those sizes would do)."""
    bundle = videoperf.load_bundle(folder)
    X = bundle.features.transform_videos(check_rows(rows.drop(columns="views"), bundle.default_days))
    matrix = _training_matrix(X, list(X.columns))
    y = np.log1p(rows["views"].to_numpy(float))
    preset = load_config().preset("balanced").ensemble
    out: dict[str, Any] = {}
    booster = make_learner("hist_gradient_boosting", preset.hist_gradient_boosting).fit(matrix, y)
    forest = make_learner("random_forest", preset.random_forest).fit(matrix, y)
    flat_booster, flat_forest = library_internals.boosting_arrays(booster), library_internals.forest_arrays(forest)
    def one_thread(predict: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], Any]:
        def run(part: np.ndarray) -> Any:
            with one_openmp_thread():
                return predict(part)
        return run

    variants = {
        "hist_gradient_boosting: flat": flat_booster.predict,
        "hist_gradient_boosting: public predict, one OpenMP thread": one_thread(booster.predict),
        "hist_gradient_boosting: public predict, OpenMP threads": booster.predict,
        "hist_gradient_boosting: _raw_predict(n_threads=1)": lambda part: booster._raw_predict(part, n_threads=1),
        "random_forest: flat": flat_forest.predict,
        "random_forest: public tree.predict, in order": lambda part: _forest_in_order(forest, part),
    }
    for n in (1, 8, 16, 32, 64, 100, 1000):
        part, repeat = matrix[:n], max(1, 400 // n)
        out[f"{n} rows, ms of process CPU"] = {
            name: 1000 * value for name, value in alternate(
                {name: lambda run=run, part=part, repeat=repeat: process_cpu(lambda: run(part), repeat)
                 for name, run in variants.items()},
                rounds).items()}
    chunks = [np.ascontiguousarray(matrix[i::2][:bundle_module.CHUNK_ROWS]) for i in range(2)]
    with ThreadPoolExecutor(2) as pool:
        out["two chunks side by side, wall seconds"] = alternate({
            name: lambda run=run: wall(lambda: list(pool.map(run, chunks)))
            for name, run in variants.items() if name.startswith("hist_gradient_boosting: _raw")
            or name.startswith("hist_gradient_boosting: public")}, rounds)
    return out


def wall(run: Callable[[], Any], repeat: int = 1) -> float:
    """Wall time: for calls whose work runs on threads the calling thread's CPU time does not see."""
    start = time.perf_counter()
    for _ in range(repeat):
        run()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)  # the model-age warning on every call
    rows = requests(args.data, args.rows)
    result = {"machine": machine(), "rows": args.rows, "calls": args.calls, "rounds": args.rounds}
    result["tfidf and xgboost"] = tfidf_and_xgboost(args.bundle, rows, args.calls, args.rounds)
    print(json.dumps(result, indent=2, default=float), flush=True)
    result["tree ensembles"] = flat_trees(args.bundle, rows, args.rounds)
    text = json.dumps(result, indent=2, default=float)
    print(json.dumps(result["tree ensembles"], indent=2, default=float))
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
