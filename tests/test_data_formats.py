"""Video-resource exports (a channel's uploads): every accepted spelling, snapshot folders, errors, the CLI flag."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import model_update
from videoperf import api
from videoperf.data.sources import CANONICAL_COLUMNS, load_data
from videoperf.features.channel_history import ChannelHistory
from videoperf.lifecycle.targets import build_targets

SNAPSHOT = "2026-03-01T06:00:00Z"
# Three uploads of two channels as the API describes them; v3 hides its likes, v2 has no tags.
VIDEOS = [
    {"id": "vidAAAAAAA1", "publishedAt": "2026-02-03T15:00:00Z", "channelId": "UCone", "channelTitle": "One",
     "title": "How to bake bread", "tags": ["baking", "bread"], "categoryId": "26", "duration": "PT12M5S",
     "viewCount": "15000", "likeCount": "900", "commentCount": "40"},
    {"id": "vidAAAAAAA2", "publishedAt": "2026-02-20T09:30:00Z", "channelId": "UCone", "channelTitle": "One",
     "title": "Sourdough basics", "tags": [], "categoryId": "26", "duration": "PT1H2M",
     "viewCount": "3200", "likeCount": "150", "commentCount": "7"},
    {"id": "vidAAAAAAA3", "publishedAt": "2026-02-25T18:00:00Z", "channelId": "UCtwo", "channelTitle": "Two",
     "title": "Top goals of the week", "tags": ["football"], "categoryId": "17", "duration": "PT45S",
     "viewCount": "800", "likeCount": None, "commentCount": "2"},
]
API_NAMES = {"id": "id", "publishedAt": "snippet.publishedAt", "channelId": "snippet.channelId",
             "channelTitle": "snippet.channelTitle", "title": "snippet.title", "tags": "snippet.tags",
             "categoryId": "snippet.categoryId", "duration": "contentDetails.duration",
             "viewCount": "statistics.viewCount", "likeCount": "statistics.likeCount",
             "commentCount": "statistics.commentCount"}
SNAKE_NAMES = {"id": "video_id", "publishedAt": "published_at", "channelId": "channel_id",
               "channelTitle": "channel_title", "title": "title", "tags": "tags", "categoryId": "category_id",
               "duration": "duration_iso8601", "viewCount": "view_count", "likeCount": "like_count",
               "commentCount": "comment_count"}


def _table(names: dict[str, str], tags: str = "json", snapshot: str | None = "snapshot_utc") -> pd.DataFrame:
    """The videos as a flat table in one spelling; ``tags`` as a JSON list, ``a|b`` or ``a, b``."""
    join = {"json": json.dumps, "pipe": "|".join, "comma": ", ".join}[tags]
    rows = [{names[key]: ("" if value is None else join(value) if key == "tags" else value)
             for key, value in video.items()} for video in VIDEOS]
    frame = pd.DataFrame(rows)
    if snapshot:
        frame.insert(0, snapshot, SNAPSHOT)
    return frame


def _resource(video: dict) -> dict:
    """One video resource exactly as ``videos.list`` returns it (hidden likes: no likeCount key)."""
    statistics = {"viewCount": video["viewCount"], "commentCount": video["commentCount"]}
    if video["likeCount"] is not None:
        statistics["likeCount"] = video["likeCount"]
    snippet = {key: video[key] for key in ("publishedAt", "channelId", "channelTitle", "title", "categoryId")}
    if video["tags"]:  # the API omits the tags of a video that has none
        snippet["tags"] = video["tags"]
    return {"kind": "youtube#video", "etag": "x", "id": video["id"], "snippet": snippet,
            "contentDetails": {"duration": video["duration"], "definition": "hd", "caption": "false"},
            "statistics": statistics}


def _core(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[CANONICAL_COLUMNS].reset_index(drop=True)


@pytest.fixture()
def reference(tmp_path) -> pd.DataFrame:
    path = tmp_path / "reference.csv"
    _table(SNAKE_NAMES).to_csv(path, index=False)
    return load_data(path)


def test_reference_values(reference):
    assert reference.attrs["load_report"]["format"] == "videos"
    assert reference.attrs["load_report"]["dropped"] == {}
    first, second, third = (reference.iloc[i] for i in range(3))
    assert first["observed_at"] == pd.Timestamp(SNAPSHOT)
    assert first["tags"] == ["baking", "bread"] and second["tags"] == []
    assert first["categories"] == ["Howto & Style"] and third["categories"] == ["Sports"]
    assert [first["duration_seconds"], second["duration_seconds"], third["duration_seconds"]] == [725, 3720, 45]
    assert first["views"] == 15000 and first["likes"] == 900 and np.isnan(third["likes"])
    assert third["channel_title"] == "Two" and third["countries"] == []


@pytest.mark.parametrize("spelling", ["api_csv", "camel_csv", "snake_pipe_csv", "snake_parquet", "api_parquet"])
def test_flat_spellings_load_to_the_same_table(tmp_path, reference, spelling):
    if spelling == "api_csv":
        frame, suffix = _table(API_NAMES, "json", "fetched_at"), ".csv"
    elif spelling == "camel_csv":
        frame, suffix = _table({**{k: k for k in VIDEOS[0]}, "id": "videoId"}, "comma", "retrieved_at"), ".csv"
    elif spelling == "snake_pipe_csv":
        frame, suffix = _table(SNAKE_NAMES, "pipe"), ".csv"
    else:
        frame = _table(API_NAMES if spelling == "api_parquet" else SNAKE_NAMES)
        # Parquet keeps types: list tags, integer counts (missing likes as a nullable int), timestamps.
        tag_column = "snippet.tags" if spelling == "api_parquet" else "tags"
        frame[tag_column] = [video["tags"] for video in VIDEOS]
        for column in frame.columns:
            if "count" in column.lower():
                frame[column] = pd.to_numeric(frame[column]).astype("Int64")
        frame["snapshot_utc"] = pd.to_datetime(frame["snapshot_utc"], utc=True)
        suffix = ".parquet"
    path = tmp_path / f"export{suffix}"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    pd.testing.assert_frame_equal(_core(load_data(path)), _core(reference))


@pytest.mark.parametrize("layout", ["response", "list_of_responses", "json_lines", "snapshot_in_response"])
def test_raw_api_json_loads_to_the_same_table(tmp_path, reference, layout):
    resources = [_resource(video) for video in VIDEOS]
    response = {"kind": "youtube#videoListResponse", "items": resources}
    observed_at = SNAPSHOT
    if layout == "response":
        text = json.dumps(response)
    elif layout == "list_of_responses":  # one per page of 50 ids
        text = json.dumps([{"items": resources[:2]}, {"items": resources[2:]}])
    elif layout == "json_lines":
        text = "\n".join(json.dumps(resource) for resource in resources) + "\n"
    else:
        text, observed_at = json.dumps({"snapshot_utc": SNAPSHOT, **response}), None
    path = tmp_path / ("export.jsonl" if layout == "json_lines" else "export.json")
    path.write_text(text)
    loaded = load_data(path, observed_at=observed_at)
    pd.testing.assert_frame_equal(_core(loaded), _core(reference))
    assert loaded["definition"].eq("hd").all() and loaded["caption_available"].eq(0.0).all()


def test_dataframe_source_and_observed_at(reference):
    table = _table(SNAKE_NAMES, snapshot=None)
    loaded = load_data(table, observed_at=pd.Timestamp(SNAPSHOT))
    pd.testing.assert_frame_equal(_core(loaded), _core(reference))
    naive = load_data(table, observed_at="2026-03-01 06:00")  # naive times are UTC
    assert (naive["observed_at"] == pd.Timestamp(SNAPSHOT)).all()
    # A snapshot column wins over the argument, which only stands in for files without one.
    assert (load_data(_table(SNAKE_NAMES), observed_at="2020-01-01")["observed_at"] == pd.Timestamp(SNAPSHOT)).all()
    with pytest.raises(ValueError, match="observed_at"):
        load_data(table, observed_at="the first of march")
    with pytest.raises(ValueError, match="snapshot time.*--observed-at"):
        load_data(table)


def _monthly_folder(tmp_path):
    """February (CSV, snake_case) and March (parquet, API names) snapshots of the same two channels."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    feb = _table(SNAKE_NAMES).iloc[:1].assign(snapshot_utc="2026-02-15T06:00:00Z", view_count="9000")
    # A second fetch the same UTC day: only the later one is an observation.
    feb_late = feb.assign(snapshot_utc="2026-02-15T20:00:00Z", view_count="9500")
    gone = feb.assign(video_id="vidDELETED1", published_at="2026-02-01T00:00:00Z", view_count="50")
    pd.concat([feb, feb_late, gone]).to_csv(folder / "uploads_2026-02.csv", index=False)
    march = _table(API_NAMES)
    march["snippet.tags"] = [video["tags"] for video in VIDEOS]
    march.to_parquet(folder / "uploads_2026-03.parquet")
    (folder / "categories.json").write_text(json.dumps({"26": "Howto & Style"}))  # not a data file
    return folder


