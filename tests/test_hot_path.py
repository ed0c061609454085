"""The fast inference paths compute exactly what the libraries' general paths do (issue 14, point 3).

Each shortcut is compared with the computation it replaces: bit for bit where it promises that (content features,
chunked batches, one-thread learners, bfloat16 weight copies, tags and title terms of a whole column at once),
to 1e-12 where only a sum's order differs.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
from _tiny import tiny_config
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

import model_update
import predict
from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic
from videoperf.features.content_columns import TITLE_STATS, _time_of_publishing, title_stats, title_stats_matrix
from videoperf.features.content_tokens import WORD, tag_token_lists, tag_tokens
from videoperf.library_internals import cpu_supports_bfloat16, term_ids, title_term_ids
from videoperf.serving import batches, rules
from videoperf.serving.batch_checks import check_rows
from videoperf.serving.request import parse_request

TITLES = ["Plain ASCII title 2026 | part-2: the END!?", "", "x", "#Shorts #fun",
          "Ünïcödé TITLE – Teil 2 | 名前 ２０２６", "MiXeD_case x_y ²³ Ⅻ", "😀 emoji 123",
          "   spaces\tand\ttabs  ", "ALL CAPS!!!", "\x1c sep \x1f"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hot") / "artifacts"
    raw, _ = generate_synthetic(700, seed=21, end=REAL_EXPORT_END)
    # The absolute target: on these 700 videos the relative one leaves only catboost a weight in the stack, and
    # these tests need learners the stack weighs to skip one of them.
    config = tiny_config()
    config = dataclasses.replace(config, training=dataclasses.replace(config.training, views_target="absolute"))
    model_update.train(raw, "fast", folder, models=("ensemble",), progress=False, config=config)
    return folder


def _rows(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = "official music video highlights vlog live tutorial review trailer recipe Ünï 名前 #tag".split()
    return pd.DataFrame({
        "video_id": [f"r{i}" for i in range(n)],
        "title": [" ".join(rng.choice(words, size=rng.integers(1, 7))) for _ in range(n)],
        "tags": [list(rng.choice(words, size=rng.integers(0, 5), replace=False)) for _ in range(n)],
        "categories": [[c] for c in rng.choice(["Music", "Gaming", "Sports", "Comedy"], n)],
        "duration_seconds": np.where(rng.random(n) < 0.1, np.nan, rng.lognormal(5.5, 1.0, n).round()),
        "channel_avg_views": rng.lognormal(10, 2, n), "channel_video_count": rng.integers(1, 40, n),
        "days_since_publish": rng.uniform(0.3, 30, n),
        "published_at": [f"20{10 + i % 16}-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:07Z"
                         for i in range(n)],
        "default_language": rng.choice(["en", "en-US", "fr", None], n),
    })


def test_title_statistics_of_a_batch_equal_the_regular_expressions():
    titles = TITLES + [t.upper() for t in TITLES] + [re.sub(r"\s", "", t) for t in TITLES]
    expected = np.array([title_stats(t) for t in titles], dtype=float).reshape(len(titles), len(TITLE_STATS))
    np.testing.assert_array_equal(title_stats_matrix(titles), expected)


def test_hour_weekday_and_month_equal_pandas():
    stamps = pd.Series(pd.to_datetime(["1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2026-02-28T23:59:30Z",
                                       "2024-02-29T12:30:00Z", None, "2099-12-31T05:05:05Z"], utc=True))
    published = pd.DatetimeIndex(stamps)
    cycles = {name: value for name, value, _ in _time_of_publishing(stamps, with_month=True)}
    np.testing.assert_array_equal(cycles["hour"], (published.hour + published.minute / 60.0).to_numpy(float))
    np.testing.assert_array_equal(cycles["weekday"], published.day_of_week.to_numpy(float))
    np.testing.assert_array_equal(cycles["month"],
                                  (published.month - 1 + (published.day - 1) / 31.0).to_numpy(float))
    one = _time_of_publishing([pd.Timestamp("2026-03-01T15:45:00", tz="Europe/Berlin")], with_month=True)
    assert [value[0] for _, value, _ in one] == [14.75, 6.0, 2.0]


def test_tfidf_svd_equal_the_library_bit_for_bit(folder):
    content = predict.load_bundle(folder).features.content_
    rows = check_rows(_rows(300), 7.0)
    matrix, _ = content.transform(rows)
    titles = [t if isinstance(t, str) else "" for t in rows["title"]]
    library = np.hstack([content.title_svd_.transform(content.title_vectorizer_.transform(titles)),
                         content.tag_svd_.transform(content.tag_vectorizer_.transform(list(rows["tags"])))])
    first = content.names_.index("title_svd_0")
    np.testing.assert_array_equal(matrix[:, first:first + library.shape[1]], library.astype(np.float32))


def test_one_request_as_columns_equals_a_frame(folder):
    features = predict.load_bundle(folder).features
    request = parse_request(dict(title="Top 10 goals | Ünï", tags=["Football ", "goals"], categories=["Sports"],
                                 duration_seconds=None, channel_avg_views=None, channel_video_count=0,
                                 published_at="2026-05-20T08:00:00Z", default_language="en-GB",
                                 audio_language="fr", definition="hd", caption_available=True)).row(7.0)
    by_columns = features.transform_videos({key: [value] for key, value in request.items()})
    pd.testing.assert_frame_equal(by_columns, features.transform_videos(pd.DataFrame([request])))


def test_chunked_batch_equals_one_pass(folder, monkeypatch):
    rows = _rows(900, seed=3)
    whole = predict.predict_batch(rows, artifacts_dir=folder)
    monkeypatch.setattr(batches, "CHUNK_ROWS", 100)  # 9 chunks, two at a time, one thread per learner
    chunked = predict.predict_batch(rows, artifacts_dir=folder)
    pd.testing.assert_frame_equal(chunked, whole, rtol=1e-12, atol=0)


def test_a_chunked_batch_checks_each_chunk_and_names_the_row_in_the_whole_batch(folder, monkeypatch):
    monkeypatch.setattr(batches, "CHUNK_ROWS", 100)  # the checks run chunk by chunk, in the pool
    rows = _rows(900, seed=4).drop(columns="published_at")
    first, second = predict.predict_batch(rows, artifacts_dir=folder), predict.predict_batch(rows, artifacts_dir=folder)
    assert len(first) == 900 and first["model_age_days"].nunique() == 1  # one "now" for every chunk of a call
    assert first["model_age_days"].iloc[0] < second["model_age_days"].iloc[0]
    bad = rows.copy()
    bad.loc[650, "duration_seconds"] = -5.0
    with pytest.raises(ValueError, match=r"rows\[650\]\.duration_seconds"):
        predict.predict_batch(bad, artifacts_dir=folder)
    with pytest.raises(ValueError, match=r"rows: missing column\(s\) \['title'\]"):
        predict.predict_batch(rows.drop(columns="title"), artifacts_dir=folder)


def test_one_thread_learners_equal_their_threaded_predictions(folder):
    model = predict.load_bundle(folder).model("ensemble")
    X = predict.load_bundle(folder).features.transform_videos(check_rows(_rows(2500, seed=5), 7.0))
    np.testing.assert_allclose(model.base_predictions(X, n_threads=1), model.base_predictions(X), rtol=1e-12)


def test_learners_the_stack_gives_no_weight_are_skipped_without_changing_a_bit(folder, monkeypatch):
    model = copy_of_ensemble(folder)
    model.meta_.coef_ = np.array(model.meta_.coef_, dtype=float)
    names = list(model.models_)
    model.meta_.coef_[names.index("catboost")] = 0.0  # as the non-negative Ridge leaves an untrusted learner
    X = predict.load_bundle(folder).features.transform_videos(check_rows(_rows(2500, seed=6), 7.0))
    assert model.unweighted_learners() == {"catboost"}
    # small batches (flat trees) and a large one; one thread: a threaded forest sums its trees in varying order
    for rows in (X.iloc[:1], X.iloc[:9], X):
        expected = model.base_predictions(rows, n_threads=1) @ model.meta_.coef_ + model.meta_.intercept_
        with monkeypatch.context() as patch:
            patch.setattr(model.models_["catboost"], "predict", lambda *a, **k: pytest.fail("catboost ran"))
            np.testing.assert_array_equal(model.predict(rows, n_threads=1), expected)


def test_flat_xgboost_trees_predict_what_xgboost_does_bit_for_bit(folder):
    import json

    from videoperf.library_internals import xgboost_arrays
    from videoperf.models.ensemble.stacking import XGB_FLAT_ROWS, _as_matrix

    model = copy_of_ensemble(folder)
    xgb = model.models_["xgboost"]
    X = predict.load_bundle(folder).features.transform_videos(check_rows(_rows(400, seed=8), 7.0))
    matrix = _as_matrix(X, model.feature_names_)
    matrix[::5, : matrix.shape[1] // 2] = np.nan  # missing values go the trained default way
    # values exactly at a split go right in XGBoost (value < split goes left): put some rows on the splits
    trees = json.loads(xgb.get_booster().save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    for i, tree in enumerate(trees[:100]):
        for node in range(0, len(tree["left_children"]), 3):
            if tree["left_children"][node] != -1:
                matrix[200 + i, tree["split_indices"][node]] = np.float32(tree["split_conditions"][node])
    flat = xgboost_arrays(xgb)
    assert flat is not None
    expected = xgb.get_booster().inplace_predict(matrix, predict_type="value", missing=np.nan,
                                                 validate_features=False)
    np.testing.assert_array_equal(flat.predict(matrix), expected)
    # through the ensemble: the first small call uses XGBoost, later ones the flat copy; every one the same
    rows = X.iloc[:XGB_FLAT_ROWS]
    first = model.predict(rows)
    assert model._xgboost_tiny_batch(xgb) is not None
    for _ in range(2):
        np.testing.assert_array_equal(model.predict(rows), first)


def copy_of_ensemble(folder):
    """A private copy of the bundle's ensemble (tests change its lazily built parts or its weights)."""
    import copy

    return copy.deepcopy(predict.load_bundle(folder).model("ensemble"))


