"""The transformer multi-task network (``network``), its training loop (``training``), its text
encoders and their cached embeddings (``text_encoders``, ``bert_inference``), as a model family (``family``).
"""
