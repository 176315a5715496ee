"""The mailbox reader: every layout, every malformed kind, the results files, the speed."""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from edgeai import mail as mailmod
from edgeai.errors import EdgeAIError
from edgeai.mail import (
    MAX_BODY_CHARS,
    MAX_HTML_CHARS,
    RESULT_COLUMNS,
    Mail,
    MailError,
    count_mailbox,
    html_to_text,
    mailbox_format,
    parse_message,
    read_mailbox,
    result_row,
    write_results,
)

from .mailgen import (
    ATTACHMENT_MARKER,
    HIDDEN_MARKERS,
    INTL_SUBJECTS,
    MALFORMED_KINDS,
    NORMAL_KINDS,
    PHRASES,
    UNKNOWN_CHARSET_SUBJECT,
    make_eml_folder,
    make_maildir,
    make_mbox,
    read_truth,
)

N = 300
MAKERS = {"mbox": (make_mbox, "box.mbox"), "maildir": (make_maildir, "Maildir"), "folder": (make_eml_folder, "eml")}
ENTITY = re.compile(r"&(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);")


@pytest.fixture(scope="module", params=sorted(MAKERS))
def generated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    make, name = MAKERS[request.param]
    path = tmp_path_factory.mktemp(request.param) / name
    info = make(path, N, seed=0)
    info["results"] = list(read_mailbox(path))
    info["by_key"] = {r.key: r for r in info["results"]}
    return info


def _mails_of(info: dict[str, Any], kind: str) -> list[Mail]:
    out = [info["by_key"][k] for k, v in info["kind"].items() if v == kind]
    assert out, kind
    assert all(isinstance(m, Mail) for m in out), (kind, out)
    return out


# -- every layout: n results, none lost, stable order


def test_every_mail_once_in_a_stable_order(generated: dict[str, Any]) -> None:
    results = generated["results"]
    keys = [r.key for r in results]
    assert len(results) == N
    assert len(set(keys)) == N
    assert set(keys) == set(generated["kind"])
    assert [r.key for r in read_mailbox(generated["path"])] == keys
    assert count_mailbox(generated["path"]) == N
    assert mailbox_format(generated["path"]) == generated["format"]
    errors = [r for r in results if isinstance(r, MailError)]
    assert [generated["kind"][e.key] for e in errors] == ["unreadable"]
    assert generated["spam"] + generated["ham"] + generated["unreadable"] == N
    assert read_truth(generated["path"]) == generated["truth"]


def test_malformed_kinds(generated: dict[str, Any]) -> None:
    assert sorted(generated["malformed"].values()) == sorted(MALFORMED_KINDS)
    for key, kind in generated["malformed"].items():
        m = generated["by_key"][key]
        if kind == "unreadable":
            assert isinstance(m, MailError) and "empty" in m.reason, m
            continue
        assert isinstance(m, Mail), (kind, m)
        problems = " | ".join(m.problems)
        if kind in PHRASES:
            assert PHRASES[kind] in m.body, (kind, m.body)
        if kind == "no_boundary":
            assert "broken MIME structure: multipart/mixed without a usable boundary" in problems
            assert m.attachments == ["data.bin"]
        elif kind == "unclosed_boundary":
            assert "broken MIME structure: boundary never closed" in problems
            assert m.attachments == ["contract.pdf"]
        elif kind == "unknown_charset":
            assert "undecodable charset x-unknown in body: decoded as latin-1 with replacement" in m.problems
            assert "undecodable charset x-unknown in Subject header" in problems
            assert m.subject == UNKNOWN_CHARSET_SUBJECT
        elif kind == "bad_utf8":
            assert "undecodable bytes in utf-8 body: replaced with U+FFFD" in m.problems
            assert "Grüße" in m.body and "\ufffd" in m.body
        elif kind == "empty_body":
            assert m.body == "" and m.problems == ["empty body"]
        elif kind == "no_message_id":
            assert m.message_id == "" and m.problems == ["no Message-ID"]
        elif kind == "garbage_header":
            assert m.problems == ["garbage header line dropped: 'this line is garbage without a colon'"]
            assert m.message_id.endswith("@mailgen.example>")  # the headers after the garbage line survive
            assert "<" not in m.body and "&amp;" not in m.body and "waiting" in m.body
        elif kind == "no_content_type":
            assert m.problems == []
        elif kind == "bad_base64":
            assert "bad base64 in a part: invalid characters skipped" in m.problems
        elif kind in ("from_escaped", "from_unescaped"):
            assert m.problems == [] and ">From" not in m.body and m.body.rstrip().endswith("Bye.")
        elif kind == "truncated":
            assert "broken MIME structure: boundary never closed (truncated mail?)" in m.problems
            assert "looks truncated" in problems
            assert m.attachments == ["draft.pdf"]
        else:
            raise AssertionError(f"no check for {kind}")


