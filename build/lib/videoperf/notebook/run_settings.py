"""The notebook's parameters, checked and turned into the values the pipeline needs.

papermill only warns about a parameter the notebook does not declare and then runs on, so a typo such as
``-p SPEEED full`` would silently train with the default speed. The cell after ``parameters`` passes every
upper-case name of the notebook's namespace here, and an unknown one stops the run with its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from videoperf.config import SPEEDS, Config, load_config, resolve_path
from videoperf.models.registry import check_models

KNOWN_PARAMETERS = ("SPEED", "DATA_SOURCE", "N_SYNTHETIC_VIDEOS", "MODELS", "ARTIFACTS_DIR", "SEED", "SPLIT_DATE",
                    "BACKTEST_ORIGINS", "VERBOSE")


@dataclass(frozen=True)
class RunSettings:
    speed: str
    source: str
    n_synthetic_videos: int
    models: tuple[str, ...]
    artifacts_dir: Path
    seed: int
    split_date: pd.Timestamp | None
    config: Config
    verbose: bool = False
    backtest_origins: tuple[str, ...] = ()


def settings_from_parameters(namespace: dict[str, object]) -> RunSettings:
    """Validate the notebook's upper-case names (unknown ones are an error) and derive the run settings."""
    given = {name: value for name, value in namespace.items() if name.isupper() and not name.startswith("_")}
    unknown = sorted(set(given) - set(KNOWN_PARAMETERS))
    if unknown:
        raise ValueError(f"unknown notebook parameter(s) {unknown}; the notebook takes {list(KNOWN_PARAMETERS)}")
    missing = [name for name in KNOWN_PARAMETERS if name not in given]
    if missing:
        raise ValueError(f"missing notebook parameter(s) {missing}")
    speed = str(given["SPEED"])
    if speed not in SPEEDS:
        raise ValueError(f"SPEED: {speed!r} is not one of {list(SPEEDS)}")
    source = str(given["DATA_SOURCE"])
    if source != "synthetic" and not resolve_path(source).exists():
        raise ValueError(f"DATA_SOURCE: {source!r} is neither 'synthetic' nor an existing path")
    n_videos = given["N_SYNTHETIC_VIDEOS"]
    if not isinstance(n_videos, int) or isinstance(n_videos, bool) or n_videos < 50:
        raise ValueError(f"N_SYNTHETIC_VIDEOS: must be an integer of at least 50, got {n_videos!r}")
    seed = given["SEED"]
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"SEED: must be an integer, got {seed!r}")
    verbose = given["VERBOSE"]
    if not isinstance(verbose, bool):
        raise ValueError(f"VERBOSE: must be True or False, got {verbose!r}")
    split_text = str(given["SPLIT_DATE"] or "").strip()
    try:
        split_date = pd.Timestamp(split_text, tz="UTC") if split_text else None
    except ValueError as error:
        raise ValueError(f"SPLIT_DATE: {split_text!r} is not a YYYY-MM-DD date") from error
    origins = tuple(item.strip() for item in str(given["BACKTEST_ORIGINS"] or "").split(",") if item.strip())
    for origin in origins:
        try:
            pd.Timestamp(origin)
        except ValueError as error:
            raise ValueError(f"BACKTEST_ORIGINS: {origin!r} is not a YYYY-MM-DD date") from error
    return RunSettings(
        speed=speed,
        source=source if source == "synthetic" else str(resolve_path(source)),
        n_synthetic_videos=n_videos,
        models=check_models(str(given["MODELS"])),
        artifacts_dir=resolve_path(str(given["ARTIFACTS_DIR"])),
        seed=seed,
        split_date=split_date,
        config=load_config(),
        verbose=verbose,
        backtest_origins=origins,
    )
