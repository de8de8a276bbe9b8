"""The HTTP API of ``memorag serve`` against the real app with the embedded models: upload, progress,
asking with the events in order, summaries, renaming, deleting, the token and every bad input."""

import json
import threading
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
from fastapi.testclient import TestClient  # noqa: E402

from memorag_integrations.engine import MemoRAG  # noqa: E402
from memorag_integrations.prompts import get_prompts  # noqa: E402
from memorag_integrations.server import load_models  # noqa: E402
from memorag_integrations.server.app import create_app  # noqa: E402

TEXT = ("The harbour office kept the lighthouse logs.\n\n"
        "In 1911 a storm flooded the lower rooms of the lighthouse and that year's logbook was lost.\n\n"
        "The keeper's daughter rebuilt the record from letters the keeper had sent to the harbour office.\n\n"
        "Ships passing the northern reef were counted every night; the busiest month was August.")
QUESTION = "What happened to the logbook of 1911?"
FAST = {"max_new_tokens": 16, "k": 2}


@pytest.fixture(scope="module")
def models():
    return load_models()


@pytest.fixture(scope="module")
def client(models, tmp_path_factory):
    return TestClient(create_app(tmp_path_factory.mktemp("corpora"), models))


def wait(client, job_id, timeout=600):
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        seen.append(job)
        if job["state"] in ("done", "failed"):
            return job, seen
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {seen[-1]}")


def upload(client, name, text=TEXT, filename="log.txt"):
    return client.post("/api/corpora", data={"name": name}, files=[("files", (filename, text.encode(), "text/plain"))])


