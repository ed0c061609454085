"""A channel's daily reports: Analytics API JSON, Reporting API CSV, mixed folders, anchoring, errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from videoperf.data.population import training_population
from videoperf.data.sources import CANONICAL_COLUMNS, load_data
from videoperf.lifecycle.targets import build_targets

HEADERS = [{"name": "day", "columnType": "DIMENSION", "dataType": "STRING"},
           {"name": "video", "columnType": "DIMENSION", "dataType": "STRING"},
           {"name": "views", "columnType": "METRIC", "dataType": "INTEGER"},
           {"name": "likes", "columnType": "METRIC", "dataType": "INTEGER"},
           {"name": "comments", "columnType": "METRIC", "dataType": "INTEGER"}]
# vOLD: published long before the report window; vNEW: published inside it (no views on its first days).
ROWS = [["2026-03-01", "vOLD", 100, 10, 1], ["2026-03-02", "vOLD", 200, 20, 2], ["2026-03-03", "vOLD", 300, 30, 3],
        ["2026-03-04", "vOLD", 400, 40, 4], ["2026-03-03", "vNEW", 50, 5, 0], ["2026-03-04", "vNEW", 70, 7, 1]]
REPORTING_HEADER = ("date,channel_id,video_id,live_or_on_demand,subscribed_status,country_code,views,comments,likes,"
                    "dislikes,shares,watch_time_minutes")


def _response(rows: list[list], headers: list[dict] = HEADERS, **beside) -> dict:
    return {"kind": "youtubeAnalytics#resultTable", "columnHeaders": headers, "rows": rows, **beside}


def _write(path, text: str):
    path.write_text(text)
    return path


def _resources(rows: list[dict]) -> str:
    """Video resources (Data API) as a snake_case CSV, one line per snapshot."""
    return pd.DataFrame(rows).to_csv(index=False)


def _series(frame: pd.DataFrame, video: str) -> pd.DataFrame:
    return frame[frame["video_id"] == video].reset_index(drop=True)


def _days(*days: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(f"{day}T23:59:59Z") for day in days]


def test_analytics_json_alone_gives_relative_series(tmp_path, caplog):
    path = _write(tmp_path / "report.json", json.dumps(_response(ROWS)))
    with caplog.at_level(logging.WARNING, logger="videoperf"):
        frame = load_data(path)
    report = frame.attrs["load_report"]
    assert report["format"] == "analytics" and report["dropped"] == {} and report["raw_rows"] == 6
    assert report["daily_series"]["relative"] == 2
    assert report["daily_series"]["relative_reasons"] == {"no publish time": 2}
    assert "for shape only" in caplog.text
    assert list(frame.columns[:len(CANONICAL_COLUMNS)]) == CANONICAL_COLUMNS
    old = _series(frame, "vOLD")
    # Each day's row is the running sum through that day, observed at the day's end; no publish time is invented.
    assert old["observed_at"].tolist() == _days("2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04")
    assert old["views"].tolist() == [100, 300, 600, 1000] and old["likes"].tolist() == [10, 30, 60, 100]
    assert old["comments"].tolist() == [1, 3, 6, 10]
    assert old["published_at"].isna().all() and not frame["views_anchored"].any()
    # No resource: the metadata stays empty.
    assert (old["title"] == "").all() and old["tags"].map(len).eq(0).all() and old["duration_seconds"].isna().all()
    # Downstream, a relative series has no age, so its age-based targets stay missing rather than wrong.
    assert build_targets(frame)["age_days"].isna().all()


@pytest.mark.parametrize("layout", ["list_of_responses", "json_lines", "per_video_queries", "csv"])
def test_analytics_layouts_load_to_the_same_table(tmp_path, layout):
    reference = load_data(_write(tmp_path / "reference.json", json.dumps(_response(ROWS))))
    if layout == "list_of_responses":
        path = _write(tmp_path / "report.json", json.dumps([_response(ROWS[:3]), _response(ROWS[3:])]))
    elif layout == "json_lines":
        lines = [json.dumps(_response(ROWS[:2])), json.dumps(_response(ROWS[2:]))]
        path = _write(tmp_path / "report.jsonl", "\n".join(lines) + "\n")
    elif layout == "per_video_queries":  # dimensions=day, filters=video==ID: the id saved beside columnHeaders
        headers = [header for header in HEADERS if header["name"] != "video"]
        responses = [_response([[row[0], *row[2:]] for row in ROWS if row[1] == video], headers, video_id=video)
                     for video in ("vOLD", "vNEW")]
        path = _write(tmp_path / "report.json", json.dumps(responses))
    else:
        path = tmp_path / "report.csv"
        pd.DataFrame(ROWS, columns=[header["name"] for header in HEADERS]).to_csv(path, index=False)
    pd.testing.assert_frame_equal(load_data(path), reference)


def _reporting_rows() -> list[str]:
    """channel_basic_a2 rows: vA's 2026-03-01 split over countries, subscription status and live / on demand."""
    return [
        "20260301,UC1,vA,on_demand,subscribed,US,40,1,4,0,0,12.5",
        "20260301,UC1,vA,on_demand,not_subscribed,US,25,0,2,1,0,7.0",
        "20260301,UC1,vA,on_demand,not_subscribed,DE,10,1,0,0,1,3.1",
        "20260301,UC1,vA,live,subscribed,US,5,0,1,0,0,1.0",
        "20260302,UC1,vA,on_demand,subscribed,US,30,0,3,0,0,9.0",
        "20260302,UC1,vB,on_demand,subscribed,GB,8,0,1,0,0,2.0",
    ]


