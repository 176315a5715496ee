"""Mailboxes read for triage: each mail reduced to the text a classifier reads.

Four layouts are read, told apart by :func:`mailbox_format`: an mbox file, a Maildir (``cur/``,
``new/``), a folder of ``.eml`` files (recursively, in sorted order) and a single ``.eml`` file.
Reading is split in two layers, like a kernel's prepare and eval: the format layer cuts the
mailbox into raw messages with a stable key each (mbox index, Maildir unique name, ``.eml`` path
relative to the folder), the parse layer (:func:`parse_message`) turns one message into a
:class:`Mail`. Nothing is lost on the way: a mail that survives with damage carries its
``problems``; one that cannot be read at all becomes a :class:`MailError` in its place, so a
mailbox of ``n`` mails always yields ``n`` results.

Every read is bounded: a message is read up to :data:`MAX_MESSAGE_BYTES`, an HTML part is cut
to :data:`MAX_HTML_CHARS` before its tags are stripped, and the body handed to the classifier
to :data:`MAX_BODY_CHARS`. Each cut is recorded as a problem.

Standard library only: ``email`` with ``email.policy.default``, ``html.parser``, ``csv``, ``json``.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import csv
import json
import math
import mmap
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import errors as email_errors
from email import policy
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.policy import EmailPolicy
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import EdgeAIError

MAX_MESSAGE_BYTES = 32 * 1024 * 1024  # a message is read this far; the rest is dropped (and said so)
MAX_BODY_CHARS = 20_000  # the body the classifier reads is cut here
MAX_HTML_CHARS = 200_000  # an HTML part is cut here before its tags are stripped
MAX_HEADER_CHARS = 1_000  # subject, sender and date are cut here
_MAX_PARSED_HEADER = 2 * MAX_HEADER_CHARS  # the email package parses a header only this far
_MAX_MEMO_HEADER = 300  # headers up to this long are parsed once per mailbox read (Content-Type and kin)
MAX_PROBLEMS = 20  # problems kept per mail; one more line says how many were dropped
MAX_MIME_DEPTH = 30  # nesting of multiparts and forwarded messages followed this deep

FORMATS = ("mbox", "maildir", "folder", "eml")
_ACCEPTED = "an mbox file (starting with 'From '), a Maildir folder (cur/, new/), a folder of .eml files, one .eml file"
_TOO_BIG = f"mail over {MAX_MESSAGE_BYTES >> 20} MiB: only the first {MAX_MESSAGE_BYTES >> 20} MiB read"

RESULT_COLUMNS = ("key", "message_id", "subject", "label", "confidence", "side", "problems", "error")


@dataclass
class Mail:
    """One readable mail: what the classifier reads, and what was wrong with it."""

    key: str  # stable id within the mailbox: mbox index, Maildir unique name, .eml path in the folder
    message_id: str = ""  # the Message-ID header as written, "" when absent
    subject: str = ""  # RFC 2047 decoded, one line
    sender: str = ""  # the From header, decoded
    date: str = ""  # the Date header as written
    body: str = ""  # plain text: the text/plain parts, or the HTML parts reduced to text
    attachments: list[str] = field(default_factory=list)  # names of the parts skipped; len() is the count
    problems: list[str] = field(default_factory=list)  # what was wrong but survived, one line each

    @property
    def text(self) -> str:
        """What the classifier reads: the subject, a newline, the body."""
        return f"{self.subject}\n{self.body}"


@dataclass
class MailError:
    """A mail that could not be read at all; reported in its place, never dropped."""

    key: str
    reason: str


class _Raw(NamedTuple):
    key: str
    data: bytes
    problems: tuple[str, ...]  # found while cutting the mailbox (truncation, size cut)


# ---------------------------------------------------------------------------------------------
# The format layer: which layout, and the raw messages in it.


def mailbox_format(path: str | Path) -> str:
    """``"mbox"``, ``"maildir"``, ``"folder"`` or ``"eml"``; :class:`EdgeAIError` for anything else."""
    p = Path(path)
    try:
        if p.is_dir():
            if (p / "cur").is_dir() and (p / "new").is_dir():
                return "maildir"
            if _eml_files(p):
                return "folder"
            raise EdgeAIError(f"{p}: a folder that is neither a Maildir (cur/, new/) nor holds .eml files")
        if not p.exists():
            raise EdgeAIError(f"{p}: no such file or folder")
        with p.open("rb") as f:
            head = f.read(5)
    except OSError as e:
        raise EdgeAIError(f"{p}: cannot read ({e.strerror or e})") from None
    if head == b"From ":
        return "mbox"
    if p.suffix.lower() == ".eml":
        return "eml"
    if not head:
        return "mbox"  # an empty file is an empty mbox (a mail client's emptied inbox)
    raise EdgeAIError(f"{p}: not a mailbox; expected {_ACCEPTED}")


def count_mailbox(path: str | Path) -> int:
    """How many results :func:`read_mailbox` will yield, without parsing a mail (for a progress bar)."""
    p = Path(path)
    kind = mailbox_format(p)
    if kind == "mbox":
        with _mapped(p) as mm:
            return len(_mbox_separators(mm))
    if kind == "maildir":
        return len(_maildir_files(p))
    if kind == "folder":
        return len(_eml_files(p))
    return 1


def read_mailbox(path: str | Path) -> Iterator[Mail | MailError]:
    """Every mail of the mailbox at ``path``, in a stable order: a :class:`Mail` or a :class:`MailError`."""
    for raw in _raw_messages(path):
        yield raw if isinstance(raw, MailError) else _parse(raw)


def _raw_messages(path: str | Path) -> Iterator[_Raw | MailError]:
    p = Path(path)
    kind = mailbox_format(p)
    if kind == "mbox":
        yield from _mbox_messages(p)
    elif kind == "maildir":
        for key, file in _maildir_files(p):
            yield _read_file(key, file)
    elif kind == "folder":
        for key, file in _eml_files(p):
            yield _read_file(key, file)
    else:
        yield _read_file(p.name, p)


@contextmanager
def _mapped(path: Path) -> Iterator[mmap.mmap | bytes]:
    """A read-only memory map of the file (``b""`` for an empty one, which mmap refuses)."""
    try:
        with path.open("rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if os.fstat(f.fileno()).st_size else None
    except (OSError, ValueError) as e:
        raise EdgeAIError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    if mm is None:
        yield b""
        return
    with mm:
        yield mm


# A separator is a "From " line at the start of the file, or one after a blank line that looks like
# a postmark ("From sender Mon Jan  1 00:00:00 2024": a month, a time and a year). A body line such
# as "From what I hear..." that a writer forgot to escape stays in its mail; one that looks exactly
# like a postmark after a blank line cannot be told from a real separator and splits the mail.
_NEWLINE_FROM = re.compile(rb"\nFrom ")
_POSTMARK_MONTH = re.compile(rb"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b")
_POSTMARK_TIME = re.compile(rb"\b\d{1,2}:\d\d\b")
_POSTMARK_YEAR = re.compile(rb"\b(?:19|20)\d\d\b")
_QUOTED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)


def _mbox_separators(mm: mmap.mmap | bytes) -> list[tuple[int, int]]:
    """(end of the previous mail, start of this mail's first header line) for every mail."""
    out: list[tuple[int, int]] = []
    candidates = ([-1] if mm[:5] == b"From " else []) + [m.start() for m in _NEWLINE_FROM.finditer(mm)]
    for nl in candidates:  # nl: the newline before "From ", -1 at the start of the file
        eol = mm.find(b"\n", nl + 1)
        eol = len(mm) if eol < 0 else eol
        if nl >= 0:
            before = mm[max(nl - 2, 0) : nl]
            if not (before.endswith(b"\n") or before == b"\n\r"):  # the line before is not blank
                continue
            line = mm[nl + 1 : eol]
            if not (_POSTMARK_MONTH.search(line) and _POSTMARK_TIME.search(line) and _POSTMARK_YEAR.search(line)):
                continue
        out.append((nl + 1 if nl >= 0 else 0, min(eol + 1, len(mm))))
    return out


def _mbox_messages(path: Path) -> Iterator[_Raw | MailError]:
    with _mapped(path) as mm:
        seps = _mbox_separators(mm)
        for i, (_, start) in enumerate(seps):
            end = seps[i + 1][0] if i + 1 < len(seps) else len(mm)
            problems: list[str] = []
            if end - start > MAX_MESSAGE_BYTES:
                problems.append(_TOO_BIG)
                end = start + MAX_MESSAGE_BYTES
            elif i + 1 == len(seps) and end > start and mm[end - 1 : end] != b"\n":
                problems.append("mbox ends mid-line: the last mail looks truncated")
            data = _QUOTED_FROM.sub(rb"\1", mm[start:end])  # mboxrd: ">From " in a body was "From "
            yield _Raw(str(i), data, tuple(problems))


def _maildir_files(root: Path) -> list[tuple[str, Path]]:
    """(key, file) for the mails in new/ and cur/, sorted by key; the key is the unique name without ":2,flags"."""
    out: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for sub in ("new", "cur"):
        try:
            entries = sorted(os.scandir(root / sub), key=lambda e: e.name)
        except OSError as e:
            raise EdgeAIError(f"{root / sub}: cannot list the Maildir folder ({e.strerror or e})") from None
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file():
                continue
            key = entry.name.split(":", 1)[0]
            if key in seen:  # the same unique name in new/ and cur/: keep both, told apart
                key = f"{sub}/{entry.name}"
            seen.add(key)
            out.append((key, Path(entry.path)))
    return sorted(out)


def _eml_files(root: Path) -> list[tuple[str, Path]]:
    """(path relative to the folder, file) for every .eml file below ``root``, sorted."""
    try:
        found = [(p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.suffix.lower() == ".eml"]
    except OSError as e:
        raise EdgeAIError(f"{root}: cannot list the folder ({e.strerror or e})") from None
    return sorted((key, p) for key, p in found if p.is_file())


def _read_file(key: str, path: Path) -> _Raw | MailError:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_MESSAGE_BYTES + 1)
    except OSError as e:
        return MailError(key, f"cannot read {path}: {e.strerror or e}")
    problems: list[str] = []
    if len(data) > MAX_MESSAGE_BYTES:
        data = data[:MAX_MESSAGE_BYTES]
        problems.append(_TOO_BIG)
    elif data and not data.endswith(b"\n"):
        problems.append("file ends mid-line: the mail looks truncated")
    return _Raw(key, data, tuple(problems))


# ---------------------------------------------------------------------------------------------
# The parse layer: one message's bytes to a Mail.

if TYPE_CHECKING:
    _EmailPolicy = EmailPolicy[EmailMessage]
else:
    _EmailPolicy = EmailPolicy  # not subscriptable at run time


class _MemoPolicy(_EmailPolicy):
    """``email.policy.default`` with its parsed headers memoized.

    The parser and every ``get_content_type()`` re-parse a header from its text each time they read it;
    the same Content-Type is read a dozen times per part. Header objects are immutable, so one parse
    per distinct (name, value) gives the same results, about three times faster. Parsing costs about
    10 ms per 1,000 characters of an address list, so a header is parsed only up to
    :data:`_MAX_PARSED_HEADER` characters (a spam with a megabyte subject would take 15 s).
    """

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name"):
            return value
        value = value[:_MAX_PARSED_HEADER]
        if len(value) > _MAX_MEMO_HEADER:
            return policy.default.header_fetch_parse(name, value)
        return _fetch_header(name, value)


@lru_cache(maxsize=1024)
def _fetch_header(name: str, value: str) -> Any:
    return policy.default.header_fetch_parse(name, value)


_PARSER: BytesParser[EmailMessage] = BytesParser(policy=_MemoPolicy())


def _parse_bytes(data: bytes) -> MIMEPart:
    return _PARSER.parsebytes(data)


def parse_message(data: bytes, key: str = "") -> Mail | MailError:
    """One message (RFC 5322 bytes) as a :class:`Mail`, or a :class:`MailError` if nothing is readable."""
    return _parse(_Raw(key, data, ()))


def _parse(raw: _Raw) -> Mail | MailError:
    if not raw.data.strip():
        return MailError(raw.key, "empty message: no headers and no body")
    try:
        return _Extractor(raw).mail()
    except _Unreadable as e:
        return MailError(raw.key, str(e))
    except Exception as e:  # hostile input can make the email package raise anything
        return MailError(raw.key, f"unreadable message: {type(e).__name__}: {_cut(str(e), 200)}")


class _Unreadable(Exception):
    pass


_DEFECTS = {
    "NoBoundaryInMultipartDefect": "broken MIME structure: multipart without a boundary",
    "StartBoundaryNotFoundDefect": "broken MIME structure: the declared boundary never appears",
    "CloseBoundaryNotFoundDefect": "broken MIME structure: boundary never closed (truncated mail?)",
    "MultipartInvariantViolationDefect": "broken MIME structure: multipart without parts",
    "InvalidMultipartContentTransferEncodingDefect": "broken MIME structure: multipart with a transfer encoding",
    "FirstHeaderLineIsContinuationDefect": "bad headers: the first header line is a continuation",
    "MissingHeaderBodySeparatorDefect": "bad headers: a line in the header block is not a header",
    "MisplacedEnvelopeHeaderDefect": "bad headers: a 'From ' envelope line among the headers",
    "InvalidBase64PaddingDefect": "bad base64 in a part: wrong padding",
    "InvalidBase64CharactersDefect": "bad base64 in a part: invalid characters skipped",
    "InvalidBase64LengthDefect": "bad base64 in a part: data cut short",
}
_SALVAGED = ("NoBoundaryInMultipartDefect", "StartBoundaryNotFoundDefect", "MultipartInvariantViolationDefect")

# Charset labels seen in mail that Python does not know by that name, and codecs that are no charset.
_CHARSET_ALIASES = {
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "x-user-defined": "cp1252",
    "unicode-1-1-utf-7": "utf-7",
    "x-sjis": "shift_jis",
    "ansi_x3.4-1968": "ascii",
}
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined"})
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")
_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")
_BOUNDARY_LINE = re.compile(rb"^--([^\s\"]{1,70})[ \t]*\r?$", re.MULTILINE)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_INVISIBLE = re.compile("[\u00ad\u034f\u200b-\u200d\u2060\ufeff]")
_TAG = re.compile(r"<[A-Za-z/!?][^>]*>?")
_BLANK_LINES = re.compile(r"\n{3,}")


def _cut(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


@lru_cache(maxsize=256)
def _codec(charset: str) -> str | None:
    """The Python codec for a MIME charset label, or None if there is none."""
    name = charset.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        codec = codecs.lookup(name).name
        b"a".decode(codec, "ignore")  # LookupError for codecs that are no text encoding (base64, zlib, rot13)
    except (LookupError, ValueError):
        return None
    return None if codec in _NOT_CHARSETS else codec


def _subparts(part: MIMEPart) -> list[MIMEPart]:
    """The parts of a multipart, or the message inside a message/rfc822 part."""
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, MIMEPart)] if isinstance(payload, list) else []


