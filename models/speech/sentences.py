"""Split a script into sentence-sized chunks for streaming speech synthesis.

Each chunk is synthesized and lip-synced on its own, so chunks must be natural
prosodic units (whole sentences, or clauses of long ones), bounded in length (TTS
and lip-sync cost grow with it) and the first one short, because the viewer waits
for the first chunk before anything plays.
"""

from __future__ import annotations

import logging
import re

_LOGGER = logging.getLogger(__name__)

__all__ = ["ScriptTooLongError", "split_sentences"]

# Period-terminated tokens after which a capitalised word usually does not start a
# new sentence. Compared lower-cased, including the final period.
_ABBREVIATIONS = frozenset(
    {
        "dr.", "mr.", "mrs.", "ms.", "prof.", "st.", "e.g.", "i.e.", "etc.", "vs.",
        "u.s.", "a.m.", "p.m.", "jr.", "sr.", "mt.", "gen.", "col.", "capt.", "lt.",
        "sgt.", "rev.", "hon.", "gov.", "sen.", "rep.", "approx.", "fig.", "cf.",
        "u.k.", "u.s.a.", "ph.d.",
    }
)

# Abbreviations that also end sentences ("... in the U.S. He left."): a boundary when
# the next word is one that typically opens a sentence.
_FINAL_ABBREVIATIONS = frozenset({"u.s.", "u.k.", "u.s.a.", "etc.", "a.m.", "p.m.", "jr.", "sr."})
# Abbreviations that stand before a number: month names ("Jan. 5, 2024", "Sept. 2024")
# and "No. 5", "Vol. 2". Before a number they never end a sentence; before a capitalised
# word they usually do ("It snowed in Jan. The roads froze."; "Jan." is also a name),
# so only a following digit keeps the sentence open. "May" has no abbreviation; "Sat.",
# "Sun." and "Wed." are left out because they are also words that end sentences.
_NUMBER_ABBREVIATIONS = frozenset(
    {
        "jan.", "feb.", "mar.", "apr.", "jun.", "jul.", "aug.", "sep.", "sept.", "oct.",
        "nov.", "dec.", "no.", "nos.", "vol.",
    }
)
_SENTENCE_OPENERS = frozenset(
    {
        "he", "she", "it", "they", "we", "i", "you", "the", "this", "that", "these", "those",
        "there", "then", "its", "our", "my", "his", "her", "their", "what", "when", "why", "how",
    }
)

_CLOSERS = "\"'”’)]}»」』"
_OPENERS = "\"'“‘([{«「『¿¡"
# A run of terminal punctuation plus any closing quotes/brackets that belong to it.
# Besides . ! ? …: Arabic ؟ and ۔, Devanagari । ॥, Ethiopic ።, Armenian ։ (all written
# before a space, like Latin), and the CJK full stops, which need no space after them.
_TERMINATOR_RE = re.compile(rf"(?:[.!?…‼⁇؟۔।॥።։]+|[。！？．｡]+)[{re.escape(_CLOSERS)}]*")
_CJK_TERMINATORS = frozenset("。！？．｡")
# Markup that is not speech: heading and quote markers, emphasis and code marks.
_MARKUP_PREFIX_RE = re.compile(r"^(?:#{1,6}\s+|>\s*)+")
_MARKUP_INLINE_RE = re.compile(r"\*\*|__|~~|`|(?<=\w)\*(?!\w)|(?<!\w)\*(?=\w)")
_SPACED_ELLIPSIS_RE = re.compile(r"\.(?: \.){2,}")
_TOKEN_BEFORE_RE = re.compile(r"[\w.'’-]*$")
# "- item", "* item", "• item" (marker dropped: it is not speech) and "1. item" /
# "2) item" (marker kept: the number is meaningful when spoken, but it is no boundary).
_SYMBOL_BULLET_RE = re.compile(r"^[-*•·–]\s+")
_NUMBER_BULLET_RE = re.compile(r"^\d{1,3}[.)]\s+")
_WORD_RE = re.compile(r"\w")

# Places to cut an over-long sentence, best first. The cut goes after the match.
# ASCII , ; : need a following space so "3,000", "10:30" and "http://" stay whole.
_CLAUSE_TIERS: tuple[re.Pattern[str], ...] = (
    re.compile(r"[;:](?= )|[—–](?= )|—|[；：]"),
    re.compile(r",(?= )|[，、]"),
)
_SPACE_TIER = re.compile(r" ")


class ScriptTooLongError(ValueError):
    """The script is over the configured size; refused before any work is spent."""