def test_normal_mails(generated: dict[str, Any]) -> None:
    for kind in NORMAL_KINDS:
        for m in _mails_of(generated, kind):
            if kind == "long":
                assert len(m.problems) == 1 and m.problems[0].startswith(f"long body: cut to {MAX_BODY_CHARS} ")
            else:
                assert m.problems == [], (kind, m.problems)
            assert m.message_id and m.sender and m.date and m.subject
            assert "\r" not in m.text and not re.search(r"[\x00-\x08\x0b-\x1f]", m.text)
            assert m.text == f"{m.subject}\n{m.body}"
    for m in _mails_of(generated, "html"):  # HTML only: the words, no tags, no entities, nothing hidden
        unescaped = m.body.replace("<really>", "")  # the one "&lt;really&gt;" in the source
        assert "<" not in unescaped and ">" not in unescaped
        assert not ENTITY.search(m.body), m.body
        assert not any(h in m.text for h in HIDDEN_MARKERS)
        assert PHRASES["html_link"] in m.body and "Café & crème" in m.body and "€ 4.50" in m.body
        assert "it’s 100% free <really>" in m.body and "Dear customer,\n" in m.body
    for m in _mails_of(generated, "alternative"):  # the text/plain part, not both
        assert m.body.startswith("Hi,") and PHRASES["html_link"] not in m.body
    for m in _mails_of(generated, "attachment"):
        names = m.attachments
        assert len(names) == 3 and names[1:] == ["notes.txt", "logo.png"] and names[0].startswith("invoice-")
        assert ATTACHMENT_MARKER not in m.text and "%PDF" not in m.text
    for m in _mails_of(generated, "intl_subject"):
        assert m.subject in INTL_SUBJECTS and "=?" not in m.subject
        assert "Zoë — 再见 🙂" in m.body
    for m in _mails_of(generated, "latin1_body"):
        assert "Grüße, Jürgen" in m.body
    for m in _mails_of(generated, "long"):
        assert MAX_BODY_CHARS - 200 < len(m.body) <= MAX_BODY_CHARS
    for m in _mails_of(generated, "forward"):
        assert m.body.startswith(PHRASES["forward"]) and "\nSubject: " in m.body and "\n\nHi,\n" in m.body
        assert PHRASES["html_link"] not in m.body and m.attachments == []


def test_reading_300_mails_is_fast(tmp_path: Path) -> None:
    path = tmp_path / "box.mbox"
    make_mbox(path, N)
    start = time.perf_counter()
    results = list(read_mailbox(path))
    elapsed = time.perf_counter() - start
    assert len(results) == N
    assert elapsed < 1.0, f"reading {N} mails took {elapsed:.3f} s"
    start = time.perf_counter()
    assert count_mailbox(path) == N
    assert time.perf_counter() - start < 0.1


# -- one message at a time


def _mail(data: bytes) -> Mail:
    m = parse_message(data, "k")
    assert isinstance(m, Mail), m
    return m