def test_two_monthly_snapshots_give_two_point_series(tmp_path):
    frame = load_data(_monthly_folder(tmp_path))
    assert frame.attrs["load_report"]["format"] == "videos"
    assert frame.attrs["load_report"]["dropped"] == {}
    sizes = frame.groupby("video_id").size()
    assert sizes.to_dict() == {"vidAAAAAAA1": 2, "vidAAAAAAA2": 1, "vidAAAAAAA3": 1, "vidDELETED1": 1}
    series = frame[frame["video_id"] == "vidAAAAAAA1"]
    assert series["views"].tolist() == [9500, 15000]
    assert series["observed_at"].tolist() == [pd.Timestamp("2026-02-15T20:00:00Z"), pd.Timestamp(SNAPSHOT)]
    targets = build_targets(frame).set_index("video_id")
    assert targets.loc["vidAAAAAAA1", "n_observations"].tolist() == [2, 2]
    # One observation cannot show a trend: the lifecycle targets of once-seen videos stay missing.
    assert targets.loc[["vidAAAAAAA2", "vidAAAAAAA3"], "lifecycle_stage"].isna().all()
    assert targets.loc["vidAAAAAAA3", "time_to_peak_days"] != targets.loc["vidAAAAAAA3", "time_to_peak_days"]


