"""Token rows read together after a shared prefix, for torch and the ONNX scorer alike.

Rows of different lengths are left-padded where they meet the prefix, so that every row ends at the
same column (a continuation scored at the end sits in the same positions in each). The padding is
masked out, and positions follow the mask, so each row's tokens sit where they would alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np


class PaddedRows(NamedTuple):
    ids: np.ndarray  # (rows, width): the rows' own tokens, left-padded
    mask: np.ndarray  # (rows, prefix + width): 1 over the prefix and each row's tokens
    positions: np.ndarray  # (rows, width): each token's position, counting the prefix


def left_padded(rows: Sequence[Sequence[int]], pad: int, *, prefix: int = 0) -> PaddedRows:
    """``rows`` (token ids) after a prefix of ``prefix`` tokens already read, padded with ``pad``."""
    width = max(map(len, rows))
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros((len(rows), prefix + width), dtype=np.int64)
    mask[:, :prefix] = 1
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = row
        mask[i, prefix + width - len(row):] = 1
    # Padding before any real token would count from -1: any position does, since it is masked out.
    positions = np.clip(mask.cumsum(-1) - 1, 0, None)[:, prefix:]
    return PaddedRows(ids, mask, np.ascontiguousarray(positions))


def kv_shape(config: Any) -> tuple[int, int, int]:
    """``(layers, kv_heads, head_dim)`` of the KV cache of a model with this transformers config."""
    config = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return int(config.num_hidden_layers), int(heads), int(head_dim)