def test_headers_decoded() -> None:
    m = _mail(b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= =?iso-8859-1?b?YXVzIE38bmNoZW4=?=\nFrom: a@b\n\nx\n")
    assert m.subject == "Grüßeaus München"  # whitespace between encoded words is dropped (RFC 2047)
    m = _mail(b"Subject: raw caf\xc3\xa9\nFrom: Jos\xe9 <j@example.com>\nMessage-ID: <1@x>\n\nx\n")
    assert m.subject == "raw café" and m.sender == "José <j@example.com>"
    assert m.problems == ["8-bit bytes in From header that are not utf-8: decoded as latin-1"]
    m = _mail(b"Subject: one\n  folded\tline\nMessage-ID: <1@x>\nDate: not a date\n\nx\n")
    assert m.subject == "one folded line" and m.date == "not a date"
    assert m.problems == ["bad Date header: Invalid date value or format"]


def test_body_choice_and_charsets() -> None:
    alternative = (
        b'Content-Type: multipart/alternative; boundary="b"\n\n--b\nContent-Type: text/plain\n\nplain words\n'
        b"--b\nContent-Type: text/html\n\n<p>html words</p>\n--b--\n"
    )
    assert _mail(alternative).body == "plain words"
    blank_plain = alternative.replace(b"plain words", b"  ")
    assert _mail(blank_plain).body == "html words"
    m = _mail(b"Subject: x\n\nna\xc3\xafve 8-bit bytes, no Content-Type\n")
    assert m.body.startswith("naïve") and "8-bit bytes in us-ascii body: decoded as utf-8" in m.problems
    m = _mail(b"Content-Type: text/plain; charset=windows-1252\n\nit\x92s\n")
    assert m.body == "it’s" and m.problems == ["no Message-ID"]
    m = _mail(b"Content-Type: text/plain; charset=base64\n\nabc\n")  # a codec, but no charset
    assert m.body == "abc" and any(p.startswith("undecodable charset base64") for p in m.problems)


def test_attachments_and_forwards() -> None:
    data = (
        b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nsee attached\n'
        b'--b\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename="fwd.eml"\n\n'
        b"Subject: inner\n\nsecret inner words\n"
        b'--b\nContent-Type: text/calendar; name="invite.ics"\n\nBEGIN:VCALENDAR\n'
        b"--b\nContent-Type: image/png\nContent-Disposition: inline\n\n\x89PNG\n--b--\n"
    )
    m = _mail(data)
    assert m.body == "see attached"
    assert m.attachments == ["fwd.eml", "invite.ics", "unnamed image/png"]


def test_broken_messages() -> None:
    assert parse_message(b"", "k") == MailError("k", "empty message: no headers and no body")
    assert parse_message(b"\n\r\n", "k") == MailError("k", "empty message: no headers and no body")
    assert parse_message(b"\x00\x01PK\x03\x04binary", "k") == MailError(
        "k", "not a mail: binary data without any header"
    )
    m = _mail(b"Content-Type: multipart/mixed; boundary=XYZ\n\nno parts here\n")
    assert m.body == "no parts here"
    assert "broken MIME structure: multipart/mixed without a usable boundary; read as plain text" in m.problems
    m = _mail(b"Subject: hi\nContent-Type: text/plain\n\n")
    assert m.body == "" and "empty body" in m.problems
    m = _mail(b"Subject: only a subject line and no separator")
    assert m.subject == "only a subject line and no separator" and m.body == ""


def test_a_part_that_raises_costs_only_that_part(monkeypatch: pytest.MonkeyPatch) -> None:
    real = mailmod._part_bytes

    def flaky(part: Any) -> bytes:
        if part.get_content_type() == "text/html":
            raise ValueError("boom")
        return real(part)

    monkeypatch.setattr(mailmod, "_part_bytes", flaky)
    data = (
        b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nkept\n'
        b"--b\nContent-Type: text/html\n\n<p>lost</p>\n--b--\n"
    )
    m = _mail(data)
    assert m.body == "kept" and "unreadable MIME part text/html: ValueError: boom" in m.problems


def test_a_message_that_raises_is_a_mail_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: bytes) -> Any:
        raise IndexError("deep in the parser")

    monkeypatch.setattr(mailmod, "_parse_bytes", broken)
    assert parse_message(b"Subject: x\n\ny\n", "k") == MailError(
        "k", "unreadable message: IndexError: deep in the parser"
    )


