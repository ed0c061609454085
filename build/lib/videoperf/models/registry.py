"""The registry of model families: the one table that names each family (``videoperf.models.family.ModelFamily``).

Training (``pipeline``), the bundle (saving, loading, version checks), input validation (``model_type``) and
the benchmarks all read it. Adding a family means writing its module and listing it here.
"""

from __future__ import annotations

from collections.abc import Sequence

from videoperf.models.deep.family import FAMILY as _DEEP
from videoperf.models.ensemble.family import FAMILY as _ENSEMBLE
from videoperf.models.family import ModelFamily
from videoperf.plain import split_list

FAMILIES: dict[str, ModelFamily] = {family.name: family for family in (_ENSEMBLE, _DEEP)}
MODEL_TYPES: tuple[str, ...] = tuple(FAMILIES)


def check_models(models: Sequence[str] | str) -> tuple[str, ...]:
    """Validated, de-duplicated model family names (``"a,b"`` or a sequence); ``ValueError`` naming ``models``."""
    items = split_list(models) if isinstance(models, str) else [str(m).strip() for m in models]
    items = [m for m in items if m]
    unknown = [m for m in items if m not in FAMILIES]
    if unknown or not items:
        raise ValueError(f"models: {unknown or 'nothing'} given; choose from {list(FAMILIES)}")
    return tuple(dict.fromkeys(items))

