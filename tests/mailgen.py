"""Generated mailboxes for the mail reader's tests and the triage benchmark.

``make_mbox``, ``make_maildir`` and ``make_eml_folder`` write the same ``n`` mails (for one seed)
in three layouts: realistic ham and spam (plain text, HTML only, multipart/alternative, with
attachments, RFC 2047 subjects, utf-8 and iso-8859-1 bodies, long bodies, a forwarded message,
CRLF line endings) and one of each malformed kind in :data:`MALFORMED_KINDS`. Every readable mail
carries its ground truth in an ``X-Edgeai-Truth: spam|ham`` header; each function returns a
summary whose keys are the keys :func:`edgeai.mail.read_mailbox` gives those mails.

    python -m tests.mailgen out.mbox --n 300 --seed 0 [--format mbox|maildir|folder]
"""

from __future__ import annotations

import argparse
import base64
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

NORMAL_KINDS = ("plain", "html", "alternative", "attachment", "intl_subject", "latin1_body", "long", "forward", "crlf")
MALFORMED_KINDS = (
    "no_boundary",  # Content-Type multipart/mixed without a boundary parameter
    "unclosed_boundary",  # the closing --boundary-- never comes
    "unknown_charset",  # charset=x-unknown in the body and in an RFC 2047 subject
    "bad_utf8",  # bytes invalid in the declared utf-8
    "empty_body",  # headers and nothing after them
    "no_message_id",
    "garbage_header",  # a line without a colon in the middle of the headers
    "no_content_type",  # no MIME headers at all: text/plain us-ascii
    "bad_base64",  # a base64 body with invalid characters
    "from_escaped",  # a body line "From ..." (written ">From ..." in the mbox, as mbox convention wants)
    "from_unescaped",  # a body line "From ..." after a blank line, left unescaped in the mbox
    "unreadable",  # nothing at all: an empty mbox entry or a 0-byte file (the one MailError)
    "truncated",  # the last mail, cut in the middle of its attachment
)

# Text the tests look for.
PHRASES = {
    "no_boundary": "The quarterly numbers are in the attached file.",
    "unclosed_boundary": "Please find the signed contract below.",
    "unknown_charset": "Le café est prêt, venez goûter la crème brûlée.",
    "bad_utf8": "Invoice total is due on Friday.",
    "garbage_header": "Your weekly digest is ready",
    "no_content_type": "Plain old mail without any MIME headers.",
    "bad_base64": "hello from a sloppy base64 encoder",
    "from_escaped": "From the archives: the 2019 offsite agenda.",
    "from_unescaped": "From what I hear, the launch moved to Friday.",
    "truncated": "The draft is attached, the attachment got cut.",
    "forward": "FYI, forwarding this one.",
    "html_link": "Claim your reward",
}
UNKNOWN_CHARSET_SUBJECT = "Café crème tasting"
ATTACHMENT_MARKER = "ATTACHMENTONLYWORDS"  # only inside attachments: must never reach the text
HIDDEN_MARKERS = ("HEADSECRET", "STYLESECRET", "SCRIPTSECRET")  # only in <title>, <style>, <script>
INTL_SUBJECTS = (
    "Réunion de l'équipe – mardi 10h",
    "Grüße aus München",
    "Счёт на оплату № 4411",
    "会議のお知らせ",
    "¡Oferta exclusiva! 90% de descuento 🎉",
    "Zoë's birthday 🎂 — who's in?",
)

