"""A BERT sentence encoder in plain PyTorch: WordPiece ids in, mean-pooled unit vectors out.

The forward pass of a BERT encoder (Devlin et al. 2019) read from a ``model.safetensors`` file and
its ``config.json``, with the ``tokenizers`` package for the WordPiece ids: enough to run a
sentence-transformers model such as all-MiniLM-L6-v2 (Reimers & Gurevych 2019; Wang et al. 2020)
on the CPU torch already installed, without ``transformers`` or ``sentence-transformers``. The
sentence vector is the mean of the last layer's token vectors over the real (not padded) tokens,
scaled to unit length, as the model card prescribes.

Examples
--------
>>> from transferkit.text.bert import load_bert_encoder
>>> encode = load_bert_encoder("path/to/all-MiniLM-L6-v2")  # doctest: +SKIP
>>> encode(["A sentence.", "Another one."]).shape  # doctest: +SKIP
(2, 384)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.datasets.wordvectors import import_optional
from transferkit.exceptions import DataFormatError


def bert_forward(
    weights: dict[str, Any],
    config: dict[str, Any],
    ids: Any,
    mask: Any,
) -> Any:
    """Last-layer token vectors of a BERT encoder (post-layer-norm, GELU, absolute positions).

    Parameters
    ----------
    weights : dict of str to torch.Tensor
        The checkpoint's tensors, named as in Hugging Face's ``BertModel``
        (``embeddings.word_embeddings.weight``, ``encoder.layer.0.attention.self.query.weight``,
        ...).
    config : dict
        ``hidden_size``, ``num_attention_heads``, ``num_hidden_layers`` and ``layer_norm_eps``.
    ids, mask : torch.Tensor of shape (batch, length), int64
        Token ids and the attention mask (1 for a real token, 0 for padding).

    Returns
    -------
    torch.Tensor of shape (batch, length, hidden_size)
    """
    import torch
    from torch.nn import functional

    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    head_dim = hidden // heads

    def linear(x: Any, name: str) -> Any:
        return functional.linear(x, weights[f"{name}.weight"], weights[f"{name}.bias"])

    def norm(x: Any, name: str) -> Any:
        return functional.layer_norm(
            x, (hidden,), weights[f"{name}.weight"], weights[f"{name}.bias"], eps
        )

    batch, length = ids.shape
    positions = torch.arange(length)
    x = (
        weights["embeddings.word_embeddings.weight"][ids]
        + weights["embeddings.position_embeddings.weight"][positions]
        + weights["embeddings.token_type_embeddings.weight"][0]
    )
    x = norm(x, "embeddings.LayerNorm")
    # Padded keys get -inf before the softmax, so they take no attention.
    bias = torch.zeros(batch, 1, 1, length, dtype=x.dtype)
    bias.masked_fill_(mask[:, None, None, :] == 0, float("-inf"))

    def split(t: Any) -> Any:
        return t.view(batch, length, heads, head_dim).transpose(1, 2)

    for layer in range(int(config["num_hidden_layers"])):
        prefix = f"encoder.layer.{layer}"
        q = split(linear(x, f"{prefix}.attention.self.query"))
        k = split(linear(x, f"{prefix}.attention.self.key"))
        v = split(linear(x, f"{prefix}.attention.self.value"))
        scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim) + bias
        context = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, length, hidden)
        x = norm(
            x + linear(context, f"{prefix}.attention.output.dense"),
            f"{prefix}.attention.output.LayerNorm",
        )
        inner = functional.gelu(linear(x, f"{prefix}.intermediate.dense"))
        x = norm(x + linear(inner, f"{prefix}.output.dense"), f"{prefix}.output.LayerNorm")
    return x


def mean_pool(tokens: Any, mask: Any) -> Any:
    """Mean of the token vectors over the real tokens, then scaled to unit length."""
    from torch.nn import functional

    weight = mask.unsqueeze(-1).to(tokens.dtype)
    summed = (tokens * weight).sum(dim=1)
    mean = summed / weight.sum(dim=1).clamp(min=1e-9)
    return functional.normalize(mean, p=2, dim=1)


def load_bert_encoder(
    folder: str | Path, max_length: int = 256, threads: int = 1, chunk: int = 32
) -> Callable[[list[str]], np.ndarray]:
    """A function mapping texts to mean-pooled, unit-length BERT sentence vectors.

    Parameters
    ----------
    folder : str or Path
        A folder with ``config.json``, ``model.safetensors`` and ``tokenizer.json`` (the layout
        of a sentence-transformers model).
    max_length : int, default 256
        Longer texts are cut to this many WordPiece tokens (all-MiniLM-L6-v2 was trained on 256).
    threads : int, default 1
        Torch threads during a forward pass (set for the call only, then restored).
    chunk : int, default 32
        Texts per forward pass: a call sorts its texts by length and runs them in chunks of
        this size, each padded only to its longest text.

    Returns
    -------
    callable
        ``encode(texts) -> float32 array of shape (len(texts), hidden_size)``.
    """
    torch = import_optional("torch", "A BERT text encoder")
    tokenizers = import_optional("tokenizers", "A BERT text encoder's WordPiece tokenizer")
    safetensors_torch = import_optional("safetensors.torch", "Reading BERT weights")
    folder = Path(folder)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        weights = safetensors_torch.load_file(str(folder / "model.safetensors"))
        tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    # tokenizers raises a bare Exception on a bad file, safetensors its own error class.
    except Exception as error:
        raise DataFormatError(
            f"Could not read the BERT model in {folder}: {error}. Reinstall the package that "
            "ships it."
        ) from error
    pad_id = int(config.get("pad_token_id", 0))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()
    weights = {name: tensor.float() for name, tensor in weights.items()}

    def forward(encoded: list[Any]) -> Any:
        length = max(len(e.ids) for e in encoded)
        ids = torch.full((len(encoded), length), pad_id, dtype=torch.int64)
        mask = torch.zeros((len(encoded), length), dtype=torch.int64)
        for row, e in enumerate(encoded):
            ids[row, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.int64)
            mask[row, : len(e.ids)] = 1
        return mean_pool(bert_forward(weights, config, ids, mask), mask)

    def encode(texts: list[str]) -> np.ndarray:
        encoded = tokenizer.encode_batch(texts)
        # Texts of similar length go through together, so little of each pass is padding.
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
        out = np.empty((len(texts), int(config["hidden_size"])), dtype=np.float32)
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.inference_mode():
                for start in range(0, len(order), chunk):
                    rows = order[start : start + chunk]
                    out[rows] = forward([encoded[i] for i in rows]).numpy()
        finally:
            torch.set_num_threads(previous)
        return out

    return encode