def test_batch_validation_reports_the_first_bad_row_as_before():
    rows = _rows(20)
    rows.at[7, "tags"] = ["ok", 3]
    with pytest.raises(ValueError, match=r"^rows\[7\]\.tags: item 1 is int"):
        check_rows(rows)
    rows.at[7, "tags"] = ["x" * (rules.MAX_TEXT_CHARS + 1)]
    with pytest.raises(ValueError, match=r"^rows\[7\]\.tags: item 0: longer than"):
        check_rows(rows)
    rows.at[7, "tags"] = ["bad \ud800"]
    with pytest.raises(ValueError, match=r"^rows\[7\]\.tags: item 0: not valid Unicode"):
        check_rows(rows)
    rows.at[7, "tags"] = " a, b ,,"
    assert check_rows(rows)["tags"][7] == ["a", "b"]


def test_bfloat16_weight_copies_give_the_autocast_result():
    import torch
    from torch import nn

    if not cpu_supports_bfloat16():
        pytest.skip("this CPU has no bfloat16 support: the encoder runs in float32, nothing to compare")
    from functools import partial

    from videoperf.models.deep.text_encoders import _linear_cast_once

    torch.manual_seed(0)
    layer, x = nn.Linear(48, 32), torch.randn(5, 48)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = layer(x)
        layer.forward = partial(_linear_cast_once, layer)
        assert torch.equal(layer(x), expected) and torch.equal(layer(x), expected)  # built, then reused
    with torch.no_grad():
        layer.weight.mul_(2.0)  # a changed weight is cast again
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(layer(x), torch.nn.functional.linear(x, layer.weight, layer.bias))


