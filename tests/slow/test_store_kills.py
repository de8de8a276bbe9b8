"""``kill -9`` at random points of ``save(overwrite=True)``: the store always loads, and the next save
leaves nothing beside it."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from fakes import HashEmbedder, ScriptedGenerator

from memorag_integrations import MemoRAG, PromptMemory
from memorag_integrations.retrieval.retriever import DenseRetriever

SUPPORT = Path(__file__).parents[1] / "support"
# Saves the same corpus over and over until killed; the corpus is large enough (a few MB) that a
# kill lands inside a save.
SAVER = """
import sys
from fakes import HashEmbedder, ScriptedGenerator
from memorag_integrations import MemoRAG, PromptMemory
from memorag_integrations.retrieval.retriever import DenseRetriever

text = "\\n\\n".join(f"Paragraph {i} tells of ship {i % 97} and harbour {i % 13}." * 20 for i in range(3000))
engine = MemoRAG(PromptMemory(ScriptedGenerator()), DenseRetriever(HashEmbedder(), chunk_tokens=400,
                 chunk_overlap=0), progress=False).memorize(text)
engine.save(sys.argv[1], overwrite=True)  # the store exists before the first kill
print("ready", flush=True)
while True:
    engine.save(sys.argv[1], overwrite=True)
"""


def load(folder):
    return MemoRAG.load(folder, PromptMemory(ScriptedGenerator()),
                        DenseRetriever(HashEmbedder(), chunk_tokens=400, chunk_overlap=0), progress=False)


def test_kills_during_saves_never_lose_the_store_and_leave_nothing_after_the_next_save(tmp_path):
    folder = tmp_path / "store"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")])}
    rng = random.Random(7)
    kills, inside = 0, 0
    for _ in range(10):
        saver = subprocess.Popen([sys.executable, "-c", SAVER, str(folder)], stdout=subprocess.PIPE, text=True,
                                 env=env)
        assert saver.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 1.0))  # a save takes about 0.2 s: the kill lands anywhere in one
        saver.send_signal(signal.SIGKILL)
        saver.wait()
        kills += 1
        leftover = [p.name for p in tmp_path.iterdir() if p.name != "store"]
        inside += bool(leftover)
        engine = load(folder)  # recovers the store if the kill fell between the renames
        assert len(engine.documents) == 1 and len(engine.retriever.chunks) > 1000, leftover
    assert kills == 10 and inside >= 5  # most kills fell inside a save and left its temporary folder
    engine.save(folder, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
    assert load(folder).retriever.chunks == engine.retriever.chunks
