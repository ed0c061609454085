"""Notebook: what ``Video_Performance_Prediction.ipynb`` calls and shows.

Owns its parameters turned into settings (``run_settings``), the small tables and steps it shows (``report``,
``tables``) and its figures (``plots``). It may import every other layer; nothing in the package imports it.
"""
