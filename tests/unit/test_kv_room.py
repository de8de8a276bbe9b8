"""The in-place KV cache: the same keys and values as transformers' own cache, without a copy per token."""

import torch
from transformers import AutoConfig, LlamaConfig

from memorag_integrations.llm.kv_room import RoomyLayer, cache_with_room


def states(batch: int, tokens: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 2, tokens, 4, generator=g), torch.randn(batch, 2, tokens, 4, generator=g)


def config(**kwargs) -> LlamaConfig:
    return LlamaConfig(num_hidden_layers=2, hidden_size=16, num_attention_heads=2, num_key_value_heads=2,
                       intermediate_size=32, vocab_size=10, **kwargs)


def test_a_layer_holds_what_concatenation_would_and_writes_in_place():
    layer = RoomyLayer(room=8)
    keys, values = states(1, 5, 0)
    layer.update(keys, values)
    buffer = layer.keys.data_ptr()
    expected_k, expected_v = keys, values
    for step in range(8):  # the prompt, then one token at a time within the room
        k, v = states(1, 1, step + 1)
        out_k, out_v = layer.update(k, v)
        expected_k, expected_v = torch.cat([expected_k, k], dim=2), torch.cat([expected_v, v], dim=2)
        assert torch.equal(out_k, expected_k) and torch.equal(out_v, expected_v)
        assert out_k.data_ptr() == buffer  # no copy
    assert layer.get_seq_length() == 13


def test_a_layer_that_outruns_its_room_grows_and_keeps_its_tokens():
    layer = RoomyLayer(room=1)
    keys, values = states(1, 3, 0)
    layer.update(keys, values)
    expected = keys
    for step in range(6):
        k, v = states(1, 2, step + 1)
        out_k, _ = layer.update(k, v)
        expected = torch.cat([expected, k], dim=2)
        assert torch.equal(out_k, expected)
    assert layer.room > 1


def test_a_shared_prefix_is_read_not_written_and_each_row_extends_its_own_copy():
    model_config = config()
    prefix = [states(1, 6, i) for i in range(2)]
    before = [(k.clone(), v.clone()) for k, v in prefix]
    cache = cache_with_room(model_config, room=4, prefix=prefix, batch=3)
    assert cache is not None and cache.get_seq_length() == 6
    new_k, new_v = states(3, 2, 9)
    out_k, out_v = cache.update(new_k, new_v, 0)
    for row in range(3):
        assert torch.equal(out_k[row, :, :6], prefix[0][0][0]) and torch.equal(out_k[row, :, 6:], new_k[row])
    for (k, v), (k0, v0) in zip(prefix, before):
        assert torch.equal(k, k0) and torch.equal(v, v0)


def test_a_layer_whose_keys_were_replaced_copies_them_into_a_new_buffer():
    layer = RoomyLayer(room=8)
    layer.update(*states(2, 3, 0))
    layer.batch_select_indices(torch.tensor([1]))  # what a beam or a finished row does: keys no longer a view
    kept = layer.keys.clone()
    k, v = states(1, 1, 5)
    out_k, _ = layer.update(k, v)
    assert torch.equal(out_k, torch.cat([kept, k], dim=2))


def test_models_with_other_layers_keep_transformers_cache():
    sliding = AutoConfig.for_model("mistral", num_hidden_layers=2, hidden_size=16, num_attention_heads=2,
                                   num_key_value_heads=2, intermediate_size=32, vocab_size=10, sliding_window=4)
    assert cache_with_room(sliding, room=4) is None
    assert cache_with_room(config(), room=4) is not None
