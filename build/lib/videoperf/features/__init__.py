"""Features: what is known about a video before it is published, fitted on training rows only.

Owns the channel history strictly before each publish time (``channel_history``), the content encoders
(``content``), smoothed target encodings (``target_encoding``) and the ``FeatureBuilder`` that joins them
(``builder``). It may import the base modules, ``videoperf.data`` and ``videoperf.lifecycle``.
"""
