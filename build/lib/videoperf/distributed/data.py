"""The data side of the Dask path: a folder of CSV / parquet partitions as canonical snapshots, their targets,
and each training row's features, computed partition by partition with the single-machine functions.

Why the results equal the single-machine path's: every step is a per-video or per-channel rule, so once a
partition holds whole videos (``load_snapshots`` shuffles the raw rows by ``video_id``) or whole channels
(``by_channel`` shuffles the canonical rows by ``channel_id``), running the single-machine function on the
partition gives exactly the rows it gives on the whole table:

* canonicalising (``videoperf.data.sources``): duplicates, the latest fetch per video and UTC day, the country lists;
  the raw rows keep their file order inside a partition (``_file``, ``_row``), so ties break as they do there;
* targets (``videoperf.lifecycle.targets.build_targets``): one video's series;
* channel history (``videoperf.features.channel_history``): the as-of sums of one channel's observations;
* features (``FeatureBuilder``, fitted once on the client): per video, from its channel's history.

Paths may be local or any fsspec URL (``s3://``, ``gcs://``, ...); workers read the partitions themselves. The source
``"synthetic"`` is the simulator's export (``load_data("synthetic")``'s rows), written as partitions to a temporary
folder (``synthetic_partitions``).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from videoperf.data import api_export
from videoperf.data import sources as data
from videoperf.distributed.cluster import check_cluster
from videoperf.features.channel_history import ChannelHistory, mask_optional_stats
from videoperf.lifecycle.targets import build_targets, log_views

if TYPE_CHECKING:
    import dask.dataframe as dd

    from videoperf.features.builder import FeatureBuilder

logger = logging.getLogger(__name__)

SYNTHETIC_PARTITIONS = 4  # files of a simulated export: the shuffle and the workers get parallel work
ORDER = ["_file", "_row"]
WEIGHT, TARGET = "_w", "_y"
KEYS = ["video_id", "observed_at"]


# ---------------------------------------------------------------------------------------------- files
def _is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


@contextlib.contextmanager
def synthetic_partitions(source: str | Path, cluster: Any) -> Iterator[str | Path]:
    """``source`` as it is, or for ``"synthetic"`` a temporary folder of parquet partitions holding the rows
    ``load_data("synthetic")`` simulates, removed on exit. The workers read it, so they must share this machine's
    files: a scheduler address is refused for it."""
    if str(source) != "synthetic":
        yield source
        return
    if isinstance(check_cluster(cluster), str) and cluster != "local":
        raise ValueError(f"source: 'synthetic' is simulated into a temporary folder of this machine, which the "
                         f"workers of {cluster} cannot read; write the simulated export where they can "
                         "(videoperf.generate_synthetic(N)[0].to_parquet(PATH)) and pass that path, or use "
                         "--cluster local")
    raw = data.synthetic_export()
    with tempfile.TemporaryDirectory(prefix="videoperf_synthetic_") as folder:
        for k, rows in enumerate(np.array_split(np.arange(len(raw)), SYNTHETIC_PARTITIONS)):
            raw.iloc[rows].to_parquet(Path(folder) / f"part-{k}.parquet", index=False)
        yield folder


def partition_files(source: str | Path) -> list[str]:
    """The data files of ``source`` (a folder or one file; local or an fsspec URL), sorted."""
    text = str(source)
    if not _is_url(text):
        path = Path(text.removeprefix("file://"))
        if not path.exists():
            raise ValueError(f"source: {path} does not exist (expected a folder of CSV / parquet partitions)")
        return [str(file) for file in data._data_files(path)]
    import fsspec

    fs, root = fsspec.core.url_to_fs(text)
    protocol = text.split("://", 1)[0]
    found = [root] if fs.isfile(root) else sorted(fs.find(root))
    files = [f"{protocol}://{name}" for name in found if Path(name).suffix.lower() in (".csv", ".parquet", ".pq")]
    if not files:
        raise ValueError(f"source: {text} holds no CSV or parquet file")
    return files


def read_table(path: str, *, strings: bool = True) -> pd.DataFrame:
    """One CSV / parquet file, local or remote; ``strings``: every value as text (``""`` = missing), as the loader
    reads it (``videoperf.data.sources``)."""
    if not _is_url(path):
        if strings:
            return data._read_file(Path(path), data.DropReport(path))
        return pd.read_parquet(path) if path.lower().endswith((".parquet", ".pq")) else pd.read_csv(path)
    import fsspec

    with fsspec.open(path, "rb") as handle:
        if path.lower().endswith((".parquet", ".pq")):
            frame = pd.read_parquet(handle)
            return api_export.as_strings(frame) if strings else frame
        return pd.read_csv(handle, dtype=str, keep_default_na=False) if strings else pd.read_csv(handle)


def _read_raw(path: str, index: int, wanted: list[str], observed_at: pd.Timestamp | None) -> pd.DataFrame:
    """One raw partition in the trending export's columns, with its place in the source (``_file``, ``_row``)."""
    frame, _ = data._standardise(read_table(path), observed_at, path)
    frame = frame.reindex(columns=wanted, fill_value="")
    frame["_file"] = np.int64(index)
    frame["_row"] = np.arange(len(frame), dtype=np.int64)
    return frame