HAM_SENDERS = (
    "Alice Martin <alice.martin@example.org>",
    "Bob Chen <bob@eng.example.com>",
    "José Álvarez <jose@example.es>",
    "Zoë Müller <zoe@example.de>",
    "Acme Hosting Billing <billing@acme-hosting.example>",
)
SPAM_SENDERS = (
    "Prize Center <winner@prizes.example.biz>",
    "Security Team <security@paypa1-verify.example>",
    "Dr. Meds <sales@cheap-rx.example.ru>",
    "Crypto Gains <invest@moonshot.example>",
)
HAM_SUBJECTS = (
    "Re: Q3 budget review",
    "Meeting notes, {day}",
    "Dinner on {day}?",
    "Your invoice #{n} from Acme Hosting",
    "PR #{n}: fix flaky test in the parser",
    "Flight itinerary for {city}",
    "Weekly report",
    "Photos from the weekend",
    "Lunch tomorrow?",
)
SPAM_SUBJECTS = (
    "You have WON a $1,000 gift card!!!",
    "URGENT: verify your account now",
    "Cheap meds, no prescription needed",
    "Make $5000/week from home",
    "Your package #{n} could not be delivered",
    "Crypto opportunity: 300% returns in {day}",
    "Hot singles in {city} want to meet you",
)
HAM_SENTENCES = (
    "Thanks for sending the slides over.",
    "I moved our sync to {day} afternoon so Bob can join.",
    "The build on main is green again after the parser fix.",
    "Can you review the budget sheet before the meeting?",
    "We booked the table for seven people at eight.",
    "The invoice for March is attached to your account page.",
    "Let me know if the new schedule works for you.",
    "The kids loved the trip to {city}, photos are in the shared album.",
    "I left some comments on the design doc.",
    "Our flight lands in {city} at 6:40, see you at the hotel.",
    "Please remember to submit your expense report by Friday.",
    "The test suite now runs in four minutes instead of twelve.",
)
SPAM_SENTENCES = (
    "Congratulations, you have been selected to receive an exclusive reward.",
    "Click the link below to claim your prize before it expires.",
    "Your account has been suspended, verify your identity immediately.",
    "Buy now and save 90% on all medications, no prescription required.",
    "Earn thousands every week working from home, no experience needed.",
    "This is not a scam, thousands of people already doubled their money.",
    "Limited time offer, act now or lose this opportunity forever.",
    "Send us your bank details to release the delivery of your package.",
    "Invest in our new coin today and retire next year.",
    "Unsubscribe is not necessary, this is a one-time offer just for you.",
)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
CITIES = ("Lisbon", "Osaka", "Denver", "Kraków", "Montréal")

_MIN_N = len(MALFORMED_KINDS) + len(NORMAL_KINDS)


@dataclass(frozen=True)
class GenMail:
    kind: str
    truth: str | None  # None for the unreadable one
    data: bytes
    escape: bool = True  # in an mbox, escape body lines starting with "From "
    sender: str = "sender@example.com"
    date: datetime = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _fill(rng: random.Random, template: str) -> str:
    return template.format(day=rng.choice(DAYS), city=rng.choice(CITIES), n=rng.randint(1000, 9999))


def _body(rng: random.Random, truth: str, paragraphs: int = 2) -> str:
    pool = SPAM_SENTENCES if truth == "spam" else HAM_SENTENCES
    paras = [" ".join(_fill(rng, s) for s in rng.sample(pool, rng.randint(2, 4))) for _ in range(paragraphs)]
    return "Hi,\n\n" + "\n\n".join(paras) + "\n\n-- \nSent from my laptop\n"


def _html(rng: random.Random, truth: str) -> str:
    pool = SPAM_SENTENCES if truth == "spam" else HAM_SENTENCES
    items = "".join(f"<li>{_fill(rng, s)}</li>" for s in rng.sample(pool, 2))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>HEADSECRET newsletter</title>"
        "<style>.promo { color: red; } /* STYLESECRET */</style></head>"
        "<body><script>var tracking = 'SCRIPTSECRET';</script>"
        f"<div class='promo'><p>Dear customer,<br>{_fill(rng, rng.choice(pool))}</p>"
        f"<ul>{items}</ul>"
        "<table><tr><td>Caf&eacute; &amp; cr&egrave;me</td><td>&euro;&nbsp;4.50</td></tr></table>"
        f"<p><a href='https://example.com/claim?id=1&amp;x=2'>{PHRASES['html_link']}</a> &mdash; "
        "it&#8217;s 100% free &lt;really&gt;</p></div></body></html>"
    )


def _subject(rng: random.Random, truth: str) -> str:
    return _fill(rng, rng.choice(SPAM_SUBJECTS if truth == "spam" else HAM_SUBJECTS))


def _sender(rng: random.Random, truth: str) -> str:
    return rng.choice(SPAM_SENDERS if truth == "spam" else HAM_SENDERS)


def _message(rng: random.Random, i: int, seed: int, truth: str, subject: str, date: datetime) -> EmailMessage:
    msg = EmailMessage(policy=policy.default)
    msg["From"] = _sender(rng, truth)
    msg["To"] = "me@example.org"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{i}.{seed}@mailgen.example>"
    msg["X-Edgeai-Truth"] = truth
    return msg


