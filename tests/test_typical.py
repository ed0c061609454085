"""Typical performance: the percentile and rank logic, the bad inputs, the band on the simulator and the four entry
points (Python, predict.py, the command line, REST) giving one answer."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pandas as pd
import pytest

import predict
import videoperf
from videoperf.cli import main as cli_main
from videoperf.data.population import generate_population, write_upload_snapshots
from videoperf.data.sources import load_data
from videoperf.data.synthetic import REAL_EXPORT_END, _cumulative_views
from videoperf.forecasting import typical
from videoperf.lifecycle.curve import intervals_from_arrays
from videoperf.serving import service


@pytest.fixture(scope="module")
def population():
    return generate_population(40, 5, end=REAL_EXPORT_END)


@pytest.fixture(scope="module")
def export(population, tmp_path_factory):
    folder = tmp_path_factory.mktemp("uploads")
    write_upload_snapshots(population, folder)
    return folder


@pytest.fixture(scope="module")
def table(export):
    return load_data(export)


@pytest.fixture(scope="module")
def busy(table):
    """The channel with the most uploads and its uploads by publish time."""
    channel = table.groupby("channel_id")["video_id"].nunique().idxmax()
    videos = table[table["channel_id"].eq(channel)].groupby("video_id")["published_at"].first().sort_values()
    return channel, videos.index.tolist()


def test_weibull_percentiles_of_ten_uploads():
    values = np.arange(1.0, 11.0)[:, None]
    # Weibull positions p * (n + 1): p30 between the 3rd and 4th values, p50 halfway between the 5th and 6th.
    assert typical.quantiles(values)[:, 0] == pytest.approx([3.3, 5.5, 7.7])


def test_percentile_and_rank():
    sample = np.array([10.0, 20.0, 30.0, 40.0])
    assert typical.percentile_of(25.0, sample) == 50.0
    assert typical.percentile_of(30.0, sample) == 62.5  # a tie counts half
    assert typical.percentile_of(5.0, sample) == 0.0 and typical.percentile_of(50.0, sample) == 100.0
    assert typical.rank_among(35.0, sample) == {"rank": 2, "of": 5}
    assert typical.rank_among(99.0, sample) == {"rank": 1, "of": 5}
    assert typical.rank_among(1.0, sample) == {"rank": 5, "of": 5}


def test_views_never_contradict_an_observation():
    iv = intervals_from_arrays(np.array(["a", "a", "b"]), np.array([1.5, 3.0, 10.0]), np.array([100.0, 400.0, 50.0]))
    ages = np.array([0.5, 1.5, 2.0, 3.0, 7.0, 28.0])
    views = typical.bounded(np.array([[500.0] * 6, [1.0] * 6]), iv, ages)
    assert views[0].tolist() == [100.0, 100.0, 400.0, 400.0, 500.0, 500.0]
    assert views[1].tolist() == [1.0, 1.0, 1.0, 1.0, 1.0, 50.0]


def test_the_answer_and_the_video_against_it(table, busy):
    channel, videos = busy
    found = videoperf.typical_performance(table, channel, ages=[1, 7, 28], video_id=videos[-1])
    assert found["uploads_used"] == 10 and videos[-1] not in found["uploads"]
    assert set(found["uploads"]) == set(videos[-11:-1])
    for point in found["points"]:
        assert 0 < point["p30"] <= point["p50"] <= point["p70"]
        assert point["views_lo"] <= point["views"] <= point["views_hi"]
        assert 0 <= point["percentile"] <= 100
    p50 = [p["p50"] for p in found["points"]]
    assert p50 == sorted(p50)
    assert found["rank_now"]["of"] == 11 and 1 <= found["rank_now"]["rank"] <= 11
    assert [r["days_since_publish"] for r in found["forecast_rank"]] == [7, 28, 90]
    seen = table[table["video_id"].eq(videos[-1])]
    assert found["video"]["views"] == seen["views"].max()


def test_observed_video_and_few_uploads(table, busy):
    channel, videos = busy
    few = table[~table["video_id"].isin(videos[4:])]
    found = videoperf.typical_performance(few, channel, observed=[{"days_since_publish": 2, "views": 10},
                                                                  {"days_since_publish": 1, "views": 5}])
    assert found["uploads_used"] == 4 and "fewer than recent" in found["note"]
    assert found["video"]["days_since_publish"] == 2 and found["rank_now"]["of"] == 5
    assert [p["days_since_publish"] for p in found["points"]] == list(typical.DEFAULT_AGES)
    later = [p for p in found["points"] if p["days_since_publish"] >= 2]
    assert all(p["views"] >= 10 and p["views_lo"] >= 10 for p in later)


@pytest.mark.parametrize("change, message", [
    (dict(channel_id="UCnobody"), "channel_id: 'UCnobody' is not in the export"),
    (dict(ages=[1, -7]), "ages: need one or more days"),
    (dict(ages="soon"), "ages: expected a list of days"),
    (dict(recent=2), "recent: expected a whole number"),
    (dict(video_id="nope"), "video_id: 'nope' is not in the export"),
    (dict(observed=[{"days_since_publish": 1}]), "observed[0]: needs numbers"),
    (dict(observed=[{"days_since_publish": 1, "views": 9}, {"days_since_publish": 2, "views": 5}]),
     "observed: one observation per age, and views that do not decrease"),
    (dict(video_id="x", observed=[{"days_since_publish": 1, "views": 9}]), "observed: give either"),
    (dict(data="synthetic"), "data: a channel's uploads export is needed"),
    (dict(data="/no/such/export"), "data: /no/such/export does not exist"),
])
def test_bad_input_names_the_argument(table, busy, change, message):
    arguments = {"data": table, "channel_id": busy[0], **change}
    with pytest.raises(ValueError) as error:
        videoperf.typical_performance(**arguments)
    assert message in str(error.value)


def test_unknown_channel_lists_known_ones_and_too_few_uploads_fail(table, busy):
    channel, videos = busy
    with pytest.raises(ValueError, match=r"e\.g\. UC"):
        videoperf.typical_performance(table, "UCnobody")
    with pytest.raises(ValueError, match="needs at least 3"):
        videoperf.typical_performance(table, channel, video_id=videos[2])
    other = table.loc[~table["channel_id"].eq(channel), "video_id"].iloc[0]
    with pytest.raises(ValueError, match="video_id: .* belongs to channel"):
        videoperf.typical_performance(table, channel, video_id=other)


def test_the_band_holds_a_sensible_share_of_later_uploads(population, table):
    """On the simulator the p30-p70 band of a video's 10 earlier uploads (monthly snapshots) should hold about 40%
    of later uploads at 7 days, and about half should fall below p50 (benchmarks/typical_performance.py measures
    it at scale)."""
    videos = population.videos
    counts = videos.groupby("channel_id")["video_id"].transform("size")
    later = videos[(counts >= 20) & (videos["published_at"] >= pd.Timestamp("2026-04-15", tz="UTC"))]
    later = later.sample(n=min(120, len(later)), random_state=0)
    inside, below = [], []
    for _, video in later.iterrows():
        found = videoperf.typical_performance(table, video["channel_id"], ages=[7], video_id=video["video_id"])
        truth = _cumulative_views(7.0, video["peak_day"], video["growth_rate"], video["decay_rate"],
                                  video["peak_rate"])
        point = found["points"][0]
        inside.append(point["p30"] <= truth <= point["p70"])
        below.append(truth < point["p50"])
    assert len(later) >= 60
    assert 0.28 <= np.mean(inside) <= 0.52, np.mean(inside)
    assert 0.38 <= np.mean(below) <= 0.62, np.mean(below)


def test_four_entry_points_give_one_answer(export, table, busy, tmp_path, capsys):
    channel, videos = busy
    arguments = dict(channel_id=channel, ages=[1, 7, 28], recent=8, video_id=videos[-2])
    python = videoperf.typical_performance(str(export), **arguments)
    assert predict.typical_performance(str(export), **arguments) == python
    assert cli_main(["typical", "--data", str(export), "--channel-id", channel, "--ages", "1,7,28", "--recent", "8",
                     "--video-id", videos[-2]]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(python))
    app = service.create_app(tmp_path / "no-bundle", api_key="")
    with service.serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        response = http.post("/typical", json={"data": str(export), **arguments})
        assert response.status_code == 200, response.text
        assert response.json() == json.loads(json.dumps(python))
        bad = http.post("/typical", json={"data": str(export), "channel_id": "UCnobody"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "channel_id"]
    assert cli_main(["typical", "--data", str(export), "--channel-id", "UCnobody"]) == 2
    assert "channel_id:" in json.loads(capsys.readouterr().err)["error"]