# ----------------------------------------------------------------------------------------- canonical
def _canonical_part(raw: pd.DataFrame, kind: str, source: str, category_json: str | None,
                    meta: pd.DataFrame | None = None) -> pd.DataFrame:
    """The canonical snapshots of raw rows holding whole videos (``data.sources``' rules, file order kept)."""
    if raw.empty and meta is not None:
        return meta.copy()
    raw = raw.sort_values(ORDER, kind="stable").drop(columns=ORDER).reset_index(drop=True)
    report = data.DropReport(source)
    frame = data._canonical(raw, kind, source, report, Path(category_json) if category_json else None)
    frame.attrs = {}
    return frame


def load_snapshots(source: str | Path, *, observed_at: str | pd.Timestamp | None = None,
                   npartitions: int | None = None) -> dd.DataFrame:
    """Canonical snapshots of a folder of partitions as a Dask DataFrame, each video whole in one partition.

    The same rows as ``videoperf.data.sources.load_data(source)`` (a test and ``benchmarks/dask_equivalence.py`` check
    it), sorted by ``(video_id, observed_at)`` inside each partition. Call it inside ``cluster.open_client``.
    """
    import dask.dataframe as dd

    files = partition_files(source)
    observed = api_export.parse_observed_at(observed_at)
    heads = [data._standardise(read_table(file).head(200), observed, file) for file in files[:1]]
    kinds, columns = set(), []
    for file in files:
        header = _header(file)
        kinds.add(data.detect_format(header, observed))
        standard = data._standardise(pd.DataFrame(columns=header, dtype=object), observed, file)[0].columns
        columns += [col for col in standard if col not in columns]
    if "kaggle" in kinds and len(kinds) > 1:
        raise ValueError(f"source: {source} mixes the Kaggle CSV with other formats; load them separately")
    kind = "+".join(sorted(kinds))
    category = None
    if not _is_url(str(source)):
        found = data._category_json(Path(str(source)))
        category = str(found) if found else None
    sample = heads[0][0].reindex(columns=columns, fill_value="").assign(_file=np.int64(0), _row=np.int64(0))
    raw = dd.from_map(_read_raw, files, list(range(len(files))), wanted=columns, observed_at=observed,
                      meta=sample.iloc[:0], enforce_metadata=False)
    meta = _canonical_part(sample, kind, str(source), category).iloc[:0]
    shuffled = raw.shuffle("video_id", npartitions=npartitions or len(files))
    return shuffled.map_partitions(_canonical_part, kind, str(source), category, meta, meta=meta,
                                   enforce_metadata=False)


def _header(path: str) -> list[str]:
    """A file's column names, read without its rows where the format allows."""
    if path.lower().endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        if not _is_url(path):
            return list(pq.read_schema(path).names)
        import fsspec

        with fsspec.open(path, "rb") as handle:
            return list(pq.read_schema(handle).names)
    return list(read_table(path).columns) if _is_url(path) else list(pd.read_csv(path, nrows=0).columns)


def _write_part(part: pd.DataFrame, path: str) -> int:
    part.to_parquet(path, index=False)
    return len(part)


def write_parquet(frame: dd.DataFrame, folder: str | Path) -> int:
    """Each partition of ``frame`` as one parquet file of ``folder`` (pandas' writer: list columns such as ``tags``
    need no schema up front); the number of rows written."""
    import dask

    Path(folder).mkdir(parents=True, exist_ok=True)
    writes = [dask.delayed(_write_part)(part, f"{folder}/part-{k:05d}.parquet")
              for k, part in enumerate(frame.to_delayed())]
    return int(sum(dask.compute(*writes)))


def targets(snapshots: dd.DataFrame) -> dd.DataFrame:
    """``build_targets`` per partition (each holds whole videos): the single-machine rows, partition by partition."""
    meta = build_targets(snapshots._meta)
    return snapshots.map_partitions(build_targets, meta=meta)