def _part_bytes(part: MIMEPart) -> bytes:
    """A leaf part's payload with its transfer encoding (base64, quoted-printable) undone."""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


class _Extractor:
    """Walks one message, gathering text segments, attachment names and problems."""

    def __init__(self, raw: _Raw) -> None:
        self.raw = raw
        self.problems: list[str] = []
        self.dropped = 0
        self.segments: list[tuple[str, str]] = []  # (kind, text); kind is "plain", "html" or "any"
        self.attachments: list[str] = []
        for p in raw.problems:
            self.note(p)

    def note(self, problem: str) -> None:
        problem = _cut(" ".join(problem.split()), 200)
        if problem in self.problems:
            return
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.dropped += 1

    def mail(self) -> Mail:
        msg = self._message(self.raw.data)
        if not msg.keys() and b"\0" in self.raw.data[:4096]:
            raise _Unreadable("not a mail: binary data without any header")
        message_id = self.header(msg, "Message-ID")
        if not message_id:
            self.note("no Message-ID")
        mail = Mail(
            key=self.raw.key,
            message_id=message_id,
            subject=self.header(msg, "Subject"),
            sender=self.header(msg, "From"),
            date=self.header(msg, "Date"),
        )
        self.walk(msg, 0)
        mail.body = self.body()
        if not mail.body:
            self.note("empty body")
        mail.attachments = self.attachments
        if self.dropped:
            self.problems.append(f"... and {self.dropped} more problems")
        mail.problems = self.problems
        return mail

    def _message(self, data: bytes) -> MIMEPart:
        msg = _parse_bytes(data)
        if any(isinstance(d, email_errors.MissingHeaderBodySeparatorDefect) for d in msg.defects):
            fixed, dropped = _drop_stray_header_lines(data)
            if dropped:
                self.note(f"garbage header line dropped: {_cut(dropped.decode('utf-8', 'replace'), 60)!r}")
                msg = _parse_bytes(fixed)
        return msg

    # -- headers

    def header(self, msg: MIMEPart, name: str) -> str:
        try:
            value = msg.get(name)
        except Exception as e:  # a header the policy cannot parse is read raw
            self.note(f"unparseable {name} header ({type(e).__name__}): read as raw text")
            text = self._decode_words(self._raw_header(msg, name), name)
        else:
            if value is None:
                return ""
            text = str(value)
            for d in getattr(value, "defects", ()):
                # raw bytes are handled below, with their charset; obsolete syntax is still read right
                if not isinstance(d, (email_errors.UndecodableBytesDefect, email_errors.ObsoleteHeaderDefect)):
                    self.note(f"bad {name} header: {d}")
            if "\ufffd" in text or _ESCAPED_BYTES.search(text):  # policy.default gave up on some bytes
                raw = self._raw_header(msg, name)
                if "\ufffd" not in raw:
                    text = self._decode_words(raw, name)
        text = _clean(" ".join(text.split()))
        if len(text) > MAX_HEADER_CHARS or len(self._raw_header(msg, name)) > _MAX_PARSED_HEADER:
            self.note(f"{name} header over {MAX_HEADER_CHARS} characters: cut")
            text = text[:MAX_HEADER_CHARS]
        return text

    @staticmethod
    def _raw_header(msg: MIMEPart, name: str) -> str:
        for k, v in msg.raw_items():
            if k.lower() == name.lower():
                return str(v)[: _MAX_PARSED_HEADER + 1]
        return ""

    def _decode_words(self, raw: str, name: str) -> str:
        """A header's RFC 2047 encoded words and raw 8-bit bytes decoded, with a fallback per charset."""
        out: list[str] = []
        pos = 0
        for m in _ENCODED_WORD.finditer(raw):
            between = raw[pos : m.start()]
            if pos == 0 or between.strip():  # whitespace between two encoded words is dropped
                out.append(self._unescape_bytes(between, name))
            charset, enc, text = m.groups()
            data = text.encode("utf-8", "surrogateescape")
            try:
                if enc in "qQ":
                    data = _Q_ESCAPE.sub(lambda h: bytes([int(h.group(1), 16)]), data.replace(b"_", b" "))
                else:
                    data = base64.b64decode(data.rstrip(b"=") + b"=" * (-len(data.rstrip(b"=")) % 4))
            except (binascii.Error, ValueError):
                self.note(f"bad encoded word in {name} header: kept as written")
                data = m.group(0).encode("utf-8", "surrogateescape")
                charset = "utf-8"
            out.append(self.decode(data, charset, f"{name} header"))
            pos = m.end()
        out.append(self._unescape_bytes(raw[pos:], name))
        return "".join(out)

    def _unescape_bytes(self, s: str, name: str) -> str:
        """Raw 8-bit bytes in a header (kept as surrogates by the parser): utf-8 if they are, else latin-1."""

        def fix(m: re.Match[str]) -> str:
            data = m.group(0).encode("utf-8", "surrogateescape")
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                self.note(f"8-bit bytes in {name} header that are not utf-8: decoded as latin-1")
                return data.decode("latin-1")

        return _ESCAPED_BYTES.sub(fix, s)

    # -- bodies

    def decode(self, data: bytes, charset: str, where: str) -> str:
        codec = _codec(charset)
        if codec is None:
            self.note(f"undecodable charset {_cut(charset, 40)} in {where}: decoded as latin-1 with replacement")
            return data.decode("latin-1", "replace")
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
        if codec == "ascii":  # undeclared or us-ascii, yet 8-bit: utf-8 is by far the likeliest
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                self.note(f"8-bit bytes in us-ascii {where}: decoded as latin-1")
                return data.decode("latin-1")
            self.note(f"8-bit bytes in us-ascii {where}: decoded as utf-8")
            return text
        self.note(f"undecodable bytes in {charset} {where}: replaced with U+FFFD")
        return data.decode(codec, "replace")

    def defects(self, part: MIMEPart, skip: tuple[str, ...] = ()) -> None:
        for d in part.defects:
            name = type(d).__name__
            if name not in skip:
                self.note(_DEFECTS.get(name, f"{name}: {d}" if str(d) else name))

    def walk(self, part: MIMEPart, depth: int) -> None:
        if depth > MAX_MIME_DEPTH:
            self.note(f"MIME nesting deeper than {MAX_MIME_DEPTH}: the deeper parts skipped")
            return
        try:
            self._walk(part, depth)
        except (RecursionError, MemoryError):
            raise
        except Exception as e:  # one bad part must not cost the others
            self.note(f"unreadable MIME part {part.get_content_type()}: {type(e).__name__}: {_cut(str(e), 80)}")

    def _walk(self, part: MIMEPart, depth: int) -> None:
        ctype = part.get_content_type()
        if part.is_multipart():
            self.defects(part)
            if ctype.startswith("message/"):
                if part.get_content_disposition() == "attachment":
                    self.attachments.append(part.get_filename() or "forwarded message")
                    return
                for inner in _subparts(part):
                    forwarded = [f"{h}: {v}" for h in ("From", "Subject") if (v := self.header(inner, h))]
                    self.segments.append(("any", "\n".join(forwarded)))
                    self.walk(inner, depth + 1)
                return
            for sub in _subparts(part):
                self.walk(sub, depth + 1)
            return
        if ctype.startswith("multipart/"):
            self._salvage_multipart(part, ctype, depth)
            return
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        if (
            disposition == "attachment"
            or ctype not in ("text/plain", "text/html")
            or (filename is not None and disposition != "inline")
        ):
            self.attachments.append(_clean(filename) if filename else f"unnamed {ctype}")
            self.defects(part)
            return
        data = _part_bytes(part)
        self.defects(part)  # after decoding: base64 defects are found then
        text = self.decode(data, part.get_content_charset() or "us-ascii", "body")
        if ctype == "text/html":
            if len(text) > MAX_HTML_CHARS:
                self.note(f"long HTML part: only the first {MAX_HTML_CHARS} characters read")
                text = text[:MAX_HTML_CHARS]
            self.segments.append(("html", self._html(text)))
        else:
            self.segments.append(("plain", text))

    def _salvage_multipart(self, part: MIMEPart, ctype: str, depth: int) -> None:
        """A multipart the parser could not split (no boundary, or not the one declared)."""
        self.defects(part, skip=_SALVAGED)
        data = _part_bytes(part)
        m = _BOUNDARY_LINE.search(data)
        if m is not None:
            boundary = m.group(1)
            inner = _parse_bytes(b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\n\n' + data)
            if inner.is_multipart():
                self.note(f"broken MIME structure: {ctype} without a usable boundary; found one in the body")
                self.defects(inner)
                for sub in _subparts(inner):
                    self.walk(sub, depth + 1)
                return
        self.note(f"broken MIME structure: {ctype} without a usable boundary; read as plain text")
        self.segments.append(("plain", self.decode(data, part.get_content_charset() or "us-ascii", "body")))

    def _html(self, html: str) -> str:
        try:
            return html_to_text(html)
        except Exception as e:  # html.parser is lenient, but never trust it with spam
            self.note(f"HTML could not be parsed ({type(e).__name__}): tags stripped crudely")
            return _tidy(_TAG.sub(" ", html))

    def body(self) -> str:
        has_plain = any(kind == "plain" and text.strip() for kind, text in self.segments)
        keep = ("plain", "any") if has_plain else ("html", "any")
        body = "\n\n".join(text for kind, text in self.segments if kind in keep and text.strip())
        size = len(body)
        body = _tidy(body[: 4 * MAX_BODY_CHARS])  # tidying only shrinks; no need to tidy what is cut anyway
        if size > MAX_BODY_CHARS and (size > 4 * MAX_BODY_CHARS or len(body) > MAX_BODY_CHARS):
            self.note(f"long body: cut to {MAX_BODY_CHARS} characters (was {size})")
            body = body[:MAX_BODY_CHARS].rstrip()
        return body


def _drop_stray_header_lines(data: bytes) -> tuple[bytes, bytes]:
    """The message without the non-header lines that sit between two header lines, and the first one dropped.

    The parser ends the header block at the first line that is not a header, so everything after a
    garbage line (Content-Type included) would become body. Lines are dropped only when a header
    comes before and after them; a mail that simply lacks the blank line after its headers is left alone.
    """
    m = re.search(rb"\r?\n\r?\n", data)
    head, rest = (data[: m.start()], data[m.start() :]) if m else (data, b"")
    lines = head.split(b"\n")
    is_header = [bool(_HEADER_LINE.match(line)) for line in lines]
    first = next((i for i, h in enumerate(is_header) if h), len(lines))
    last = max((i for i, h in enumerate(is_header) if h), default=-1)
    kept: list[bytes] = []
    dropped: list[bytes] = []
    for i, line in enumerate(lines):
        stray = not is_header[i] and line[:1] not in (b" ", b"\t") and first < i < last
        if stray:
            dropped.append(line.rstrip(b"\r"))
        else:
            kept.append(line)
    return b"\n".join(kept) + rest, dropped[0] if dropped else b""


def _clean(s: str) -> str:
    """No control characters, no lone surrogates: safe for a classifier, a terminal and a UTF-8 file."""
    return _CONTROL.sub("", s)


def _tidy(text: str) -> str:
    """Line endings unified, invisible and control characters gone, runs of spaces and of blank lines collapsed."""
    text = _clean(_INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n")))
    text = "\n".join(" ".join(line.split()) for line in text.split("\n"))  # split(): any Unicode space
    return _BLANK_LINES.sub("\n\n", text).strip()


class _HTMLText(HTMLParser):
    """The words of an HTML document: no script, style or head; block elements become line breaks."""

    SKIP = frozenset({"script", "style", "title", "template"})
    HEAD = frozenset({"title", "meta", "link", "style", "script", "base", "noscript", "template"})
    BREAK = frozenset(
        "br p div li tr h1 h2 h3 h4 h5 h6 ul ol table blockquote hr pre section article header footer dt dd center"
        " form address".split()
    )
    CELL = frozenset({"td", "th"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping: list[str] = []
        self.in_head = False
        self.closing = False
        self.tail: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "head":
            self.in_head = True
        elif self.in_head and tag not in self.HEAD:  # a head never closed ends where the body starts
            self.in_head = False
        if tag in self.SKIP:
            self.skipping.append(tag)
        elif tag in self.BREAK:
            self.out.append("\n")
        elif tag in self.CELL:
            self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_head = False
        elif tag in self.SKIP and tag in self.skipping:
            while self.skipping.pop() != tag:
                pass
        elif tag in self.BREAK:
            self.out.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.SKIP:  # <script/> opens nothing
            self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if not self.skipping and not self.in_head:
            (self.tail if self.closing else self.out).append(data)

    def close(self) -> None:
        self.closing = True  # what is left is text, or an unfinished tag or comment handed over as data
        super().close()
        self.out.append(_TAG.sub(" ", "".join(self.tail)))


def html_to_text(html: str) -> str:
    """HTML reduced to its text: scripts, styles and the head dropped, link text kept, block elements
    (br, p, div, li, tr, ...) turned into line breaks, entities unescaped, whitespace collapsed."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    return _tidy("".join(parser.out))


# ---------------------------------------------------------------------------------------------
# Results.


def result_row(
    item: Mail | MailError, label: str = "", confidence: float | None = None, side: str = ""
) -> dict[str, object]:
    """One row for :func:`write_results`; ``side`` is "board" or "laptop" (always "" for a MailError)."""
    if isinstance(item, MailError):
        row: dict[str, object] = dict.fromkeys(RESULT_COLUMNS, "")
        return row | {"key": item.key, "confidence": None, "problems": [], "error": item.reason}
    return {
        "key": item.key,
        "message_id": item.message_id,
        "subject": item.subject,
        "label": label,
        "confidence": confidence,
        "side": side,
        "problems": list(item.problems),
        "error": "",
    }


def _columns(rows: Sequence[Mapping[str, object]]) -> list[str]:
    columns = list(RESULT_COLUMNS)
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    return columns


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    return str(value)


def _json_value(value: object) -> object:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return _json_value(item())
    return str(value)


def write_results(path: str | Path, rows: Sequence[Mapping[str, object]]) -> None:
    """Triage results as CSV, JSON (one array) or JSON Lines, chosen by the suffix; UTF-8.

    Columns: :data:`RESULT_COLUMNS`, then any other keys the rows carry, in the order first seen.
    A missing value is written empty (CSV) or null (JSON); ``problems`` is a list in JSON and joined
    with "; " in CSV. The file is written beside and renamed into place, so a crash leaves no half file.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".json", ".jsonl"):
        raise EdgeAIError(f"{p}: results are written as .csv, .json or .jsonl")
    columns = _columns(rows)
    tmp = p.with_name(p.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as f:
            if suffix == ".csv":
                writer = csv.writer(f)
                writer.writerow(columns)
                writer.writerows([_csv_cell(row.get(c)) for c in columns] for row in rows)
            elif suffix == ".json":
                records = [{c: _json_value(row.get(c)) for c in columns} for row in rows]
                json.dump(records, f, ensure_ascii=False, indent=1, allow_nan=False)
                f.write("\n")
            else:
                for row in rows:
                    record = {c: _json_value(row.get(c)) for c in columns}
                    f.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
        os.replace(tmp, p)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise EdgeAIError(f"{p}: cannot write results ({e.strerror or e})") from None