def _raw_head(i: int, seed: int, truth: str, subject: str, date: datetime, extra: str = "") -> bytes:
    return (
        f"From: Someone <someone@example.net>\nTo: me@example.org\nSubject: {subject}\n"
        f"Date: {format_datetime(date)}\nMessage-ID: <{i}.{seed}@mailgen.example>\nX-Edgeai-Truth: {truth}\n"
        f"{extra}"
    ).encode()


def _normal(rng: random.Random, kind: str, i: int, seed: int, truth: str, date: datetime) -> bytes:
    subject = rng.choice(INTL_SUBJECTS) if kind == "intl_subject" else _subject(rng, truth)
    msg = _message(rng, i, seed, truth, subject, date)
    if kind == "html":
        msg.set_content(_html(rng, truth), subtype="html")
    elif kind == "alternative":
        msg.set_content(_body(rng, truth))
        msg.add_alternative(_html(rng, truth), subtype="html")
    elif kind == "attachment":
        msg.set_content(_body(rng, truth))
        msg.add_attachment(rng.randbytes(3000), maintype="application", subtype="pdf", filename=f"invoice-{i}.pdf")
        msg.add_attachment(f"{ATTACHMENT_MARKER} private notes\n", filename="notes.txt")
        msg.add_attachment(rng.randbytes(500), maintype="image", subtype="png", filename="logo.png")
    elif kind == "intl_subject":
        msg.set_content(_body(rng, truth) + "\nÀ bientôt, Zoë — 再见 🙂\n")
    elif kind == "latin1_body":
        msg.set_content(_body(rng, truth) + "\nMerci beaucoup, à très bientôt. Grüße, Jürgen\n", charset="iso-8859-1")
    elif kind == "long":
        msg.set_content(_body(rng, truth, paragraphs=400))
    elif kind == "forward":
        inner = _message(rng, i, seed, truth, _subject(rng, truth), date)
        del inner["X-Edgeai-Truth"]
        inner.set_content(_body(rng, truth))
        inner.add_alternative(_html(rng, truth), subtype="html")
        msg.set_content(PHRASES["forward"] + "\n")
        fwd = EmailMessage(policy=policy.default)
        fwd.set_content(inner)
        msg.make_mixed()
        msg.attach(fwd)
    else:  # plain, crlf
        msg.set_content(_body(rng, truth))
    data = msg.as_bytes()
    return data.replace(b"\n", b"\r\n") if kind == "crlf" else data


