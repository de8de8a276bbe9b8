"""Bad command lines: exit code 2 and one line saying what to pass, before any model is loaded."""

import pytest

from memorag_integrations import cli, defaults
from memorag_integrations.llm import transformers as transformers_backend

BAD = [
    (["memorize", "a.txt", "--save-dir", "out", "--max-memory-tokens", "-5"],
     "argument --max-memory-tokens: must be a positive whole number, got '-5'"),
    (["memorize", "a.txt", "--save-dir", "out", "--max-memory-tokens", "many"], "must be a positive whole number"),
    (["ask", "corpus", "q", "-k", "0"], "argument -k: must be a positive whole number, got '0'"),
    (["summarize", "corpus", "-k", "-1"], "argument -k: must be a positive whole number"),
    (["ask", "corpus", "q", "--rerank", "-3"], "argument --rerank: must be a whole number (0 or more), got '-3'"),
    (["ask", "corpus", "q", "--rerank", "ten"], "argument --rerank: must be a whole number"),
    (["ask", "corpus", "q", "--grounding", "1.5"], "argument --grounding: must be a share from 0 to 1, or off"),
    (["ask", "corpus", "q", "--grounding", "strict"], "argument --grounding: must be a share from 0 to 1"),
    (["ask", "corpus", "q", "--task", "translate"], "argument --task: invalid choice: 'translate'"),
    (["ask", "corpus", "q", "--answer-mode", "quote"], "argument --answer-mode: invalid choice: 'quote'"),
    (["ask", "corpus", "q", "--task", "qa", "--answer-mode", "extractive"], "task 'qa' retrieves none"),
    (["ask", "corpus", "   "], "the query is empty"),
    (["ask", "corpus", "q", "--device", "nonsense"], "unknown device 'nonsense'; use cpu, cuda, cuda:N or mps"),
    (["ask", "corpus", "q", "--device", "cuda:7"], "device 'cuda:7' is not here"),
    (["ask", "corpus", "q", "--model", "./no-such-model"], "no model file or folder at ./no-such-model"),
    (["ask", "corpus", "q", "--model", "/no/such/model"], "no model file or folder at /no/such/model"),
    (["ask", "corpus", "q", "--embedder", "~/no-such-embedder"], "no model file or folder at ~/no-such-embedder"),
    (["frobnicate"], "argument command: invalid choice: 'frobnicate'"),
    (["serve", "--host", "0.0.0.0"], "give it an access token (--token, or the MEMORAG_SERVER_TOKEN"),
    (["serve", "--port", "0"], "argument --port: must be a positive whole number"),
    (["serve", "--device", "cuda:3"], "device 'cuda:3' is not here"),
]


@pytest.fixture(autouse=True)
def no_model_loads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the arguments were checked")

    monkeypatch.setattr(transformers_backend.TransformersGenerator, "__init__", refuse)


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MEMORAG_SERVER_TOKEN", raising=False)
    (tmp_path / "a.txt").write_text("some text")
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("memorag: error: ") and message in err, err


def loaded_options(monkeypatch, argv: list[str]) -> dict:
    """The options ``memorag ask`` loads its engine with, stopped before any model would answer."""
    from memorag_integrations.engine import MemoRAG

    seen = {}

    def load(cls, save_dir, memory, retriever, **options):
        seen.update(options)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_components", lambda args, memorizing: (None, None))
    monkeypatch.setattr(MemoRAG, "load", classmethod(load))
    with pytest.raises(KeyboardInterrupt):
        cli.main(argv)
    return seen


@pytest.mark.parametrize(("given", "expected"), [([], defaults.GROUNDING), (["--grounding", "off"], None),
                                                  (["--grounding", "0.5"], 0.5), (["--grounding", "0"], 0.0)])
def test_grounding_and_rerank_reach_the_loaded_engine(given, expected, monkeypatch, tmp_path):
    seen = loaded_options(monkeypatch, ["ask", str(tmp_path), "q", "--rerank", "4", *given])
    assert seen == {"rerank": 4, "grounding": expected, "answer_mode": "auto", "write_clues": None}


@pytest.mark.parametrize(("given", "expected"), [([], None), (["--clues"], True), (["--no-clues"], False)])
def test_clues_reach_the_loaded_engine(given, expected, monkeypatch, tmp_path):
    assert loaded_options(monkeypatch, ["ask", str(tmp_path), "q", *given])["write_clues"] is expected


def test_only_loopback_binds_without_a_token():
    from memorag_integrations import InvalidInputError
    from memorag_integrations.server import check_bind

    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_bind(host, None)
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.org"):
        with pytest.raises(InvalidInputError, match="access token"):
            check_bind(host, None)
        check_bind(host, "s3cret")


@pytest.mark.parametrize(("flag", "keep"), [([], None), (["--kv"], True), (["--no-kv"], False)])
def test_memorize_keeps_the_kv_cache_as_asked(flag, keep, monkeypatch, tmp_path):
    from fakes import HashEmbedder, ScriptedGenerator

    from memorag_integrations import PromptMemory
    from memorag_integrations.engine import MemoRAG
    from memorag_integrations.retrieval.retriever import DenseRetriever

    monkeypatch.setattr(cli, "_components", lambda args, memorizing: (PromptMemory(ScriptedGenerator()),
                                                                      DenseRetriever(HashEmbedder())))
    asked, save = {}, MemoRAG.save
    monkeypatch.setattr(MemoRAG, "save", lambda self, folder, **kw: asked.update(kw) or save(self, folder, **kw))
    (tmp_path / "a.txt").write_text("The harbour froze in 1911. Ships waited outside for weeks.")
    assert cli.main(["memorize", str(tmp_path / "a.txt"), "--save-dir", str(tmp_path / "out"), *flag]) == 0
    assert asked["include_kv"] is keep  # None: the engine's own choice (engine.saves_kv)
    assert (tmp_path / "out" / "manifest.json").is_file()