def events(client, corpus, **body):
    with client.stream("POST", f"/api/corpora/{corpus}/ask", json={"question": QUESTION, **FAST, **body}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        out, name = [], None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                out.append((name, json.loads(line[6:])))
    return out


@pytest.fixture(scope="module")
def corpus(client):
    response = upload(client, "lighthouse")
    assert response.status_code == 202 and response.json()["state"] == "queued"
    job, seen = wait(client, response.json()["id"])
    assert job["state"] == "done", job
    stages = {s["stage"] for s in seen}
    assert "reading into memory" in stages or "embedding chunks" in stages or len(seen) == 1
    return "lighthouse"


def test_an_upload_becomes_a_listed_corpus(client, corpus):
    listed = {c["name"]: c for c in client.get("/api/corpora").json()}
    assert listed[corpus]["documents"] == 1 and listed[corpus]["loadable"]
    info = client.get(f"/api/corpora/{corpus}").json()
    assert info["document_list"] == [{"doc_id": "log.txt", "chars": len(TEXT), "metadata": {"source": "log.txt"}}]
    assert client.get(f"/api/corpora/{corpus}/documents/log.txt").json()["text"] == TEXT


def test_an_answer_streams_clues_evidence_quotes_tokens_timings_then_done(client, corpus):
    got = events(client, corpus, compare_dense=True, clues=True)  # the embedded model writes none unless asked
    names = [n for n, _ in got]
    assert names[:4] == ["clues", "evidence", "dense", "quotes"] and names[-2:] == ["timings", "done"]
    assert set(names[4:-2]) == {"token"} and len(names[4:-2]) >= 1
    clues, evidence, quoted = got[0][1], got[1][1], got[3][1]
    assert clues["spans"] or clues["surrogate_questions"]
    for e in evidence + got[2][1]:
        start, end = e["char_span"]
        assert TEXT[start:end] == e["text"] and e["doc_id"] == "log.txt"
    assert any(QUESTION in e["matched_queries"] for e in evidence)
    # The embedded model answers, so by default the answer quotes the evidence: each sentence at its span.
    assert quoted["mode"] == "extractive" and quoted["quotes"]
    for q in quoted["quotes"]:
        start, end = q["char_span"]
        assert TEXT[start:end] == q["text"] and evidence[q["evidence"] - 1]["doc_id"] == q["doc_id"]
    text = "".join(d["text"] for n, d in got if n == "token")
    assert text.splitlines() == [f"{' '.join(q['text'].split())} [{q['evidence']}]" for q in quoted["quotes"]]
    timings = got[-2][1]
    assert {"expand", "retrieve", "first_token", "extract", "total"} <= timings.keys()


def test_the_request_picks_the_answer_mode(client, corpus):
    got = events(client, corpus, answer_mode="generate")
    assert got[2] == ("quotes", {"mode": "generate", "quotes": []})
    assert got[0][1]["spans"] == [] and got[0][1]["surrogate_questions"] == []  # no clues by default
    assert "generate" in got[-2][1] and "".join(d["text"] for n, d in got if n == "token").strip()
    summary = events(client, corpus, question="", task="summarize")
    quoted = dict(summary)["quotes"]
    assert quoted["mode"] == "extractive" and quoted["quotes"]
    assert all(TEXT[slice(*q["char_span"])] == q["text"] for q in quoted["quotes"])
    refused = client.post(f"/api/corpora/{corpus}/ask", json={"question": QUESTION, "task": "qa",
                                                               "answer_mode": "extractive"})
    assert refused.status_code == 422 and "retrieves none" in refused.json()["message"]


def test_summaries_and_the_memory_alone(client, corpus):
    summary = events(client, corpus, question="", task="summarize")
    assert [n for n, _ in summary][:3] == ["clues", "evidence", "quotes"] and summary[-1][0] == "done"
    qa = events(client, corpus, task="qa")
    assert qa[0] == ("clues", {"task": "qa", "spans": [], "surrogate_questions": [], "draft": None})
    assert qa[1] == ("evidence", []) and qa[-1][0] == "done"


def test_filters_keep_to_the_documents_they_name(client, corpus):
    kept = events(client, corpus, doc_ids=["log.txt"], where={"source": "log.txt"})
    assert kept[-1][0] == "done" and kept[1][1] and all(e["doc_id"] == "log.txt" for e in kept[1][1])
    none = events(client, corpus, where={"source": {"$ne": "log.txt"}})
    assert none[1] == ("evidence", []) and none[-1][0] == "done"
    assert "".join(d["text"] for n, d in none if n == "token") == get_prompts("en").nothing_found


def test_concurrent_asks_all_finish(client, corpus):
    results = []

    def one():
        results.append(events(client, corpus)[-1][0])

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert results == ["done", "done", "done"]


BAD_ASKS = [
    ({"question": "   "}, 422, "EmptyQueryError"),
    ({"question": "x", "k": 0}, 422, "InvalidInputError"),
    ({"question": "x", "max_new_tokens": 5}, 422, "InvalidInputError"),
    ({"question": "x", "max_new_tokens": 2000}, 422, "InvalidInputError"),
    ({"question": "x", "temperature": 2.5}, 422, "InvalidInputError"),
    ({"question": "x", "task": "translate"}, 422, "InvalidInputError"),
    ({"question": "x", "model": "gpt-9"}, 422, "InvalidInputError"),
    ({"question": "why " * 9000}, 422, "QueryTooLongError"),
    ({"question": "x", "doc_ids": ["nope.txt"]}, 422, "InvalidInputError"),
    ({"question": "x", "where": {"year": {"$regex": "2."}}}, 422, "InvalidInputError"),
]


@pytest.mark.parametrize(("body", "status", "error"), BAD_ASKS, ids=[b[2] + str(i) for i, b in enumerate(BAD_ASKS)])
def test_bad_questions_are_4xx_json(client, corpus, body, status, error):
    response = client.post(f"/api/corpora/{corpus}/ask", json=body)
    assert response.status_code == status and response.json()["error"] == error and response.json()["message"]


def test_bad_uploads_and_names_are_4xx_json_and_leave_nothing(client, corpus):
    cases = [
        (client.post("/api/corpora", data={"name": "bad name"}, files=[("files", ("a.txt", b"hi", "text/plain"))]),
         422, "InvalidInputError"),
        (client.post("/api/corpora", data={"name": "png"}, files=[("files", ("a.png", b"\x89PNG", "image/png"))]),
         415, "UnsupportedFileError"),
        (client.post("/api/corpora", data={"name": "binary"},
                     files=[("files", ("../../etc/a.txt", bytes(range(1, 9)) * 100, "text/plain"))]),
         415, "BinaryFileError"),
        (client.post("/api/corpora", data={"name": "empty"}), 422, "EmptyTextError"),
        (client.post("/api/corpora", data={"name": "blank"}, files=[("files", ("a.txt", b"   \n", "text/plain"))]),
         422, "EmptyTextError"),
        (client.post("/api/corpora", data={"name": "pdf"},
                     files=[("files", ("a.pdf", b"not a pdf", "application/pdf"))]), 422, "DocumentReadError"),
        (upload(client, corpus), 409, "CorpusExistsError"),
        (client.post("/api/corpora", content=b"--x\r\nnot multipart", headers={"content-type": "multipart/form-data"}),
         422, "InvalidInputError"),
        (client.post("/api/corpora/nothing-here/ask", json={"question": "x"}), 404, "StoreNotFoundError"),
        (client.get("/api/corpora/nothing-here"), 404, "StoreNotFoundError"),
        (client.get(f"/api/corpora/{corpus}/documents/nope.txt"), 422, "InvalidInputError"),
        (client.get("/api/jobs/nope"), 404, "StoreNotFoundError"),
        (client.patch(f"/api/corpora/{corpus}", json={"name": "../escape"}), 422, "InvalidInputError"),
    ]
    for response, status, error in cases:
        assert (response.status_code, response.json()["error"]) == (status, error), response.json()
        assert "Traceback" not in response.text
    names = [c["name"] for c in client.get("/api/corpora").json()]
    assert "binary" not in names and "png" not in names and "escape" not in names
    assert client.get("/api/models").status_code == 200  # still serving


def test_uploads_over_the_limit_are_413_before_and_while_reading(models, tmp_path):
    small = TestClient(create_app(tmp_path / "corpora", models, max_upload_bytes=1000))
    big = small.post("/api/corpora", data={"name": "big"}, files=[("files", ("a.txt", b"word " * 1000, "text/plain"))])
    assert big.status_code == 413 and big.json()["error"] == "UploadTooLargeError"

    def chunks():  # no Content-Length: the body is counted as it arrives
        yield b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\r\n"
        for _ in range(50):
            yield b"word " * 100

    streamed = small.post("/api/corpora", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert streamed.status_code == 413 and streamed.json()["error"] == "UploadTooLargeError"
    assert list((tmp_path / "corpora").iterdir()) == []


def test_jobs_queue_one_at_a_time_and_a_failed_job_leaves_no_corpus(client, models, monkeypatch):
    from memorag_integrations.retrieval.retriever import DenseRetriever

    original = DenseRetriever.save

    def disk_full_for_broken(self, folder):  # inside the atomic save: the temporary folder is ".broken.tmp-..."
        if "broken" in str(folder):
            raise OSError(28, "No space left on device")
        return original(self, folder)

    monkeypatch.setattr(DenseRetriever, "save", disk_full_for_broken)
    first = upload(client, "queue-first", TEXT + "\n\nA first copy.").json()
    second = upload(client, "broken", TEXT + "\n\nA second copy.").json()
    waiting = client.get(f"/api/jobs/{second['id']}").json()
    assert waiting["state"] in ("queued", "running", "failed")
    if waiting["state"] == "queued":
        assert waiting["queue_position"] >= 1
    assert wait(client, first["id"])[0]["state"] == "done"
    failed, _ = wait(client, second["id"])
    assert failed["state"] == "failed" and failed["error"]["error"] == "StoreWriteError"
    assert "broken" not in [c["name"] for c in client.get("/api/corpora").json()]
    assert not [p.name for p in client.app.state.corpora.root.iterdir() if "broken" in p.name]
    assert {j["id"] for j in client.get("/api/jobs").json()} >= {first["id"], second["id"]}


def test_rename_and_delete(client):
    job = upload(client, "to-rename").json()
    assert wait(client, job["id"])[0]["state"] == "done"
    renamed = client.patch("/api/corpora/to-rename", json={"name": "renamed"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "renamed"
    assert events(client, "renamed")[-1][0] == "done"
    assert client.delete("/api/corpora/renamed").status_code == 204
    assert client.get("/api/corpora/renamed").status_code == 404
    assert client.delete("/api/corpora/renamed").status_code == 404


def test_corpora_saved_elsewhere_appear(client, corpus, models, tmp_path):
    other = client.app.state.corpora.root / "from-python"
    MemoRAG(models.memory({"kind": "kv", "model": models.memory_model.identity}), models.retriever(),
            progress=False).memorize("A note saved from Python, not through the server.", save_dir=other)
    assert "from-python" in [c["name"] for c in client.get("/api/corpora").json()]


def test_the_token_guards_every_request(models, tmp_path):
    guarded = TestClient(create_app(tmp_path / "corpora", models, token="s3cret"))
    assert guarded.get("/api/models").status_code == 401
    assert guarded.get("/").status_code == 401
    assert guarded.get("/api/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert guarded.get("/api/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    page = guarded.get("/?token=s3cret")
    assert page.status_code == 200 and "memorag_token" in page.headers["set-cookie"]
    assert guarded.get("/api/corpora").status_code == 200  # the cookie now carries it


def test_the_page_and_the_openapi_description_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "<script src=\"/static/app.js\">" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # every asset is local: no CDN
    assert client.get("/static/app.js").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/corpora", "/api/corpora/{name}/ask", "/api/jobs/{job_id}"} <= paths.keys()


def test_another_loaded_model_can_answer(client, corpus, models, monkeypatch):
    monkeypatch.setitem(models.answerers, "second-model", models.memory_model)  # as --answer-model adds one
    assert "second-model" in client.get("/api/models").json()["answerers"]
    got = events(client, corpus, model="second-model", temperature=0.7)
    assert got[-1][0] == "done" and any(n == "token" for n, _ in got)
