"""The transformer multi-task network (``network``); its training (``training``) on rows with as-of targets
(``training_data``), with a multi-task loss (``losses``) and an epoch loop (``training_loop``); its text encoders
and their cached embeddings (``text_encoders``, ``bert_inference``); as a model family (``family``).
"""
