"""Evaluation: fitted models scored on later videos, as a user would meet them.

Owns the holdout evaluation at each video's last age (``holdout``), the rolling-origin backtest (``backtest``)
and the live level learnt from chart runs seen to end since the training cut (``live_level``). It may import
every layer up to ``videoperf.training``.
"""
