import logging

import pandas as pd
import pytest
from conftest import CSV_SAMPLE, KAGGLE_CSV, REAL_PARQUET, require_shared_data

from videoperf.data.sources import load_data

API_HEADER = ("video_id,country,fetched_at,published_at,title,channel_title,channel_id,category_id,category_name,"
              "tags,duration,definition,caption_available,made_for_kids,views,likes,comments")


def _api_rows() -> list[str]:
    rows = []
    for i in range(6):
        for day, country in ((1, "US"), (1, "GB"), (2, "US")):
            views = 1000 * (i + 1) * day + (1 if country == "GB" else 0)
            rows.append(f"vid{i:08d},{country},2026-03-0{day}T03:28:0{i}.5+00:00,2026-02-28T12:00:00Z,"
                        f"Title {i},Chan {i % 2},UC{i % 2},10,Music,\"a, b\",200,hd,False,False,"
                        f"{views},{views // 10},5")
    return rows


def _set(row: str, column: str, value: str) -> str:
    """Replace one field of a CSV row written by ``_api_rows`` (its tags field holds a quoted comma)."""
    names = API_HEADER.split(",")
    head, quoted, tail = row.partition('"a, b"')
    fields = head.rstrip(",").split(",") + [quoted] + tail.lstrip(",").split(",")
    fields[names.index(column)] = value
    return ",".join(fields)


def _write(tmp_path, lines, name="trending.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_api_csv_collapses_countries_to_daily_snapshots(tmp_path):
    frame = load_data(_write(tmp_path, [API_HEADER, *_api_rows()]))
    assert len(frame) == 12 and frame["video_id"].nunique() == 6
    first = frame[frame["video_id"] == "vid00000000"].iloc[0]
    # the GB fetch is the latest of day 1 and carries the latest global count
    assert first["views"] == 1001 and first["countries"] == ["GB", "US"]
    assert first["tags"] == ["a", "b"] and first["categories"] == ["Music"]
    assert first["duration_seconds"] == 200.0 and first["made_for_kids"] == 0.0
    assert str(frame["observed_at"].dt.tz) == "UTC"


def test_missing_views_column_is_named(tmp_path):
    header = API_HEADER.replace(",views,", ",")
    rows = [",".join(r.split(",")[:-3] + r.split(",")[-2:]) for r in _api_rows()]
    with pytest.raises(ValueError, match="views"):
        load_data(_write(tmp_path, [header, *rows]))


def test_not_a_supported_format(tmp_path):
    with pytest.raises(ValueError, match="missing column"):
        load_data(_write(tmp_path, ["a,b", "1,2"]))
    with pytest.raises(ValueError, match="source"):
        load_data(tmp_path / "nothing_here.csv")
    with pytest.raises(ValueError, match="source"):
        load_data(42)


def test_corrupted_rows_are_dropped_and_reported(tmp_path, caplog):
    rows = _api_rows()
    rows[0] = _set(rows[0], "fetched_at", "yesterday-ish")
    rows[3] = _set(rows[3], "views", "-5")
    rows[6] = _set(rows[6], "published_at", "not a date")
    rows[9] = _set(rows[9], "likes", "lots")
    rows.append("garbage,with,too,many,fields," + ",".join(["x"] * 30))
    rows.append(rows[12])  # an exact duplicate
    with caplog.at_level(logging.WARNING, logger="videoperf"):
        frame = load_data(_write(tmp_path, [API_HEADER, *rows]))
    dropped = frame.attrs["load_report"]["dropped"]
    assert dropped["unparseable fetched_at"] == 1
    assert dropped["negative views"] == 1
    assert dropped["unparseable published_at"] == 1
    assert dropped["unparseable likes"] == 1
    assert dropped["duplicate row"] == 1
    assert dropped["malformed CSV line in trending.csv"] == 1
    assert "dropped" in caplog.text
    assert frame["video_id"].nunique() >= 4


def test_hidden_likes_stay_missing(tmp_path):
    rows = _api_rows()
    rows[1] = _set(rows[1], "likes", "")  # the GB fetch is the one kept for day 1
    frame = load_data(_write(tmp_path, [API_HEADER, *rows]))
    assert frame["likes"].isna().sum() == 1
    assert frame.attrs["load_report"]["dropped"] == {}


@pytest.mark.real_data
def test_real_parquet_loads_every_video():
    require_shared_data(REAL_PARQUET)
    frame = load_data(REAL_PARQUET)
    assert frame["video_id"].nunique() == 150_253
    assert not frame.duplicated(["video_id", "observed_at"]).any()
    assert frame.groupby(["video_id", frame["observed_at"].dt.floor("D")]).size().max() == 1
    assert isinstance(frame["tags"].iloc[0], list) and isinstance(frame["categories"].iloc[0], list)
    assert pd.api.types.is_float_dtype(frame["duration_seconds"])
    assert frame["duration_seconds"].notna().mean() > 0.95


@pytest.mark.real_data
def test_real_csv_sample_holds_the_same_videos_as_its_files():
    require_shared_data(CSV_SAMPLE)
    frame = load_data(CSV_SAMPLE)
    files = sorted(CSV_SAMPLE.rglob("*.csv"))
    assert len(files) == 9
    expected = set(pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files])["video_id"])
    assert set(frame["video_id"]) == expected
    assert frame.attrs["load_report"]["dropped"] == {}


@pytest.mark.real_data
def test_real_kaggle_csv_with_category_names():
    require_shared_data(KAGGLE_CSV)
    frame = load_data(KAGGLE_CSV)
    assert frame["video_id"].nunique() == 791
    names = set(frame["categories"].explode())
    assert {"Music", "Entertainment", "Comedy"} <= names
    assert not any(name.startswith("category ") for name in names)
    assert frame["duration_seconds"].isna().all()
    assert frame["tags"].map(len).max() > 1
