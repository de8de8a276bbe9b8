"""How a KV cache is stored on disk: float16, bfloat16 and 8 bits with a scale per vector."""

import pytest
import torch

from memorag_integrations import kvcodec


def cache() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {"keys.0": torch.randn(1, 3, 50, 64) * 4, "values.0": torch.randn(1, 3, 50, 64),
            "input_ids": torch.arange(50, dtype=torch.long).unsqueeze(0)}


def test_int8_keeps_every_value_within_about_half_a_step_of_its_vector():
    tensors = cache()
    saved = kvcodec.encode(tensors, "int8")
    assert saved["keys.0"].dtype == torch.int8 and saved["keys.0.int8_scale"].shape == (1, 3, 50, 1)
    assert torch.equal(saved["input_ids"], tensors["input_ids"])  # token ids are not floats: untouched
    back = kvcodec.decode(saved)
    assert set(back) == set(tensors) and back["keys.0"].dtype == torch.float32
    for name in ("keys.0", "values.0"):
        step = tensors[name].abs().amax(dim=-1, keepdim=True) / 127
        # Half a step, and what the float16 scale's rounding adds at the largest value (127 x 2^-11).
        assert bool(((back[name] - tensors[name]).abs() <= step * (0.5 + 127 * 2 ** -11)).all())
    bytes_ = lambda ts: sum(t.numel() * t.element_size() for n, t in ts.items() if n != "input_ids")  # noqa: E731
    assert 0.25 < bytes_(saved) / bytes_(tensors) < 0.27


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_is_a_cast(dtype):
    saved = kvcodec.encode(cache(), dtype)
    assert saved["values.0"].dtype == getattr(torch, dtype) and saved["input_ids"].dtype == torch.long
    assert kvcodec.decode(saved)["values.0"].dtype == getattr(torch, dtype)  # cast to the model's type on load


def test_none_keeps_the_tensors_and_a_vector_of_zeros_survives():
    tensors = cache()
    assert all(torch.equal(a, b) for a, b in zip(kvcodec.encode(tensors, None).values(), tensors.values()))
    zeros = {"keys.0": torch.zeros(1, 1, 2, 64)}
    assert torch.equal(kvcodec.decode(kvcodec.encode(zeros, "int8"))["keys.0"], zeros["keys.0"])


def test_a_scale_beside_a_tensor_that_is_not_8_bit_is_refused():
    saved = kvcodec.encode(cache(), "int8")
    saved["keys.0"] = saved["keys.0"].float()
    with pytest.raises(ValueError, match="8-bit scale"):
        kvcodec.decode(saved)