def test_a_few_texts_run_on_one_torch_thread_and_the_count_comes_back():
    import torch

    from videoperf.models.deep.text_encoders import FEW_TEXTS, load_encoder, one_thread_for

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        encoder = load_encoder("tiny")
        texts = [f"title {i} | tag{i} | Music" for i in range(3)]
        threaded = encoder.embed(texts)
        with one_thread_for(len(texts)):
            assert torch.get_num_threads() == 1
            with one_thread_for(1):  # nested: one change, undone by the outer block
                pass
            assert torch.get_num_threads() == 1
            np.testing.assert_array_equal(encoder.embed(texts), threaded)
        assert torch.get_num_threads() == 2
        with one_thread_for(FEW_TEXTS + 1):  # a batch keeps the threads
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_learner_the_stack_did_not_keep_is_not_imported(folder):
    import subprocess
    import sys

    kept = predict.load_bundle(folder).model("ensemble").models_
    code = (f"import sys, predict; predict.load_bundle({str(folder)!r}).model('ensemble'); "
            "print('catboost' in sys.modules, 'catboost.widget' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(predict.__file__).rsplit("/", 1)[0])
    # CatBoost is imported exactly when the saved stack holds it, and never its widgets outside IPython.
    assert out.stdout.split() == [str("catboost" in kept), "False"]


TAG_CELLS = st.one_of(st.none(), st.text(max_size=8), st.lists(st.one_of(
    st.sampled_from(["Music", " music ", "MUSIC", "", "  ", "Ünï", "名前", "a b"]), st.text(max_size=4)), max_size=6))


@settings(max_examples=200, deadline=None)
@given(st.lists(TAG_CELLS, max_size=12))
def test_tag_tokens_of_a_column_equal_them_row_by_row(values):
    assert tag_token_lists(values) == [tag_tokens(value) for value in values]
    lists = [[t for t in v if isinstance(t, str) and t.strip()] if isinstance(v, list) else [] for v in values]
    assert tag_token_lists(lists) == [tag_tokens(value) for value in lists]  # the one-pass path


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["music video", "video", "live", "the", "Ünï", "名前", "zz"]), max_size=6)
                .map(" ".join), max_size=10))
