"""``edgeai triage``: sort a mailbox locally. Every mail (subject and body, HTML reduced to text,
attachments skipped) goes through the cascade: the distilled model on the board first, the laptop
model for what the board is unsure of. Every mail gets a row, or a row with the reason it could not
be read: none is lost."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cascade import BOARD, Cascade


@dataclass
class CategoryStats:
    label: str
    count: int = 0
    on_board: int = 0
    confidence_sum: float = 0.0

    @property
    def board_share(self) -> float:
        return self.on_board / self.count if self.count else 0.0

    @property
    def mean_confidence(self) -> float:
        return self.confidence_sum / self.count if self.count else 0.0


@dataclass
class TriageResult:
    rows: list[dict[str, Any]]
    categories: list[CategoryStats]
    seconds: float
    unreadable: int
    with_problems: int
    board_seconds: float = 0.0
    laptop_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mails(self) -> int:
        return len(self.rows)

    @property
    def mails_per_minute(self) -> float:
        return 60.0 * self.mails / self.seconds if self.seconds > 0 else float("inf")

    @property
    def board_share(self) -> float:
        answered = [r for r in self.rows if r["side"]]
        return sum(r["side"] == BOARD for r in answered) / len(answered) if answered else 0.0


def triage(mailbox: str | Path, cascade: Cascade, progress: Callable[[int, int], None] | None = None,
           batch: int = 64) -> TriageResult:  # fmt: skip
    """Read every mail of ``mailbox`` (mbox, Maildir, a folder of .eml files, or one .eml) and
    classify it with ``cascade``, ``batch`` mails at a time."""
    from .mail import Mail, count_mailbox, read_mailbox

    total = count_mailbox(mailbox)
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    pending: list[tuple[dict[str, Any], str]] = []
    stats: dict[str, CategoryStats] = {label: CategoryStats(label) for label in cascade.labels}
    done = 0

    def flush() -> None:
        nonlocal done
        if not pending:
            return
        answers = cascade.classify_many([text for _, text in pending])
        for (row, _), a in zip(pending, answers, strict=True):
            row.update(label=a.label, confidence=round(a.confidence, 4), side=a.side)
            s = stats[a.label]
            s.count += 1
            s.on_board += a.side == BOARD
            s.confidence_sum += a.confidence
        done += len(pending)
        pending.clear()
        if progress:
            progress(done, max(total, done))

    for item in read_mailbox(mailbox):
        row: dict[str, Any] = {"key": item.key, "message_id": "", "subject": "", "label": "", "confidence": "",
                               "side": "", "problems": "", "error": ""}  # fmt: skip
        rows.append(row)
        if not isinstance(item, Mail):
            row["error"] = item.reason
            done += 1
            if progress:
                progress(done, max(total, done))
            continue
        row.update(message_id=item.message_id, subject=item.subject, problems="; ".join(item.problems))
        pending.append((row, item.text))
        if len(pending) >= batch:
            flush()
    flush()
    seconds = time.perf_counter() - start
    return TriageResult(
        rows=rows,
        categories=list(stats.values()),
        seconds=seconds,
        unreadable=sum(bool(r["error"]) for r in rows),
        with_problems=sum(bool(r["problems"]) for r in rows),
        board_seconds=cascade.seconds["board"],
        laptop_seconds=cascade.seconds["laptop"],
    )
