"""Rows padded after a shared prefix: where the tokens, the mask and the positions land."""

from types import SimpleNamespace

import numpy as np

from memorag_integrations.llm.rows import kv_shape, left_padded


def test_rows_end_together_and_keep_their_positions_after_a_prefix():
    padded = left_padded([[5, 6, 7], [8]], 0, prefix=2)
    assert padded.ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert padded.mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 0, 0, 1]]
    # The short row's token sits right after the prefix, as it would alone.
    assert padded.positions.tolist() == [[2, 3, 4], [1, 1, 2]]
    assert padded.positions.flags.c_contiguous and padded.ids.dtype == np.int64


def test_without_a_prefix_padding_positions_are_not_negative():
    padded = left_padded([[1, 2], [3]], 9)
    assert padded.ids.tolist() == [[1, 2], [9, 3]]
    assert padded.mask.tolist() == [[1, 1], [0, 1]]
    assert padded.positions.tolist() == [[0, 1], [0, 0]]


def test_kv_shape_reads_grouped_heads_and_a_text_config():
    plain = SimpleNamespace(num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2, hidden_size=64)
    assert kv_shape(plain) == (4, 2, 8)
    wrapped = SimpleNamespace(get_text_config=lambda: SimpleNamespace(
        num_hidden_layers=3, num_attention_heads=4, hidden_size=32, head_dim=16))
    assert kv_shape(wrapped) == (3, 4, 16)
