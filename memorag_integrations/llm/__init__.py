"""Text generators: local transformers models and the generator seam."""

from memorag_integrations.llm.base import Message, Prompt, TextGenerator

__all__ = ["Message", "Prompt", "TextGenerator", "TransformersGenerator"]


def __getattr__(name: str):
    # Lazy: importing the seam must not import torch.
    if name == "TransformersGenerator":
        from memorag_integrations.llm.transformers import TransformersGenerator

        return TransformersGenerator
    raise AttributeError(name)