def test_title_term_ids_from_word_codes_equal_the_analyzer(titles):
    corpus = ["music video live", "live video", "the live music", "Ünï 名前"]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2)).fit(corpus)
    lowered = [title.lower() for title in titles]
    fast = title_term_ids(vectorizer, titles, [WORD.findall(title) for title in lowered])
    analyze = vectorizer.build_analyzer()
    general = term_ids(vectorizer.vocabulary_, [analyze(title) for title in titles])
    assert sorted(zip(*map(list, fast))) == sorted(zip(*map(list, general)))
    given_vocabulary = TfidfVectorizer(ngram_range=(1, 2), vocabulary=["music video live", "live"]).fit(corpus)
    fast = title_term_ids(given_vocabulary, titles, [WORD.findall(title) for title in lowered])
    general = term_ids(given_vocabulary.vocabulary_, [given_vocabulary.build_analyzer()(t) for t in titles])
    assert sorted(zip(*map(list, fast))) == sorted(zip(*map(list, general)))


@pytest.mark.parametrize("n", [1, 200, 16384, 100_000, 1_000_003])
def test_chunk_bounds_cover_every_row_once_with_small_end_chunks(n):
    bounds = batches.chunk_bounds(n)
    sizes = np.diff(bounds)
    assert bounds[0] == 0 and bounds[-1] == n and (sizes > 0).all()
    if n >= 2 * batches.CHUNK_ROWS:
        assert sizes[0] < sizes[1] <= sizes[2] and sizes[-1] < sizes[-2] <= sizes[-3]
        assert sizes.max() <= 1.1 * batches.CHUNK_ROWS


CORPUS = ["Music video live", "live video | official", "the LIVE music video", "Ünï 名前 live", "video of the day",
          "music music music", "名前 video"]


@pytest.mark.parametrize("settings", [
    dict(ngram_range=(1, 2), sublinear_tf=True), dict(ngram_range=(1, 1)), dict(ngram_range=(1, 3), norm="l1"),
    dict(ngram_range=(1, 2), use_idf=False, norm=None), dict(ngram_range=(1, 2), lowercase=False),
    dict(analyzer=tag_tokens, sublinear_tf=True)])
def test_tfidf_svd_of_tokens_equals_the_public_transform_bit_for_bit(settings):
    from sklearn.decomposition import TruncatedSVD

    from videoperf.library_internals import tfidf_svd

    docs = [t.split(" ") for t in CORPUS] if settings.get("analyzer") else CORPUS
    vectorizer = TfidfVectorizer(dtype=np.float32, **settings).fit(docs)
    svd = TruncatedSVD(n_components=2, random_state=0).fit(vectorizer.transform(docs))
    new = (["live music", "名前 ünï video", "", "nothing known", "the the video video"] if isinstance(docs[0], str)
           else [["Live", "music"], [], ["ünï", "名前 "], ["nothing"]])
    if settings.get("analyzer"):
        terms = term_ids(vectorizer.vocabulary_, [tag_tokens(tags) for tags in new])
    else:
        terms = title_term_ids(vectorizer, new, [WORD.findall(title.lower()) for title in new])
    np.testing.assert_array_equal(tfidf_svd(vectorizer, svd, *terms, len(new)),
                                  svd.transform(vectorizer.transform(new)))


def test_the_l2_kernel_normalises_as_the_public_function():
    from scipy import sparse
    from sklearn.preprocessing import normalize

    from videoperf.library_internals import l2_normalize_rows

    matrix = sparse.vstack([sparse.random(49, 30, density=0.2, dtype=np.float32, random_state=0),
                            sparse.csr_matrix((1, 30), dtype=np.float32)], format="csr")  # an empty row stays empty
    kernel = matrix.copy()
    l2_normalize_rows(kernel)
    np.testing.assert_array_equal(kernel.toarray(), normalize(matrix, copy=True).toarray())


def test_a_tensor_version_changes_with_every_in_place_change_only():
    import torch

    from videoperf.library_internals import tensor_version

    weight = torch.ones(3)
    before = tensor_version(weight)
    _ = weight * 2, weight.sum(), weight.clone()
    assert tensor_version(weight) == before
    with torch.no_grad():
        weight.mul_(2.0)
    assert tensor_version(weight) > before


def test_bfloat16_support_is_reported_where_the_cpu_has_it():
    import platform
    from pathlib import Path

    assert isinstance(cpu_supports_bfloat16(), bool)
    cpuinfo = Path("/proc/cpuinfo")
    if platform.machine() != "x86_64" or not cpuinfo.is_file():
        pytest.skip("the CPU's flags are read from /proc/cpuinfo on x86-64")
    flags = set(cpuinfo.read_text().split())
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:  # oneDNN's bfloat16 floor (AVX-512 core)
        assert cpu_supports_bfloat16()
    if "avx512f" not in flags and "avx_ne_convert" not in flags and "amx_bf16" not in flags:
        assert not cpu_supports_bfloat16()
