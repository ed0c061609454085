"""Distributed: training, evaluation and batch scoring on a Dask cluster.

Owns where the work runs (``cluster``), data and features computed partition by partition (``data``), fitting
and evaluating from partitions (``training``) and scoring folders of partitions (``scoring``). It may import
every layer up to ``videoperf.serving``; only the ``--cluster`` paths import it.
"""