def test_channel_history_is_as_of_across_snapshot_files(tmp_path):
    frame = load_data(_monthly_folder(tmp_path))
    history = ChannelHistory(frame)
    asked = pd.to_datetime(["2026-02-20T09:30:00Z", "2026-03-02T00:00:00Z"], utc=True)
    stats = history.stats(np.array(["UCone", "UCone"]), asked)
    # Between the snapshots the channel's known videos are February's (9500 and 50 views), after March's.
    assert stats["channel_video_count"].tolist() == [2, 3]
    assert stats["channel_avg_views"].tolist() == [pytest.approx(4775), pytest.approx((15000 + 3200 + 50) / 3)]


def test_nearest_format_error_names_what_it_lacks(tmp_path):
    path = tmp_path / "half.csv"
    _table(API_NAMES).drop(columns=["snippet.channelId", "statistics.viewCount"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"video resources.*channel_id \(one of snippet\.channelId.*views"):
        load_data(path)
    trending_like = tmp_path / "trending_like.csv"
    pd.DataFrame({c: ["x"] for c in ("video_id", "fetched_at", "published_at", "title", "channel_id",
                                     "channel_title", "likes", "comments")}).to_csv(trending_like, index=False)
    with pytest.raises(ValueError, match=r"trending export it is missing column\(s\) \['views'\]"):
        load_data(trending_like)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"kind": "youtube#videoListResponse", "items": []}))
    with pytest.raises(ValueError, match="no video resources"):
        load_data(empty, observed_at=SNAPSHOT)


def test_bad_rows_are_counted_by_reason(tmp_path):
    table = _table(SNAKE_NAMES)
    extra = table.iloc[[0, 0, 0, 1]].copy()
    extra["video_id"] = ["", "vidBAD00001", "vidBAD00002", "vidBAD00003"]
    extra.iloc[1, extra.columns.get_loc("view_count")] = "-3"
    extra.iloc[2, extra.columns.get_loc("snapshot_utc")] = "soon"
    extra.iloc[3, extra.columns.get_loc("published_at")] = "2026-03-05T00:00:00Z"  # after the snapshot
    table["duration_iso8601"] = ["PT12M5S", "one hour", "PT45S"]
    path = tmp_path / "bad.csv"
    pd.concat([table, extra]).to_csv(path, index=False)
    frame = load_data(path)
    assert frame.attrs["load_report"]["dropped"] == {
        "missing video_id": 1, "negative views": 1, "unparseable snapshot time": 1, "observed before published": 1}
    assert frame["video_id"].tolist() == ["vidAAAAAAA1", "vidAAAAAAA2", "vidAAAAAAA3"]
    assert np.isnan(frame.loc[1, "duration_seconds"])  # an unreadable duration is a missing feature, not a drop
    lines = tmp_path / "bad.jsonl"
    lines.write_text(json.dumps(_resource(VIDEOS[0])) + "\n{not json\n" + json.dumps(_resource(VIDEOS[1])) + "\n")
    frame = load_data(lines, observed_at=SNAPSHOT)
    assert frame.attrs["load_report"]["dropped"] == {"malformed JSON line or item in bad.jsonl": 1}
    assert len(frame) == 2


def test_cli_observed_at_reaches_the_loader(tmp_path, monkeypatch, capsys):
    path = tmp_path / "no_snapshot.csv"
    _table(SNAKE_NAMES, snapshot=None).to_csv(path, index=False)
    code = model_update.main(["evaluate", "--data", str(path), "--split-date", "2026-02-15", "--quiet"])
    assert code == 2 and "--observed-at" in capsys.readouterr().err
    seen = {}

    def fake_train(source, *args, observed_at=None, **kwargs):
        seen["snapshots"] = model_update.load_data(source, observed_at)
        raise ValueError("stop after loading")

    monkeypatch.setattr(api, "train", fake_train)
    code = model_update.main(["train", "--data", str(path), "--observed-at", "2026-03-01T06:00:00Z", "--quiet"])
    assert code == 2 and "stop after loading" in capsys.readouterr().err
    assert (seen["snapshots"]["observed_at"] == pd.Timestamp(SNAPSHOT)).all()
