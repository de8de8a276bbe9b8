"""A small stand-in for MemoRAG's beacon memory models, loaded as remote code in the tests.

It is SmolLM2 (a Llama) with the memory interface of memorag-qwen2-7b-inst and kin:
``model.memory.reset()`` empties the memory, ``model(input_ids)`` reads text into it,
``model.memory.export()`` returns its state and ``model.memory.reset(**state)`` restores it, and
``model.generate`` answers from it. Reading compresses the KV cache by mean-pooling windows of
``config.beacon_ratio[0]`` positions (a crude beacon). Like the real models, generating extends
the memory with what was asked and answered, so a caller must restore it before every query.
"""

import torch
from transformers import DynamicCache, LlamaForCausalLM


def _pool(x: torch.Tensor, ratio: int) -> torch.Tensor:
    """Mean of each full window of ``ratio`` positions along dim 2; a partial tail stays raw."""
    b, h, n, d = x.shape
    full = n - n % ratio
    pooled = x[:, :, :full].reshape(b, h, full // ratio, ratio, d).mean(dim=3)
    return torch.cat([pooled, x[:, :, full:]], dim=2)


class ToyMemory:
    def __init__(self, n_layers: int) -> None:
        self.n_layers = n_layers
        self.reset()

    def reset(self, **state) -> None:
        self.activations = state.get("activations", [(None, None)] * self.n_layers)
        self.all_input_ids = state.get("all_input_ids")
        self.beacon_sizes = state.get("beacon_sizes", [])
        self.step_idx = state.get("step_idx", 0)

    def export(self) -> dict:
        return {"activations": self.activations, "all_input_ids": self.all_input_ids,
                "beacon_sizes": self.beacon_sizes, "step_idx": self.step_idx, "ratio_mix": None}

    @property
    def size(self) -> int:
        keys = self.activations[0][0]
        return 0 if keys is None else int(keys.shape[2])

    def cache(self, config) -> DynamicCache | None:
        if self.size == 0:
            return None
        return DynamicCache(ddp_cache_data=[(k, v) for k, v in self.activations], config=config)

    def absorb(self, cache: DynamicCache, start: int, ids: torch.Tensor, ratio: int) -> None:
        """Fold the cache positions from ``start`` on into the memory (the list is updated in place)."""
        for i, layer in enumerate(cache.layers):
            k, v = _pool(layer.keys[:, :, start:], ratio), _pool(layer.values[:, :, start:], ratio)
            old_k, old_v = self.activations[i]
            self.activations[i] = (k, v) if old_k is None else (torch.cat([old_k, k], 2), torch.cat([old_v, v], 2))
        ids = ids.cpu()
        self.all_input_ids = ids if self.all_input_ids is None else torch.cat([self.all_input_ids, ids], 1)
        self.beacon_sizes.append(int(self.activations[0][0].shape[2]))
        self.step_idx += 1


class ToyBeaconForCausalLM(LlamaForCausalLM):
    def __init__(self, config) -> None:
        super().__init__(config)
        self.memory = ToyMemory(config.num_hidden_layers)

    @property
    def ratio(self) -> int:
        return int(getattr(self.config, "beacon_ratio", [1])[0])

    def forward(self, input_ids=None, attention_mask=None, past_key_values=None, **kwargs):
        # A decoding step inside generate; newer transformers releases name the cache ``cache``.
        if past_key_values is not None or kwargs.get("cache") is not None:
            return super().forward(input_ids=input_ids, attention_mask=attention_mask,
                                   past_key_values=past_key_values, **kwargs)
        # Reading: continue from the memory, then fold what was read into it.
        m, n = self.memory.size, input_ids.shape[1]
        cache = self.memory.cache(self.config) or DynamicCache(config=self.config)
        out = super().forward(input_ids=input_ids, attention_mask=torch.ones(1, m + n, dtype=torch.long,
                                                                             device=input_ids.device),
                              past_key_values=cache, use_cache=True, logits_to_keep=1,
                              position_ids=torch.arange(m, m + n, device=input_ids.device)[None])
        self.memory.absorb(cache, m, input_ids, self.ratio)
        return out

    def generate(self, input_ids=None, attention_mask=None, **kwargs):
        m = self.memory.size
        cache = self.memory.cache(self.config) or DynamicCache(config=self.config)
        filler = torch.full((1, m), self.config.pad_token_id or 0, dtype=input_ids.dtype, device=input_ids.device)
        ids = torch.cat([filler, input_ids], dim=1)
        kwargs.pop("return_dict_in_generate", None)
        result = super().generate(input_ids=ids, attention_mask=torch.ones_like(ids), past_key_values=cache,
                                  return_dict_in_generate=True, **kwargs)
        # The cache generate used, as it returns it: some transformers releases replace an empty
        # cache passed in instead of filling it.
        out = result.sequences
        self.memory.absorb(result.past_key_values, m, out[:, m:], self.ratio)  # the query stays in memory
        return out[:, m:]
