"""Forecasting: a published video's views from its observed days.

Owns the lifecycle curve conditioned on observations (``observed``), their conformal intervals
(``intervals``), the choice of the curve's tail shape per number of observations (``shape_select``) and the
``ObservedForecaster`` a bundle carries (``forecaster``). It may import the base modules, ``videoperf.data``,
``videoperf.lifecycle``, ``videoperf.features`` and ``videoperf.models``.
"""