def test_reporting_csv_sums_the_rows_of_each_video_and_day(tmp_path):
    path = _write(tmp_path / "channel_basic_a2_20260302.csv", "\n".join([REPORTING_HEADER, *_reporting_rows()]))
    frame = load_data(path)
    assert frame.attrs["load_report"]["format"] == "reporting"
    assert frame.attrs["load_report"]["dropped"] == {}
    vid_a = _series(frame, "vA")
    assert vid_a["observed_at"].tolist() == _days("2026-03-01", "2026-03-02")
    assert vid_a["views"].tolist() == [80, 110] and vid_a["likes"].tolist() == [7, 10]
    assert vid_a["comments"].tolist() == [2, 2]
    # The report names the channel; its title is unknown, so the id stands in.
    assert (frame["channel_id"] == "UC1").all() and (frame["channel_title"] == "UC1").all()
    assert not frame["views_anchored"].any()
    # The same rows as a DataFrame source.
    table = pd.DataFrame([row.split(",") for row in _reporting_rows()], columns=REPORTING_HEADER.split(","))
    pd.testing.assert_frame_equal(load_data(table)[CANONICAL_COLUMNS], frame[CANONICAL_COLUMNS])


def _mixed_folder(tmp_path):
    """Analytics JSON plus video resources: vOLD snapshot inside the report window, vNEW's after it."""
    folder = tmp_path / "channel"
    folder.mkdir()
    _write(folder / "analytics_2026-03.json", json.dumps(_response(ROWS)))
    _write(folder / "uploads.csv", _resources([
        {"video_id": "vOLD", "published_at": "2026-01-10T00:00:00Z", "title": "Old one", "channel_id": "UC1",
         "channel_title": "One", "tags": "a|b", "duration": "PT4M", "view_count": 10000, "like_count": 900,
         "comment_count": 80, "snapshot_utc": "2026-03-03T12:00:00Z"},
        {"video_id": "vNEW", "published_at": "2026-03-02T15:00:00Z", "title": "New one", "channel_id": "UC1",
         "channel_title": "One", "tags": "", "duration": "PT1M", "view_count": 500, "like_count": 50,
         "comment_count": 5, "snapshot_utc": "2026-03-10T00:00:00Z"},
    ]))
    return folder