def _malformed(rng: random.Random, kind: str, i: int, seed: int, truth: str, date: datetime) -> GenMail:
    subject = _subject(rng, truth)
    head = _raw_head(i, seed, truth, subject, date, "MIME-Version: 1.0\n")
    blob = base64.encodebytes(rng.randbytes(1500)).decode()
    data: bytes
    escape = True
    if kind == "no_boundary":
        data = (
            head
            + (
                "Content-Type: multipart/mixed\n\n"
                f"--XYZ\nContent-Type: text/plain; charset=utf-8\n\n{PHRASES[kind]}\n"
                f'--XYZ\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename="data.bin"\n'
                f"Content-Transfer-Encoding: base64\n\n{blob}--XYZ--\n"
            ).encode()
        )
    elif kind == "unclosed_boundary":
        data = (
            head
            + (
                'Content-Type: multipart/mixed; boundary="b1"\n\n'
                f"--b1\nContent-Type: text/plain\n\n{PHRASES[kind]}\n"
                f'--b1\nContent-Type: application/pdf; name="contract.pdf"\nContent-Transfer-Encoding: base64\n\n{blob}'
            ).encode()
        )
    elif kind == "unknown_charset":
        head = _raw_head(i, seed, truth, "=?x-unknown?q?Caf=E9_cr=E8me?= tasting", date, "MIME-Version: 1.0\n")
        data = head + b"Content-Type: text/plain; charset=x-unknown\nContent-Transfer-Encoding: 8bit\n\n"
        data += (PHRASES[kind] + "\n").encode("latin-1")
    elif kind == "bad_utf8":
        data = head + b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        data += b"Gr\xc3\xbc\xc3\x9fe! Amount: 100 \xff\xfe EUR.\n" + PHRASES[kind].encode() + b"\n"
    elif kind == "empty_body":
        data = head + b"Content-Type: text/plain; charset=utf-8\n\n"
    elif kind == "no_message_id":
        msg = _message(rng, i, seed, truth, subject, date)
        del msg["Message-ID"]
        msg.set_content(_body(rng, truth))
        data = msg.as_bytes()
    elif kind == "garbage_header":
        data = (
            f"From: News <news@example.net>\nSubject: {PHRASES[kind]}\nthis line is garbage without a colon\n"
            f"Date: {format_datetime(date)}\nMessage-ID: <{i}.{seed}@mailgen.example>\nX-Edgeai-Truth: {truth}\n"
            "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"
            f"<html><body><p>{PHRASES[kind]} &amp; waiting.</p><p>{_fill(rng, HAM_SENTENCES[0])}</p></body></html>\n"
        ).encode()
    elif kind == "no_content_type":
        data = _raw_head(i, seed, truth, subject, date) + f"\n{PHRASES[kind]}\n{_body(rng, truth)}".encode()
    elif kind == "bad_base64":
        encoded = base64.b64encode((PHRASES[kind] + "\n").encode()).decode()
        broken = encoded[:8] + "!!*" + encoded[8:]
        data = head + b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        data += f"{broken}\n".encode()
    elif kind in ("from_escaped", "from_unescaped"):
        data = head + b"Content-Type: text/plain; charset=utf-8\n\n"
        data += f"{_body(rng, truth)}\n{PHRASES[kind]}\nBye.\n".encode()
        escape = kind == "from_escaped"
    elif kind == "truncated":
        data = (
            head
            + (
                'Content-Type: multipart/mixed; boundary="cut"\n\n'
                f"--cut\nContent-Type: text/plain; charset=utf-8\n\n{PHRASES[kind]}\n"
                f'--cut\nContent-Type: application/pdf\nContent-Disposition: attachment; filename="draft.pdf"\n'
                f"Content-Transfer-Encoding: base64\n\n{blob}--cut--\n"
            ).encode()
        )
        cut = data.index(b"draft.pdf") + 200
        data = data[:cut].rstrip(b"\n")  # mid-line, mid-attachment
    elif kind == "unreadable":
        return GenMail(kind, None, b"", date=date)
    else:
        raise ValueError(f"unknown kind {kind}")
    return GenMail(kind, truth, data, escape=escape, date=date)


def generate(n: int = 300, seed: int = 0) -> list[GenMail]:
    """The mails, in order: one of each malformed kind (the truncated one last), the rest normal."""
    return list(_generate(n, seed))


@lru_cache(maxsize=4)
def _generate(n: int, seed: int) -> tuple[GenMail, ...]:  # building mails is slow; the three layouts share them
    if n < _MIN_N:
        raise ValueError(f"n must be at least {_MIN_N} to hold every kind")
    rng = random.Random(seed)
    special = rng.sample(range(n - 1), len(MALFORMED_KINDS) - 1)
    kinds = [""] * n
    for pos, kind in zip(special, MALFORMED_KINDS[:-1], strict=True):
        kinds[pos] = kind
    kinds[n - 1] = "truncated"
    normal = [k for k in range(n) if not kinds[k]]
    for pos, kind in zip(normal, NORMAL_KINDS, strict=False):  # every normal kind at least once
        kinds[pos] = kind
    for pos in normal[len(NORMAL_KINDS) :]:
        kinds[pos] = rng.choices(NORMAL_KINDS, weights=(6, 3, 4, 2, 2, 1, 1, 1, 1))[0]
    start = datetime(2024, 1, 1, 8, 0, tzinfo=timezone.utc)
    mails: list[GenMail] = []
    for i, kind in enumerate(kinds):
        truth = "spam" if rng.random() < (0.7 if kind == "html" else 0.35) else "ham"
        date = start + timedelta(minutes=37 * i + rng.randint(0, 30))
        if kind in NORMAL_KINDS:
            mails.append(GenMail(kind, truth, _normal(rng, kind, i, seed, truth, date), date=date))
        else:
            mails.append(_malformed(rng, kind, i, seed, truth, date))
        mails[-1] = replace(mails[-1], sender=_sender(rng, truth).split("<")[1].rstrip(">"))  # for the postmark
    return tuple(mails)


