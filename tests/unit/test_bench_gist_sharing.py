"""The speed suite hands its freshly computed gists to the user's gist cache, so that a later
memory of a longer text that starts the same way (the whole hotpot pool) gists only the rest."""

import json

from fakes import ScriptedGenerator

from memorag_integrations.memory.gist import Compressor, GistCache
from memorag_integrations.prompts import get_prompts
from memorag_integrations.schema import Document


from benchmarks import speed  # noqa: E402

PROMPTS = get_prompts("en")


def gist_calls(generator: ScriptedGenerator) -> int:
    return sum(call.startswith("Condense") for call in generator.calls)


def test_shared_gists_serve_the_longer_text_and_never_overwrite(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMORAG_CACHE_DIR", str(tmp_path / "cache"))
    text = "\n\n".join(f"Paragraph {i} tells of place {i % 7} and year {1900 + i}. " * 12 for i in range(120))
    prefix = text[: text.index("Paragraph 60 ")]
    generator = ScriptedGenerator()
    Compressor(generator, chunk_tokens=200, gist_tokens=8, cache=GistCache(tmp_path / "private")).build_context(
        [Document(prefix)], PROMPTS, budget=4000, progress=False)
    prefix_sections = gist_calls(generator)
    assert prefix_sections > 5

    shared = GistCache().folder
    first = next((tmp_path / "private").rglob("*.json"))
    kept = shared / first.relative_to(tmp_path / "private")
    kept.parent.mkdir(parents=True)
    kept.write_text(json.dumps({"gist": "already cached"}))
    assert speed.share_gists(tmp_path / "private") == prefix_sections - 1
    assert json.loads(kept.read_text())["gist"] == "already cached"

    fresh, reused = ScriptedGenerator(), ScriptedGenerator()
    Compressor(fresh, chunk_tokens=200, gist_tokens=8, cache=GistCache(tmp_path / "empty")).build_context(
        [Document(text)], PROMPTS, budget=4000, progress=False)
    Compressor(reused, chunk_tokens=200, gist_tokens=8).build_context([Document(text)], PROMPTS, budget=4000,
                                                                        progress=False)
    # Every section of the prefix but its cut-off last one is the same text in the longer document.
    assert gist_calls(reused) <= gist_calls(fresh) - (prefix_sections - 1)
