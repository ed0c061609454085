"""Training: one run's settings resolved once, then the feature pipeline and every model family fitted.

Owns ``resolve`` (``settings``) and ``train_models`` with its result ``TrainedModels`` (``pipeline``). It may
import every layer below it: the base modules, ``videoperf.data``, ``lifecycle``, ``features``, ``models`` and
``forecasting``.
"""
