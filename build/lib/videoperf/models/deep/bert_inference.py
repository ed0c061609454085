"""The frozen text encoder's forward pass for inference, without the Hugging Face module machinery.

For one short video text, most of a BERT forward in ``transformers`` is Python: ~135 module calls, keyword
plumbing, a checkpointing wrapper and a signature inspection per layer, the mask builder, the pooler (which the
mean pooling never reads). ``lean_forward`` runs the same operations on the same weights (embeddings, then per layer
self-attention through ``scaled_dot_product_attention``, the output projection and LayerNorm, the GELU feed-forward
and LayerNorm) and returns the last hidden states. It is used only where it applies: a plain BERT encoder
(absolute positions, no decoder or cross-attention, ``gelu``) under no gradient; anything else goes through the
library (``supports``). ``tests/test_bert_inference.py`` checks it against the library on padded batches.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


def supports(model: nn.Module) -> bool:
    """Whether ``lean_forward`` computes what ``model`` does (a BERT encoder in the plain configuration)."""
    config = getattr(model, "config", None)
    return (type(model).__name__ == "BertModel" and config is not None
            and getattr(config, "model_type", "") == "bert" and not config.is_decoder
            and not getattr(config, "add_cross_attention", False)
            and getattr(config, "position_embedding_type", "absolute") == "absolute"
            and config.hidden_act == "gelu" and getattr(config, "chunk_size_feed_forward", 0) == 0
            and hasattr(model, "embeddings") and hasattr(model, "encoder"))


def _linear(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    # ``module.forward``: a TextEncoder may have replaced it (its bfloat16 weight cache); skip only ``__call__``.
    return module.forward(x)


def _layer_norm(module: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, module.normalized_shape, module.weight, module.bias, module.eps)


def lean_forward(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Last hidden states of BERT ``model`` (``supports(model)``), shape (batch, length, hidden); eval mode."""
    embeddings = model.embeddings
    length = input_ids.shape[1]
    positions = embeddings.position_ids[:, :length]
    hidden = embeddings.word_embeddings.weight[input_ids]
    hidden = hidden + embeddings.token_type_embeddings.weight[0]
    hidden = hidden + embeddings.position_embeddings.weight[positions]
    hidden = _layer_norm(embeddings.LayerNorm, hidden)
    # Every token attends to every non-padding token; without padding no mask at all (as the library does).
    mask = None if bool(attention_mask.all()) else attention_mask[:, None, None, :].bool()
    batch = hidden.shape[0]
    for layer in model.encoder.layer:
        attention = layer.attention.self
        heads, size = attention.num_attention_heads, attention.attention_head_size
        shape = (batch, length, heads, size)
        query = _linear(attention.query, hidden).view(shape).transpose(1, 2)
        key = _linear(attention.key, hidden).view(shape).transpose(1, 2)
        value = _linear(attention.value, hidden).view(shape).transpose(1, 2)
        context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=0.0,
                                                 scale=attention.scaling, is_causal=False)
        context = context.transpose(1, 2).reshape(batch, length, -1).contiguous()
        output = layer.attention.output
        attended = _layer_norm(output.LayerNorm, _linear(output.dense, context) + hidden)
        inner = F.gelu(_linear(layer.intermediate.dense, attended))
        hidden = _layer_norm(layer.output.LayerNorm, _linear(layer.output.dense, inner) + attended)
    return hidden