def _summary(fmt: str, path: Path, mails: list[GenMail], keys: list[str]) -> dict[str, Any]:
    truth = {k: m.truth for k, m in zip(keys, mails, strict=True) if m.truth is not None}
    return {
        "format": fmt,
        "path": str(path),
        "n": len(mails),
        "spam": sum(1 for t in truth.values() if t == "spam"),
        "ham": sum(1 for t in truth.values() if t == "ham"),
        "unreadable": sum(1 for m in mails if m.truth is None),
        "kinds": dict(Counter(m.kind for m in mails)),
        "kind": {k: m.kind for k, m in zip(keys, mails, strict=True)},
        "truth": truth,
        "malformed": {k: m.kind for k, m in zip(keys, mails, strict=True) if m.kind in MALFORMED_KINDS},
    }


_FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)


def make_mbox(path: str | Path, n: int = 300, seed: int = 0) -> dict[str, Any]:
    """An mbox (mboxrd: body lines "From " written as ">From ") of ``n`` generated mails; keys "0".."n-1"."""
    p = Path(path)
    mails = generate(n, seed)
    with p.open("wb") as f:
        for k, m in enumerate(mails):
            postmark = f"From {m.sender} {m.date.strftime('%a %b %d %H:%M:%S %Y')}\n".encode()
            data = _FROM_LINE.sub(rb">\1", m.data) if m.escape else m.data
            last = k == len(mails) - 1
            f.write(postmark + data + (b"" if last or data.endswith(b"\n") else b"\n") + (b"" if last else b"\n"))
    return _summary("mbox", p, mails, [str(k) for k in range(n)])


def make_maildir(path: str | Path, n: int = 300, seed: int = 0) -> dict[str, Any]:
    """A Maildir of the same mails: even ones in cur/ (flag S), odd ones in new/; keys are the unique names."""
    p = Path(path)
    for sub in ("cur", "new", "tmp"):
        (p / sub).mkdir(parents=True, exist_ok=True)
    mails = generate(n, seed)
    keys = []
    for k, m in enumerate(mails):
        key = f"{1704096000 + 60 * k}.M{k:06d}P4242Q{k}.mailgen"
        file = p / "cur" / f"{key}:2,S" if k % 2 == 0 else p / "new" / key
        file.write_bytes(m.data)
        keys.append(key)
    return _summary("maildir", p, mails, keys)


def make_eml_folder(path: str | Path, n: int = 300, seed: int = 0) -> dict[str, Any]:
    """A folder tree of .eml files holding the same mails; keys are paths relative to the folder."""
    p = Path(path)
    mails = generate(n, seed)
    keys = []
    for k, m in enumerate(mails):
        key = f"{('inbox', 'inbox/2023', 'archive')[k % 3]}/{k:04d}.eml"
        (p / key).parent.mkdir(parents=True, exist_ok=True)
        (p / key).write_bytes(m.data)
        keys.append(key)
    return _summary("folder", p, mails, keys)


_TRUTH = re.compile(rb"^X-Edgeai-Truth:[ \t]*(spam|ham)", re.MULTILINE | re.IGNORECASE)


def read_truth(path: str | Path) -> dict[str, str]:
    """The ground truth of a generated mailbox on disk, by key (for a benchmark that did not generate it)."""
    from edgeai.mail import _raw_messages

    out = {}
    for raw in _raw_messages(path):
        if hasattr(raw, "data"):
            head = re.split(rb"\r?\n\r?\n", raw.data, maxsplit=1)[0]
            if m := _TRUTH.search(head):
                out[raw.key] = m.group(1).decode().lower()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.mailgen", description="write a generated test mailbox")
    ap.add_argument("path")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--format", choices=("mbox", "maildir", "folder"), default="mbox")
    args = ap.parse_args(argv)
    make = {"mbox": make_mbox, "maildir": make_maildir, "folder": make_eml_folder}[args.format]
    info = make(args.path, args.n, args.seed)
    print(f"{info['path']}: {info['n']} mails, {info['spam']} spam, {info['ham']} ham, {info['unreadable']} unreadable")
    return 0


if __name__ == "__main__":
    sys.exit(main())
