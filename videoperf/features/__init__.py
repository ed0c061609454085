"""Features: what is known about a video before it is published, fitted on training rows only.

Owns the channel history strictly before each publish time (``channel_history``), the content encoder
(``content``, with its hand-crafted columns in ``content_columns`` and token lists in ``content_tokens``), smoothed
target encodings (``target_encoding``) and the ``FeatureBuilder`` that joins them (``builder``). It may import
the base modules, ``videoperf.data`` and ``videoperf.lifecycle``.
"""
