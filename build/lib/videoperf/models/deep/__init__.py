"""The transformer multi-task network (``network``); its training (``training``) on rows with as-of targets
(``training_data``), with a multi-task loss (``losses``) and an epoch loop (``training_loop``); the video text
(``video_text``), its encoders (``text_encoders``, ``bert_inference``) and their cached embeddings
(``embedding_cache``); as a model family (``family``).
"""
