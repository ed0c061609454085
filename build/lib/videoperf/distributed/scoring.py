"""Batch scoring on a Dask cluster: ``videoperf batch SOURCE --cluster local|tcp://HOST:PORT --output FOLDER``.

Each partition of ``SOURCE`` (a CSV / parquet file or a folder of them, local or an fsspec URL) is scored by
``videoperf.serving.predictions.predict_rows`` on a worker, which loads the bundle once (``bundle.load_bundle``: the
folder must be readable by every worker), and written as one parquet file of ``FOLDER``: the same predictions
``predict_batch`` gives on one machine, partition by partition. Imports no training module.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from videoperf.distributed.cluster import open_client
from videoperf.serving import predictions

SUFFIXES = (".csv", ".parquet", ".pq")


def request_files(source: str | os.PathLike) -> list[str]:
    """The CSV / parquet files of ``source`` (one file or a folder searched recursively; local or fsspec), sorted."""
    text = str(source)
    if "://" in text:
        import fsspec

        fs, root = fsspec.core.url_to_fs(text)
        protocol = text.split("://", 1)[0]
        found = [root] if fs.isfile(root) else sorted(fs.find(root))
        files = [f"{protocol}://{name}" for name in found if Path(name).suffix.lower() in SUFFIXES]
    else:
        path = Path(text)
        if not path.exists():
            raise ValueError(f"rows: {path} does not exist")
        files = [str(path)] if path.is_file() else sorted(str(p) for p in path.rglob("*")
                                                          if p.suffix.lower() in SUFFIXES)
    if not files:
        raise ValueError(f"rows: {text} holds no CSV or parquet file")
    return files


def read_requests(path: str) -> pd.DataFrame:
    """One request partition as ``predictions.read_rows`` reads a file (fsspec URLs too)."""
    if "://" not in path:
        return predictions.read_rows(path)
    import fsspec

    with fsspec.open(path, "rb") as handle:
        return pd.read_parquet(handle) if path.lower().endswith((".parquet", ".pq")) else pd.read_csv(handle)


def score_file(path: str, output: str, model_type: str, artifacts_dir: str | None) -> int:
    """Score one request file and write its predictions as ``output`` (parquet, unless there are none); the number of
    rows."""
    with warnings.catch_warnings():
        # scikit-learn notes that a forest inside a (daemonic) Dask worker predicts on one thread: expected here.
        warnings.filterwarnings("ignore", message="Inside a Dask worker")
        scored = predictions.predict_rows(read_requests(path), model_type, artifacts_dir)
    if scored.empty:
        return 0  # no file: an empty table has no column types to agree with the other partitions
    if "://" in output:
        import fsspec

        with fsspec.open(output, "wb") as handle:
            scored.to_parquet(handle, index=False)
    else:
        scored.to_parquet(output, index=False)
    return len(scored)


def score_partitions(source: str | os.PathLike, output: str | os.PathLike, model_type: str = "ensemble", *,
                     cluster: Any = "local", artifacts_dir: str | os.PathLike | None = None,
                     **cluster_options: Any) -> dict[str, Any]:
    """Predictions for every request partition of ``source``, one parquet file each in the folder ``output``.

    A local ``output`` appears whole or not at all (written beside it, then renamed). Returns ``{"rows",
    "partitions", "written"}``.
    """
    from videoperf.serving.rules import check_model_type, checked

    model_type = checked(check_model_type, model_type, "model_type")
    files = request_files(source)
    folder = artifacts_dir if artifacts_dir is None or "://" in str(artifacts_dir) else str(
        Path(artifacts_dir).resolve())
    remote = "://" in str(output)
    target = str(output)
    staging = target if remote else f"{target}.partial-{os.getpid()}"
    if not remote:
        if Path(target).exists() and any(Path(target).iterdir()):
            raise ValueError(f"output: {target} exists and is not empty")
        Path(staging).mkdir(parents=True, exist_ok=True)
    names = [f"{staging}/part-{k:05d}.parquet" for k in range(len(files))]
    try:
        with open_client(cluster, **cluster_options) as client:
            counts = client.gather(client.map(score_file, files, names, model_type=model_type,
                                              artifacts_dir=folder, pure=False))
    except BaseException:
        if not remote:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    if not remote:
        if Path(target).exists():
            Path(target).rmdir()
        os.replace(staging, target)
    return {"rows": int(sum(counts)), "partitions": len(files), "written": target}
