"""Forecasting: a published video's views from its observed days.

Owns the observation series cut into forecasting tasks (``series``), the lifecycle curve conditioned on
observations (``curve_forecaster``), the Szabo-Huberman baseline (``szabo_huberman``), their conformal intervals
(``intervals``), the choice of the curve's tail shape per number of observations (``shape_select``), the level
prior from channel statistics (``level_prior``), what the forecaster reads about its videos (``forecast_inputs``),
the ``ObservedForecaster`` a bundle carries (``forecaster``) and a channel's typical views by age (``typical``). It
may import the base modules, ``videoperf.data``, ``videoperf.lifecycle``, ``videoperf.features`` and
``videoperf.models``.
"""
