"""Lifecycle: what a video's life is and how a prediction of it is scored.

Owns the targets read off each video's daily series (``targets``: growth / peak / decay, time to peak, decay
rate), the lifecycle curve from which views at any age and the stage are read (``curve``), and the metrics with
their naive baselines (``metrics``). It may import the base modules and ``videoperf.data``.
"""