def collect(frame: dd.DataFrame) -> pd.DataFrame:
    """A Dask result as one pandas table sorted by ``(video_id, observed_at)`` (the single-machine order)."""
    out = frame.compute()
    keys = [key for key in KEYS if key in out]
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------------ time split / channels
def split_side(part: pd.DataFrame, cut: pd.Timestamp, side: str) -> pd.DataFrame:
    """``videoperf.data.splits.split_by_date`` on a partition of whole videos: ``side`` "train" (published before
    ``cut``, observed before it) or "test" (published on or after it)."""
    published = part.groupby("video_id")["published_at"].transform("min")
    if side == "train":
        kept = part[(published < cut) & (part["observed_at"] < cut)]
    else:
        kept = part[published >= cut]
    return kept.reset_index(drop=True)


def split(snapshots: dd.DataFrame, split_date: str | pd.Timestamp) -> tuple[dd.DataFrame, dd.DataFrame]:
    """The training and test sides of a time split, partition by partition (the rule of ``split_by_date``)."""
    try:
        cut = pd.Timestamp(split_date)
    except (TypeError, ValueError) as error:
        raise ValueError(f"split_date: cannot parse {split_date!r} as a date") from error
    cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut.tz_convert("UTC")
    meta = snapshots._meta
    return (snapshots.map_partitions(split_side, cut, "train", meta=meta),
            snapshots.map_partitions(split_side, cut, "test", meta=meta))


ROUTE, COPY = "_route", "_copy"


def _route(part: pd.DataFrame, n: int) -> pd.DataFrame:
    """Each row's channel partition (``_route``): its video's home channel's, the channel of the video's first
    observation (the one its features ask about). A video observed under several channel ids (104 of the real
    export's) is also copied whole (``_copy``) to the partition of every other channel it touches, so that each
    channel's history there sees the complete series of every video it counts, as on one machine."""
    part = part.sort_values(KEYS, kind="stable").reset_index(drop=True)
    channel = part["channel_id"].astype(str).to_numpy(dtype=object)
    route = (pd.util.hash_array(channel, hash_key="videoperf-route0") % np.uint64(n)).astype(np.int64)
    codes = pd.factorize(part["video_id"])[0]
    first = np.r_[True, codes[1:] != codes[:-1]] if len(codes) else np.zeros(0, dtype=bool)
    home = route[first][codes] if len(codes) else route
    out = part.assign(**{ROUTE: home, COPY: False})
    foreign = pd.DataFrame({"code": codes, "route": route})[route != home].drop_duplicates()
    if foreign.empty:
        return out
    copies = part.iloc[np.flatnonzero(np.isin(codes, foreign["code"].unique()))]
    pairs = pd.DataFrame({"code": codes[copies.index.to_numpy()], "row": copies.index.to_numpy()}).merge(foreign)
    extra = part.iloc[pairs["row"].to_numpy()].assign(**{ROUTE: pairs["route"].to_numpy(), COPY: True})
    return pd.concat([out, extra], ignore_index=True)


def by_channel(snapshots: dd.DataFrame, npartitions: int | None = None) -> dd.DataFrame:
    """The snapshots shuffled by channel: each partition holds whole videos, grouped by their home channel, plus
    the copies its channels' history needs (``_route``); split a partition with ``channel_part``."""
    n = npartitions or snapshots.npartitions
    meta = snapshots._meta.assign(**{ROUTE: np.int64(0), COPY: False})
    return snapshots.map_partitions(_route, n, meta=meta).shuffle(ROUTE, npartitions=n)


