"""The stacking ensemble of gradient-boosted trees (``stacking``) as a model family (``family``).
"""