def split_sentences(
    text: str,
    max_chars: int = 240,
    first_max_chars: int | None = 80,
    max_script_chars: int | None = None,
) -> list[str]:
    """Split ``text`` into speakable chunks of at most ``max_chars`` characters.

    Lines and bullets start new chunks (authors use them as pauses); within a line,
    sentences end at ``. ! ? …`` (followed by space or end) and at ``。！？``.
    Over-long sentences are cut at clause boundaries, then at spaces. The first
    chunk is further cut at a clause boundary to fit ``first_max_chars`` when one
    exists, which lowers the time to first audio. Pieces without any word
    character are dropped, since there is nothing to say. A script longer than
    ``max_script_chars`` raises ScriptTooLongError.
    """
    if max_script_chars is not None and len(text) > max_script_chars:
        raise ScriptTooLongError(
            f"the script is {len(text)} characters; the limit is {max_script_chars}"
        )
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    if first_max_chars is not None and first_max_chars < 1:
        raise ValueError(f"first_max_chars must be >= 1 or None, got {first_max_chars}")

    sentences: list[str] = []
    for raw_line in text.splitlines():
        line = " ".join(raw_line.split())
        if not line:
            continue
        line = _SYMBOL_BULLET_RE.sub("", _MARKUP_PREFIX_RE.sub("", line))
        line = _SPACED_ELLIPSIS_RE.sub("...", _MARKUP_INLINE_RE.sub("", line)).strip()
        bullet = _NUMBER_BULLET_RE.match(line)
        prefix = bullet.group(0) if bullet else ""
        found = _split_line(line[len(prefix):])
        if prefix and found:
            found[0] = prefix + found[0]
        sentences.extend(s for s in found if _WORD_RE.search(s))

    if sentences and first_max_chars is not None and len(sentences[0]) > first_max_chars:
        # Cut the first sentence before the max_chars pass, so its remainder is
        # re-packed instead of leaving a stub behind the short head.
        head, tail = _cut_once(sentences[0], first_max_chars, _CLAUSE_TIERS, min_pos=1)
        if tail:
            sentences[0:1] = [head, tail]
    chunks = [
        chunk
        for sentence in sentences
        for chunk in _cut_to_length(sentence, max_chars, _CLAUSE_TIERS + (_SPACE_TIER,))
        if _WORD_RE.search(chunk)
    ]
    _LOGGER.debug("split %d chars into %d chunks", len(text), len(chunks))
    return chunks


def _split_line(line: str) -> list[str]:
    """Split one whitespace-collapsed line at sentence boundaries."""
    sentences: list[str] = []
    start = 0
    for match in _TERMINATOR_RE.finditer(line):
        end = match.end()
        if _is_boundary(line, match):
            piece = line[start:end].strip()
            if piece:
                sentences.append(piece)
            start = end
    rest = line[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


def _is_boundary(line: str, match: re.Match[str]) -> bool:
    """Decide whether a run of terminal punctuation really ends a sentence."""
    end = match.end()
    if any(ch in _CJK_TERMINATORS for ch in match.group(0)):
        return True  # CJK text has no spaces between sentences.
    if end < len(line) and not line[end].isspace():
        return False  # 3.14, $4.99, example.com, a.b@c.org, "?x=1" ...
    nxt = line[end:].lstrip().lstrip(_OPENERS)
    if nxt[:1].islower():
        return False  # "Wait... then", "approx. five", '"Hi!" she said'
    if match.group(0) == ".":
        token = _TOKEN_BEFORE_RE.search(line, 0, match.start())
        word = token.group(0) if token else ""
        abbreviation = (word + ".").lower()
        if abbreviation in _NUMBER_ABBREVIATIONS:
            return not nxt[:1].isdigit()
        if abbreviation in _FINAL_ABBREVIATIONS:
            return _first_word(nxt).lower() in _SENTENCE_OPENERS
        if abbreviation in _ABBREVIATIONS:
            return False
        if len(word) == 1 and word.isupper():
            return False  # An initial: "J. R. R. Tolkien".
    return True


def _first_word(text: str) -> str:
    match = re.match(r"\w+", text)
    return match.group(0) if match else ""


def _cut_to_length(
    sentence: str, limit: int, tiers: tuple[re.Pattern[str], ...]
) -> list[str]:
    """Cut ``sentence`` into pieces of at most ``limit`` characters, front to back."""
    pieces: list[str] = []
    rest = sentence
    while len(rest) > limit:
        head, rest = _cut_once(rest, limit, tiers, min_pos=max(1, limit // 3))
        if not rest:  # no boundary at all: a giant token such as a long URL
            head, rest = _hard_cut(head, limit)
        pieces.append(head)
    if rest:
        pieces.append(rest)
    return pieces


def _hard_cut(text: str, limit: int) -> tuple[str, str]:
    """Cut at exactly ``limit`` characters; the last resort for unbreakable text."""
    return text[:limit].strip(), text[limit:].strip()


def _cut_once(
    text: str, limit: int, tiers: tuple[re.Pattern[str], ...], min_pos: int
) -> tuple[str, str]:
    """Cut ``text`` once at the best boundary so the head fits ``limit``.

    Tiers are tried best first; within a tier the right-most cut that fits wins
    (longest head, fewest chunks), but only at or after ``min_pos`` so a strong
    boundary near the start does not leave a uselessly short head. The last tier
    accepts any position. Returns ``(text, "")`` when no boundary fits.
    """
    for index, tier in enumerate(tiers):
        floor = 1 if index == len(tiers) - 1 else min_pos
        best = -1
        for match in tier.finditer(text, 0, limit + 1):
            cut = match.end()
            if cut >= floor and 0 < len(text[:cut].rstrip()) <= limit:
                best = cut
        if best > 0 and text[best:].strip():
            return text[:best].strip(), text[best:].strip()
    return text, ""
