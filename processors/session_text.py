"""A live session's text as it arrives: what of it is ready to speak, and what waits.

Text may come token by token; a sentence is spoken once it is complete, which shows as a
terminator followed by the next sentence's first word (so "Dr. Smith" is not cut: the
sentence splitter is asked whether the cut is one of its own boundaries). A long run with
no sentence end is spoken up to its last clause boundary, so speech starts before a long
sentence ends; `final` text is spoken whole.
"""

from __future__ import annotations

import re

from models.speech.sentences import split_sentences

_SENTENCE_END = re.compile(r"(?:[.!?…]+[\"'”’)\]]*(?=\s+\w)|[。！？]+)")
_CLAUSE_END = re.compile(r"[,;:–—](?=\s+\w)")
MIN_CLAUSE_CHARS = 12  # a clause shorter than this is too short to say on its own


def _count(text: str) -> int:
    return len(split_sentences(text, max_chars=10**9, first_max_chars=None))


def ready_cut(pending: str, clause_chars: int) -> int:
    """Where `pending` may be cut: the end of its last complete sentence, else (when it is
    at least `clause_chars` long) of its last clause; 0 when nothing is ready."""
    whole = _count(pending)
    for match in reversed(list(_SENTENCE_END.finditer(pending))):
        cut = match.end()
        if _count(pending[:cut]) + _count(pending[cut:]) == whole:
            return cut
    if len(pending) >= clause_chars:
        clauses = [m.end() for m in _CLAUSE_END.finditer(pending) if m.end() >= MIN_CLAUSE_CHARS]
        if clauses:
            return clauses[-1]
    return 0


def take_ready(pending: str, final: bool, first: bool, max_chars: int, first_max_chars: int
               ) -> tuple[list[str], str]:
    """The sentences of `pending` to speak now, and the text kept for later. `first`: they
    open an utterance, whose first sentence is cut short to start speaking sooner."""
    cut = len(pending) if final else ready_cut(pending, first_max_chars)
    if not final and cut == 0 and len(pending) > max_chars:  # no boundary at all: at a space
        cut = pending.rfind(" ", 0, max_chars) + 1 or max_chars
    pieces = split_sentences(pending[:cut], max_chars=max_chars,
                             first_max_chars=first_max_chars if first else None) if cut else []
    return pieces, pending[cut:].lstrip() if pieces or final else pending
