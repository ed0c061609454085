"""Data: every supported source read into the canonical snapshot table, and which rows a model sees.

Owns loading (``sources``: parquet / CSV / Kaggle / YouTube Data API exports, ``api_export``; a channel's daily
Analytics / Reporting API reports, ``analytics_reports``), the built-in
simulator with its ground truth (``synthetic``, its vocabularies and API fields ``synthetic_fields``,
``population``), time-based splits by publish date with whole videos per fold (``splits``) and the training-row
budget (``sampling``). It may import only the base modules (``videoperf.config``, ``videoperf.plain``,
``videoperf.progress``); every other layer may import it.
"""