def channel_part(part: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(own rows, history rows)`` of a ``by_channel`` partition: the rows of the videos it answers for, and every
    observation its channels' history counts (each once), both sorted by ``(video_id, observed_at)``."""
    part = part.sort_values([*KEYS, COPY], kind="stable")
    own = part[~part[COPY]].drop(columns=[ROUTE, COPY]).reset_index(drop=True)
    history = part.drop_duplicates(KEYS).drop(columns=[ROUTE, COPY]).reset_index(drop=True)
    return own, history


# --------------------------------------------------------------------------------------------- features
def check_builder(builder: FeatureBuilder) -> None:
    """The Dask path computes training rows' features partition by partition; the point-in-time target encodings
    of ``fit_training`` need every earlier video, so they must be left out (the presets do)."""
    if "target_encodings" not in builder.config.excluded_families:
        raise ValueError("features.excluded_families: the Dask path needs 'target_encodings' left out (their "
                         "training values depend on every earlier video, not on one channel's)")


def training_rows(part: pd.DataFrame, builder: FeatureBuilder, half_life_days: float = 0.0,
                  cut: pd.Timestamp | None = None) -> pd.DataFrame:
    """The features ``builder.fit_training`` gives the training rows of ``part`` (a ``by_channel`` partition), plus
    the view target (``_y``) and a weight (``_w``: 1 / the video's rows, times the recency weight) so that every video
    weighs the same, as the single-machine path's balanced sample makes it; keyed by ``video_id, observed_at``."""
    from videoperf.data.sampling import recency_weights
    from videoperf.features.builder import _with_age, snapshot_ages, video_table

    names = builder.feature_names
    part, events = channel_part(part)
    if part.empty:
        return _empty_rows(names)
    videos, row_video = video_table(part)
    history = builder.channel_history(events)
    stats = history.stats(videos["channel_id"], videos["published_at"])
    stats = mask_optional_stats(stats, builder.config.channel_stats_mask_fraction, builder.seed, videos["video_id"])
    # What fit_training assembles; the encoders' values differ from its point-in-time ones but are left out.
    _, per_video = builder._assemble(*builder._content(videos), stats)
    out = _with_age(names, per_video, row_video, snapshot_ages(part))
    rows_per_video = np.bincount(row_video)[row_video]
    weight = 1.0 / rows_per_video
    if cut is not None:
        recency = recency_weights(part["published_at"], cut, half_life_days)
        weight = weight * recency if recency is not None else weight
    out[TARGET] = log_views(part)
    out[WEIGHT] = weight
    out.insert(0, "observed_at", part["observed_at"].to_numpy())
    out.insert(0, "video_id", part["video_id"].to_numpy())
    return out


def _empty_rows(names: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype="float32") for name in names})
    frame[TARGET] = pd.Series(dtype="float64")
    frame[WEIGHT] = pd.Series(dtype="float64")
    frame.insert(0, "observed_at", pd.Series(dtype="datetime64[us, UTC]"))
    frame.insert(0, "video_id", pd.Series(dtype=object))
    return frame


def feature_rows(snapshots: dd.DataFrame, builder: Any, half_life_days: float = 0.0,
                 cut: pd.Timestamp | None = None) -> dd.DataFrame:
    """``training_rows`` of every row of ``snapshots`` (canonical, any partitioning): shuffled by channel first.

    ``builder``: the fitted ``FeatureBuilder``, or a ``Future`` of it scattered to the workers.
    """
    channels = by_channel(snapshots)
    names = builder.feature_names if hasattr(builder, "feature_names") else builder.result().feature_names
    meta = _empty_rows(names)
    meta["observed_at"] = meta["observed_at"].astype(snapshots._meta["observed_at"].dtype)
    return channels.map_partitions(training_rows, builder, half_life_days, cut, meta=meta, enforce_metadata=False)


def model_arrays(rows: dd.DataFrame, names: list[str]) -> tuple[Any, Any, Any]:
    """``(X, y, w)`` as Dask arrays with known chunk sizes, the form ``xgboost.dask`` and ``lightgbm.dask`` take
    (no column names: the ensemble's learners are fitted on plain matrices)."""
    X = rows[names].to_dask_array(lengths=True)
    y = rows[TARGET].to_dask_array(lengths=True)
    w = rows[WEIGHT].to_dask_array(lengths=True)
    return X, y, w


def request_rows(part: pd.DataFrame, last_only: bool = False) -> pd.DataFrame:
    """``predict_batch`` requests for the rows of a ``by_channel`` partition (each row, or each video's last one
    with ``last_only``): what was known at publishing, the age observed, and the video's home channel's video count
    and average views as of the publish time (``ChannelHistory``: its videos observed before)."""
    part, events = channel_part(part)
    if part.empty:
        return pd.DataFrame({"video_id": pd.Series(dtype=object), "title": pd.Series(dtype=object),
                             "tags": pd.Series(dtype=object), "categories": pd.Series(dtype=object),
                             **{col: pd.Series(dtype=float) for col in ("duration_seconds", "channel_avg_views",
                                                                         "channel_video_count")},
                             "published_at": part["published_at"], "days_since_publish": pd.Series(dtype=float)})
    history = ChannelHistory(events)
    home = part.groupby("video_id", sort=False)["channel_id"].transform("first")
    part = part.assign(channel_id=home)
    if last_only:
        part = part.groupby("video_id", sort=False).tail(1).reset_index(drop=True)
    stats = history.stats(part["channel_id"], part["published_at"])
    age = (part["observed_at"] - part["published_at"]).dt.total_seconds().to_numpy(float) / 86400.0
    return pd.DataFrame({
        "video_id": part["video_id"].to_numpy(), "title": part["title"].to_numpy(),
        "tags": [",".join(tags) for tags in part["tags"]], "categories": [",".join(c) for c in part["categories"]],
        "duration_seconds": part["duration_seconds"].to_numpy(float),
        "channel_avg_views": stats["channel_avg_views"].fillna(0.0).to_numpy(),
        "channel_video_count": stats["channel_video_count"].to_numpy(),
        "published_at": part["published_at"].to_numpy(), "days_since_publish": np.maximum(age, 0.01),
    })