def test_mixed_folder_joins_by_video_and_anchors(tmp_path):
    frame = load_data(_mixed_folder(tmp_path))
    report = frame.attrs["load_report"]
    assert report["format"] == "analytics+videos" and report["dropped"] == {}
    assert {k: report["daily_series"][k] for k in ("from_publishing", "anchored", "relative")} == {
        "from_publishing": 1, "anchored": 1, "relative": 0}
    old = _series(frame, "vOLD")
    # 10,000 views at 12:00 on 2026-03-03 = views before the reports + 100 + 200 + half of 300.
    assert old["views"].tolist() == [9650, 9850, 10150, 10550]
    at_snapshot = old.loc[1, "views"] + 0.5 * 300
    assert at_snapshot == 10000
    assert old["likes"].tolist() == [865, 885, 915, 955]
    # The resource's own row shares its UTC day with the report's end-of-day row, which is the later one.
    assert old["observed_at"].tolist() == _days("2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04")
    assert (old["published_at"] == pd.Timestamp("2026-01-10T00:00:00Z")).all()
    assert (old["title"] == "Old one").all() and all(tags == ["a", "b"] for tags in old["tags"])
    assert (old["duration_seconds"] == 240).all() and (old["channel_title"] == "One").all()
    new = _series(frame, "vNEW")
    # Published inside the window: every view is in the reports; the later resource snapshot stays a row.
    assert new["views"].tolist() == [50, 120, 500]
    assert new["observed_at"].tolist() == [*_days("2026-03-03", "2026-03-04"), pd.Timestamp("2026-03-10T00:00:00Z")]
    assert frame["views_anchored"].all()
    assert training_population(frame)["name"] == "channel_uploads"
    targets = build_targets(frame)
    assert targets["age_days"].notna().all() and (targets["age_days"] > 0).all()


def _unanchorable_folder(tmp_path) -> tuple[Path, dict]:
    """Daily reports of vOLD and a resource snapshot of it after the reports end: nothing ties the two."""
    folder = tmp_path / "channel"
    folder.mkdir()
    _write(folder / "analytics.json", json.dumps(_response(ROWS[:4])))
    resource = {"video_id": "vOLD", "published_at": "2026-01-10T00:00:00Z", "title": "Old one", "channel_id": "UC1",
                "view_count": 10000, "snapshot_utc": "2026-03-20T00:00:00Z"}
    _write(folder / "uploads.csv", _resources([resource]))
    return folder, resource


def test_snapshots_that_cannot_anchor_leave_the_series_relative(tmp_path):
    folder, resource = _unanchorable_folder(tmp_path)
    # After the window: the views between its end and the snapshot are unknown.
    frame = load_data(folder)
    old = _series(frame, "vOLD")
    assert old["views_anchored"].tolist() == [False] * 4 + [True]
    assert old["views"].tolist() == [100, 300, 600, 1000, 10000]
    assert (old["published_at"] == pd.Timestamp("2026-01-10T00:00:00Z")).all()
    assert frame.attrs["load_report"]["daily_series"]["relative_reasons"] == {
        "published before the reports, no snapshot inside them": 1}
    # Inside the window but below the reports' own sum: the two sources disagree, no level is taken.
    _write(folder / "uploads.csv", _resources([{**resource, "view_count": 200, "snapshot_utc": "2026-03-04T06:00Z"}]))
    old = _series(load_data(folder), "vOLD")
    # The resource's own row, whose level is known, is kept over the relative row of its day.
    assert old["views_anchored"].tolist() == [False, False, False, True]
    assert old["views"].tolist() == [100, 300, 600, 200]
    assert load_data(folder).attrs["load_report"]["daily_series"]["relative_reasons"] == {
        "snapshot total below the reports' sum": 1}


