"""``memorag serve``: a web page and an HTTP API over saved corpora (the ``server`` extra).

:func:`create_app` builds the FastAPI app (for tests and for mounting in your own app);
:func:`serve` loads the models and runs it with uvicorn.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from memorag_integrations.errors import InvalidInputError, require

TOKEN_ENV = "MEMORAG_SERVER_TOKEN"


def load_models(model: str | None = None, embedder: str | None = None, *, device: str | None = None,
                answer_models: tuple[str, ...] = ()):
    """The memory model (which also answers), the embedder, and any extra models that may answer."""
    from memorag_integrations.llm.transformers import TransformersGenerator
    from memorag_integrations.retrieval.embedders import SentenceTransformerEmbedder
    from memorag_integrations.server.corpora import Models

    memory_model = TransformersGenerator(model, device=device)
    answerers = {memory_model.identity: memory_model}
    for spec in answer_models:
        extra = TransformersGenerator(spec, device=device)
        answerers[extra.identity] = extra
    return Models(memory_model, SentenceTransformerEmbedder(embedder, device=device), answerers)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """A server reachable from other machines must have an access token."""
    if not is_loopback(host) and not token:
        raise InvalidInputError(f"binding {host} makes the server reachable from other machines: give it an access "
                                f"token (--token, or the {TOKEN_ENV} environment variable), which every request "
                                "then needs")


def serve(host: str = "127.0.0.1", port: int = 8000, corpora_dir: str | os.PathLike = "corpora", *,
          token: str | None = None, model: str | None = None, embedder: str | None = None, device: str | None = None,
          answer_models: tuple[str, ...] = (), max_upload_mb: int = 200) -> None:
    """Load the models and serve the app until interrupted."""
    require("fastapi", "server", "memorag serve")
    uvicorn = require("uvicorn", "server", "memorag serve")
    token = token or os.environ.get(TOKEN_ENV) or None
    check_bind(host, token)
    from memorag_integrations.server.app import create_app

    app = create_app(Path(corpora_dir), load_models(model, embedder, device=device, answer_models=answer_models),
                     token=token, max_upload_bytes=max_upload_mb * 2**20)
    uvicorn.run(app, host=host, port=port, log_level="warning")


__all__ = ["TOKEN_ENV", "check_bind", "is_loopback", "load_models", "serve"]
