"""How a memory's float tensors (a KV cache) are stored on disk: as they are, in half precision, or
in 8 bits with a scale per vector (a quarter of float32's bytes). Decoding gives floats back; the
memory casts them to its model's type on load."""

from __future__ import annotations

from typing import Any

#: Types the memory's float tensors may be saved in (``save(..., kv_dtype=...)``).
KV_DTYPES = ("float16", "bfloat16", "int8")
#: The suffix of the scale tensor saved beside each 8-bit one.
SCALE = ".int8_scale"


def encode(tensors: dict[str, Any], kv_dtype: str | None) -> dict[str, Any]:
    """``tensors`` to save: float ones in ``kv_dtype`` (None: as they are), others untouched."""
    if kv_dtype is None:
        return dict(tensors)
    import torch

    out: dict[str, Any] = {}
    for name, t in tensors.items():
        if not t.is_floating_point():
            out[name] = t
        elif kv_dtype == "int8":
            # Symmetric, one scale per vector of the last dimension (a head's key or value of one
            # token): the largest magnitude maps to 127, so each value is within about half a step
            # (the scale is kept in float16: 6% more at the largest values, 3% of the bytes).
            scale = t.float().abs().amax(dim=-1, keepdim=True).clamp_min(1e-12) / 127
            out[name] = torch.round(t.float() / scale).to(torch.int8).contiguous()
            out[name + SCALE] = scale.to(torch.float16).contiguous()
        else:
            out[name] = t.to(getattr(torch, kv_dtype)).contiguous()
    return out


def decode(tensors: dict[str, Any]) -> dict[str, Any]:
    """The tensors :func:`encode` saved, 8-bit ones back to float32 (their scales removed)."""
    import torch

    out = {n: t for n, t in tensors.items() if not n.endswith(SCALE)}
    for name in list(out):
        if name + SCALE in tensors:
            if out[name].dtype != torch.int8:
                raise ValueError(f"the saved tensor {name} has an 8-bit scale but is {out[name].dtype}")
            out[name] = out[name].float() * tensors[name + SCALE].float()
    return out