def test_a_reporting_file_covers_every_video_of_its_channel(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    rows = _reporting_rows()
    _write(folder / "day_20260301.csv", "\n".join([REPORTING_HEADER, *rows[:4]]))
    _write(folder / "day_20260302.csv", "\n".join([REPORTING_HEADER, *rows[4:]]))
    # vB was published on 2026-03-01 but has no row that day: the channel's file for it says it had no views.
    _write(folder / "uploads.csv", _resources([
        {"video_id": "vB", "published_at": "2026-03-01T20:00:00Z", "title": "B", "channel_id": "UC1",
         "view_count": 8, "snapshot_utc": "2026-03-05T00:00:00Z"}]))
    frame = load_data(folder)
    assert frame.attrs["load_report"]["daily_series"]["from_publishing"] == 1
    assert _series(frame, "vB")["views"].tolist() == [8, 8]
    assert _series(frame, "vB")["views_anchored"].all()
    assert frame.attrs["load_report"]["daily_series"]["uncovered_days"] == 0


def test_a_later_file_replaces_a_day_and_gaps_are_reported(tmp_path, caplog):
    folder = tmp_path / "reports"
    folder.mkdir()
    _write(folder / "a_20260301.csv", "\n".join([REPORTING_HEADER, *_reporting_rows()[:4]]))
    # A backfill of 2026-03-01 with corrected numbers, and a day three days later (two days in no file).
    backfill, later = "20260301,UC1,vA,on_demand,subscribed,US,90,0,9,0,0,1", "20260304,UC1,vA,on_demand,,,10,0,1,0,0,1"
    _write(folder / "b_20260301_backfill.csv", f"{REPORTING_HEADER}\n{backfill}")
    _write(folder / "c_20260304.csv", f"{REPORTING_HEADER}\n{later}")
    with caplog.at_level(logging.WARNING, logger="videoperf"):
        frame = load_data(folder)
    assert frame.attrs["load_report"]["dropped"] == {"daily row replaced by a later report file": 4}
    assert _series(frame, "vA")["views"].tolist() == [90, 100]
    assert frame.attrs["load_report"]["daily_series"]["uncovered_days"] == 2
    assert "in no file" in caplog.text


def test_bad_daily_rows_are_reported(tmp_path, caplog):
    rows = [*ROWS, ["2026-03-05", "vOLD", -4, 0, 0], ["March 5", "vOLD", 4, 0, 0], ["2026-03-05", "", 4, 0, 0],
            ["2026-03-05", "vOLD", "many", 0, 0], ["2026-03-05", "vOLD", 1]]
    path = _write(tmp_path / "report.json", json.dumps(_response(rows)))
    with caplog.at_level(logging.WARNING, logger="videoperf"):
        frame = load_data(path)
    assert frame.attrs["load_report"]["dropped"] == {
        "malformed report row or response in report.json": 1, "missing video_id": 1, "unparseable day": 1,
        "unparseable views": 1, "negative views": 1}
    assert "negative views" in caplog.text
    assert _series(frame, "vOLD")["views"].tolist() == [100, 300, 600, 1000]
    csv = _write(tmp_path / "report.csv", f"{REPORTING_HEADER}\n2026-03-01,UC1,vA,on_demand,subscribed,US,4,0,1,0,0,1\n"
                                          f"20260302,UC1,vA,on_demand,subscribed,US,4,0,,0,0,1")
    frame = load_data(csv)
    assert frame.attrs["load_report"]["dropped"] == {"unparseable date": 1}
    assert np.isnan(frame.loc[0, "likes"])  # a missing likes count stays missing


def test_a_file_in_no_format_names_what_the_nearest_lacks(tmp_path):
    headers = [header for header in HEADERS if header["name"] != "video"]
    no_video = _write(tmp_path / "no_video.json", json.dumps(_response([[row[0], *row[2:]] for row in ROWS], headers)))
    with pytest.raises(ValueError, match=r"Analytics API report it is missing column\(s\) \['video \(the dimension"):
        load_data(no_video)
    no_views = tmp_path / "no_views.csv"
    pd.DataFrame({"date": ["20260301"], "channel_id": ["UC1"], "video_id": ["vA"], "likes": ["1"]}).to_csv(
        no_views, index=False)
    with pytest.raises(ValueError, match=r"Reporting API report it is missing column\(s\) \['views'\]"):
        load_data(no_views)
    other = _write(tmp_path / "other.json", json.dumps({"columnHeaders": [{"name": "month"}], "rows": [["2026-03"]]}))
    with pytest.raises(ValueError, match=r"other.json: data: not a supported format; as the YouTube Analytics"):
        load_data(other)


def test_relative_views_neither_train_nor_score(tmp_path, caplog):
    from videoperf.training.pipeline import prepare_snapshots

    folder, _ = _unanchorable_folder(tmp_path)
    frame = load_data(folder)
    with caplog.at_level(logging.WARNING, logger="videoperf"):
        kept = prepare_snapshots(frame)
    assert kept["views_anchored"].all() and len(kept) == int(frame["views_anchored"].sum())
    assert kept["views"].tolist() == [10000]  # only the resource's own count has a known level
    assert "relative views" in caplog.text