def test_long_html_is_cut_before_reduction() -> None:
    html = "<p>" + "word " * (MAX_HTML_CHARS // 4) + "</p>"
    m = _mail(b"Content-Type: text/html\n\n" + html.encode())
    assert f"long HTML part: only the first {MAX_HTML_CHARS} characters read" in m.problems
    assert any(p.startswith(f"long body: cut to {MAX_BODY_CHARS} characters") for p in m.problems)
    assert len(m.body) <= MAX_BODY_CHARS


def test_html_to_text() -> None:
    html = (
        "<html><head><title>T</title><style>p{}</style></head><body><script>x()</script>"
        "<p>A&amp;B&nbsp;&eacute;&#233;&#x41;</p>line<br>next<ul><li>one<li>two</ul>"
        "<table><tr><td>c1<td>c2<tr><td>c3</table><a href='u'>link text</a><!-- comment --></body></html>"
    )
    assert html_to_text(html) == "A&B ééA\nline\nnext\n\none\ntwo\n\nc1 c2\nc3\nlink text"
    assert html_to_text("<head><meta charset=utf-8><p>head never closed</p>") == "head never closed"
    assert html_to_text("<p>a \t\xa0 b\u200b</p>\n\n\n\n<div> c </div>") == "a b\n\nc"
    assert html_to_text("<p>x < y & z</p><script>never closed") == "x < y & z"
    assert html_to_text("<p>a</p><!-- never closed <p>b</p>") == "a\n\nb"  # its text kept, its tags not
    assert html_to_text("<p>a</p>3 < 4 <a href='x'>unfinished</a") == "a\n3 < 4 unfinished"
    m = _mail(b"Content-Type: text/html\n\n<p>a<![bogus x>b</p>")  # html.parser raises on this one
    assert m.body == "a b" and "HTML could not be parsed (AssertionError): tags stripped crudely" in m.problems


def test_huge_headers_are_cut_before_parsing() -> None:
    subject = b"Subject: " + b"buy now " * 150_000 + b"\n"
    sender = b"From: " + b", ".join(b"a%d@example.com" % i for i in range(20_000)) + b"\n"
    start = time.perf_counter()
    m = _mail(subject + sender + b"Message-ID: <1@x>\n\nbody\n")
    assert time.perf_counter() - start < 0.5  # the email package would take 20 s on these
    assert len(m.subject) == len(m.sender) == 1000 and m.body == "body"
    assert "Subject header over 1000 characters: cut" in m.problems


# -- mbox details and layouts


def _postmark(n: int) -> bytes:
    return f"From user{n}@example.com Mon Jan  {n} 10:00:00 2024\n".encode()


def test_mbox_from_lines(tmp_path: Path) -> None:
    path = tmp_path / "m"
    one = b"Subject: one\n\nbody\n\nFrom what I hear, nothing.\n>From quoted\n>>From twice quoted\n"
    two = b"Subject: two\n\nline\nFrom user9@example.com Mon Jan  1 10:00:00 2024 (no blank line before)\n"
    three = b"Subject: three\n\nbody\n\nFrom bob@example.com Mon Jan  1 00:00:00 2024\nlooks like a postmark\n"
    path.write_bytes(_postmark(1) + one + b"\n" + _postmark(2) + two + b"\n" + _postmark(3) + three)
    results = list(read_mailbox(path))
    assert [r.key for r in results] == ["0", "1", "2", "3"] and count_mailbox(path) == 4
    first = results[0]
    assert isinstance(first, Mail)
    assert first.body == "body\n\nFrom what I hear, nothing.\nFrom quoted\n>From twice quoted"
    assert isinstance(results[1], Mail) and "no blank line before" in results[1].body
    # a postmark-like line after a blank line is a separator: the mail splits (the mbox format's limit)
    assert isinstance(results[3], Mail) and results[3].body == "looks like a postmark"


def test_mbox_crlf_and_empty(tmp_path: Path) -> None:
    path = tmp_path / "crlf.mbox"
    path.write_bytes(
        (_postmark(1) + b"Subject: a\n\nx\n\n" + _postmark(2) + b"Subject: b\n\ny\n").replace(b"\n", b"\r\n")
    )
    results = list(read_mailbox(path))
    assert [(r.subject, r.body) for r in results if isinstance(r, Mail)] == [("a", "x"), ("b", "y")]
    empty = tmp_path / "Inbox"
    empty.write_bytes(b"")
    assert mailbox_format(empty) == "mbox" and list(read_mailbox(empty)) == [] and count_mailbox(empty) == 0


def test_single_eml_and_errors(tmp_path: Path) -> None:
    eml = tmp_path / "one.eml"
    eml.write_bytes(b"Subject: single\nMessage-ID: <1@x>\n\nhello\n")
    assert [(r.key, r.subject) for r in read_mailbox(eml) if isinstance(r, Mail)] == [("one.eml", "single")]
    assert count_mailbox(eml) == 1
    with pytest.raises(EdgeAIError, match="no such file or folder"):
        list(read_mailbox(tmp_path / "missing"))
    text = tmp_path / "notes.txt"
    text.write_text("just some text\n")
    with pytest.raises(EdgeAIError, match=r"notes.txt: not a mailbox; expected an mbox file.*Maildir.*\.eml"):
        list(read_mailbox(text))
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(EdgeAIError, match="neither a Maildir"):
        count_mailbox(tmp_path / "emptydir")


def test_unreadable_file_is_a_mail_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.eml").write_bytes(b"Subject: a\n\nx\n")
    (tmp_path / "b.eml").write_bytes(b"Subject: b\n\ny\n")
    real_open = Path.open

    def locked_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name == "b.eml":
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", locked_open)
    results = list(read_mailbox(tmp_path))
    assert isinstance(results[0], Mail)
    assert results[1] == MailError("b.eml", f"cannot read {tmp_path / 'b.eml'}: Permission denied")


# -- results files

NASTY = [
    'comma, "quotes", and more',
    "new\nline and\r\ncrlf",
    '=HYPERLINK("http://evil")',
    "tab\there; semicolon",
    "émoji 🎉 und Umlaute",
    "",
]


def _rows() -> list[dict[str, object]]:
    rows = []
    for i, subject in enumerate(NASTY):
        m = Mail(key=f"k{i}", message_id=f"<{i}@x>", subject=subject, problems=["no Message-ID", "empty body"][: i % 3])
        rows.append(result_row(m, label="spam" if i % 2 else "ham", confidence=0.5 + i / 100, side="board"))
    rows.append(result_row(MailError("bad", "empty message: no headers and no body")))
    return rows


def test_results_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    rows = _rows()
    write_results(path, rows)
    with path.open(encoding="utf-8", newline="") as f:
        back = list(csv.DictReader(f))
    assert list(back[0]) == list(RESULT_COLUMNS)
    assert [r["subject"] for r in back] == [*NASTY, ""]
    assert [r["problems"] for r in back] == ["; ".join(r["problems"]) for r in rows]  # type: ignore[arg-type]
    assert back[1]["confidence"] == "0.51" and back[-1]["confidence"] == "" and back[-1]["side"] == ""
    assert back[-1]["error"] == "empty message: no headers and no body"


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_results_json_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    rows = _rows()
    rows[0]["truth"] = "ham"  # an extra column rides along, after the standard ones
    rows[1]["confidence"] = float("nan")
    write_results(path, rows)
    text = path.read_text(encoding="utf-8")
    back = json.loads(text) if suffix == ".json" else [json.loads(line) for line in text.splitlines()]
    assert [r["subject"] for r in back] == [*NASTY, ""]
    assert list(back[0]) == [*RESULT_COLUMNS, "truth"] and back[0]["truth"] == "ham" and back[2]["truth"] is None
    assert back[0]["problems"] == [] and back[2]["problems"] == ["no Message-ID", "empty body"]
    assert back[1]["confidence"] is None and back[2]["confidence"] == 0.52
    assert back[-1]["error"] and back[-1]["label"] == ""
    assert "🎉" in text  # UTF-8, not \\u escapes


def test_results_errors(tmp_path: Path) -> None:
    with pytest.raises(EdgeAIError, match=r"\.csv, \.json or \.jsonl"):
        write_results(tmp_path / "out.txt", [])
    with pytest.raises(EdgeAIError, match="cannot write results"):
        write_results(tmp_path / "no" / "such" / "dir.csv", _rows())
    assert not list(tmp_path.iterdir())
