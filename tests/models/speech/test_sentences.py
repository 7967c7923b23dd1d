"""Sentence splitting: boundaries, non-boundaries, bullets, length bounds."""

from __future__ import annotations

import pytest

from models.speech.sentences import ScriptTooLongError, split_sentences

# (text, expected) with first_max_chars disabled, so only sentence rules are tested.
CASES: list[tuple[str, list[str]]] = [
    # basic terminators
    ("Hello world. How are you? I am fine!", ["Hello world.", "How are you?", "I am fine!"]),
    ("No terminator at the end", ["No terminator at the end"]),
    ("Really?! Yes.", ["Really?!", "Yes."]),
    ("Wait… What now?", ["Wait…", "What now?"]),
    ("Wait... What now?", ["Wait...", "What now?"]),
    # closing quotes and brackets stay with their sentence
    ('"Hello." She left.', ['"Hello."', "She left."]),
    ("He said (quietly.) Then he went.", ["He said (quietly.)", "Then he went."]),
    ("“Stop!” It was too late.", ["“Stop!”", "It was too late."]),
    # CJK, with or without a following space
    ("你好。我是乔！你呢？", ["你好。", "我是乔！", "你呢？"]),
    ("你好。 再见。", ["你好。", "再见。"]),
    ("「好。」然后。", ["「好。」", "然后。"]),
    # abbreviations
    ("Dr. Smith met Mr. Jones. They talked.", ["Dr. Smith met Mr. Jones.", "They talked."]),
    ("Mrs. Brown and Ms. Green came.", ["Mrs. Brown and Ms. Green came."]),
    ("Prof. Lee lives on Main St. Near the park.", ["Prof. Lee lives on Main St. Near the park."]),
    ("Use fruit, e.g. Apples, i.e. Red ones.", ["Use fruit, e.g. Apples, i.e. Red ones."]),
    ("Bring pens, paper, etc. And snacks.", ["Bring pens, paper, etc. And snacks."]),
    ("It was Ali vs. Frazier. Great fight.", ["It was Ali vs. Frazier.", "Great fight."]),
    ("The U.S. Army is big. So is the navy.", ["The U.S. Army is big.", "So is the navy."]),
    ("Meet at 9 a.m. Or at 5 p.m. Sharp.", ["Meet at 9 a.m. Or at 5 p.m. Sharp."]),
    ("J. R. R. Tolkien wrote it. Read it.", ["J. R. R. Tolkien wrote it.", "Read it."]),
    # abbreviations before a number (months, No.) hold; before a capitalised word they end
    ("It was released on Jan. 5, 2024.", ["It was released on Jan. 5, 2024."]),
    ("It ships Sept. 2024. Order now.", ["It ships Sept. 2024.", "Order now."]),
    ("From Feb. 3 to Dec. 24 it is open. Come.", ["From Feb. 3 to Dec. 24 it is open.", "Come."]),
    ("Track No. 5 is best. Play it.", ["Track No. 5 is best.", "Play it."]),
    ("It snowed in Jan. The roads froze.", ["It snowed in Jan.", "The roads froze."]),
    ("I said No. Then I left.", ["I said No.", "Then I left."]),
    ("Ask Mr. Smith. He knows.", ["Ask Mr. Smith.", "He knows."]),
    ("Dr. J. R. R. Tolkien, St. Paul, etc. are here.", ["Dr. J. R. R. Tolkien, St. Paul, etc. are here."]),
    # decimals and money
    ("Pi is 3.14. It never ends.", ["Pi is 3.14.", "It never ends."]),
    ("It costs $4.99. Buy it.", ["It costs $4.99.", "Buy it."]),
    ("Version 2.0.1 is out.", ["Version 2.0.1 is out."]),
    # mid-sentence ellipsis and lowercase continuations
    ("Well... maybe not. Okay.", ["Well... maybe not.", "Okay."]),
    ("I thought… no, never mind.", ["I thought… no, never mind."]),
    ('"Hi!" she said.', ['"Hi!" she said.']),
    # URLs and e-mails
    (
        "Visit https://example.com/a.b?x=1 now. Thanks.",
        ["Visit https://example.com/a.b?x=1 now.", "Thanks."],
    ),
    ("Mail john.doe@example.org today. Bye.", ["Mail john.doe@example.org today.", "Bye."]),
    ("Go to www.example.com. Then log in.", ["Go to www.example.com.", "Then log in."]),
    # line breaks, bullets, whitespace
    ("First line\nSecond line", ["First line", "Second line"]),
    ("Intro:\n- apples\n- pears\n* plums", ["Intro:", "apples", "pears", "plums"]),
    ("1. Buy milk. Now.\n2. Sell eggs", ["1. Buy milk.", "Now.", "2. Sell eggs"]),
    ("  lots   of\t\tspace\u00a0here.  ", ["lots of space here."]),
    ("Para one.\n\n\nPara two.\r\nPara three.", ["Para one.", "Para two.", "Para three."]),
    ("---\n***\nReal text.", ["Real text."]),
    # more abbreviations, including ones that can also end a sentence
    ("She has a Ph.D. in physics. She teaches.", ["She has a Ph.D. in physics.", "She teaches."]),
    ("It is 5 p.m. now. Let's go.", ["It is 5 p.m. now.", "Let's go."]),
    ("Call me at 10:30 a.m. tomorrow.", ["Call me at 10:30 a.m. tomorrow."]),
    ("I woke at 6 a.m. The sun was up.", ["I woke at 6 a.m.", "The sun was up."]),
    ("He lives in the U.S. He likes it.", ["He lives in the U.S.", "He likes it."]),
    ("The U.K. and the U.S.A. signed. Then they left.", ["The U.K. and the U.S.A. signed.", "Then they left."]),
    ("A. B. Smith arrived. He sat.", ["A. B. Smith arrived.", "He sat."]),
    ("Mt. Everest is tall. Very tall.", ["Mt. Everest is tall.", "Very tall."]),
    ("It's approx. 5 km. Walk there.", ["It's approx. 5 km.", "Walk there."]),
    ("Compare Fig. 3 with the table. It differs.", ["Compare Fig. 3 with the table.", "It differs."]),
    # more numbers
    ("He earned $1,000,000.50 last year. Wow!", ["He earned $1,000,000.50 last year.", "Wow!"]),
    ("Growth was 3.5% in Q3. Good.", ["Growth was 3.5% in Q3.", "Good."]),
    ("It is -4.5 degrees. Brr.", ["It is -4.5 degrees.", "Brr."]),
    ("Read section 4.2.1 first. Then 5.", ["Read section 4.2.1 first.", "Then 5."]),
    ("It costs €9.99 or £8.50. Cheap.", ["It costs €9.99 or £8.50.", "Cheap."]),
    # more ellipses
    ("He paused... and then spoke.", ["He paused... and then spoke."]),
    ("Wait . . . what?", ["Wait ... what?"]),
    ("Hmm… Fine.", ["Hmm…", "Fine."]),
    ("What?! No way!!", ["What?!", "No way!!"]),
    # more quotes and brackets
    ("“Are you sure?” he asked. “Yes.”", ["“Are you sure?” he asked.", "“Yes.”"]),
    ("'Go!' she shouted. They ran.", ["'Go!' she shouted.", "They ran."]),
    ("(This is an aside.) Back to the point.", ["(This is an aside.)", "Back to the point."]),
    ("He said [citation needed]. Moving on.", ["He said [citation needed].", "Moving on."]),
    ("She replied: «Non.» Puis elle partit.", ["She replied: «Non.»", "Puis elle partit."]),
    # more URLs and e-mail
    ("See http://foo.org/x.html. It helps.", ["See http://foo.org/x.html.", "It helps."]),
    ("Email a.b@c.co.uk or call. Thanks!", ["Email a.b@c.co.uk or call.", "Thanks!"]),
    ("Get v1.2.3 from github.com/org/repo. Install it.", ["Get v1.2.3 from github.com/org/repo.", "Install it."]),
    # more lists, line breaks and markdown-ish markup
    ("Steps:\n1) Open the box.\n2) Plug it in.", ["Steps:", "1) Open the box.", "2) Plug it in."]),
    ("• First point\n• Second point", ["First point", "Second point"]),
    ("10. Tenth item\n11. Eleventh item", ["10. Tenth item", "11. Eleventh item"]),
    ("**Bold text.** Normal text.", ["Bold text.", "Normal text."]),
    ("# Heading\nBody text here.", ["Heading", "Body text here."]),
    ("> Quoted line. Another.", ["Quoted line.", "Another."]),
    ("`code.py` runs. *Really* fast.", ["code.py runs.", "Really fast."]),
    ("Set x = 2 * 3. Done.", ["Set x = 2 * 3.", "Done."]),
    # more non-Latin scripts
    ("日本語の文です。次の文です！本当？", ["日本語の文です。", "次の文です！", "本当？"]),
    ("这是第一句。这是第二句！", ["这是第一句。", "这是第二句！"]),
    ("これは、長い文です。", ["これは、長い文です。"]),
    ("Это первое предложение. Это второе!", ["Это первое предложение.", "Это второе!"]),
    ("¿Dónde está? ¡Aquí!", ["¿Dónde está?", "¡Aquí!"]),
    ("هذا جيد؟ نعم.", ["هذا جيد؟", "نعم."]),
    ("नमस्ते। आप कैसे हैं?", ["नमस्ते।", "आप कैसे हैं?"]),
    ("全角．次の文", ["全角．", "次の文"]),
    # empty input
    ("", []),
    ("   \n\t  \n", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:30] for c in CASES])
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text, first_max_chars=None) == expected


LONG = (
    "This sentence is deliberately long; it has a semicolon: a colon, several commas, "
    "an em dash — and then it goes on and on with plain words that have no punctuation "
    "at all for a good while so the splitter must fall back to spaces eventually because "
    "nothing else is left to cut at before the limit."
)


@pytest.mark.parametrize("max_chars", [40, 60, 100, 240])
def test_max_chars_bound_and_nothing_lost(max_chars: int) -> None:
    chunks = split_sentences(LONG, max_chars=max_chars, first_max_chars=None)
    assert all(0 < len(c) <= max_chars for c in chunks)
    assert " ".join(chunks).split() == LONG.split()


def test_long_sentence_prefers_clause_boundaries() -> None:
    text = "Alpha beta gamma delta, epsilon zeta eta theta; iota kappa lambda mu nu xi omicron."
    assert split_sentences(text, max_chars=60, first_max_chars=None) == [
        "Alpha beta gamma delta, epsilon zeta eta theta;",
        "iota kappa lambda mu nu xi omicron.",
    ]


def test_unbreakable_token_is_hard_cut() -> None:
    chunks = split_sentences("x" * 250, max_chars=100, first_max_chars=None)
    assert [len(c) for c in chunks] == [100, 100, 50]


def test_numbers_with_commas_and_times_are_not_cut() -> None:
    text = "We sold 3,000,000 units at 10:30 sharp today"
    chunks = split_sentences(text, max_chars=30, first_max_chars=None)
    assert all(len(c) <= 30 for c in chunks)
    assert any("3,000,000" in c for c in chunks) and any("10:30" in c for c in chunks)


def test_first_chunk_is_cut_short_at_clause() -> None:
    text = (
        "Hi, I am Joe, and today we will talk about a fairly long topic that keeps going "
        "for quite a while. Second sentence."
    )
    chunks = split_sentences(text, first_max_chars=40)
    assert chunks == [
        "Hi, I am Joe,",
        "and today we will talk about a fairly long topic that keeps going for quite a while.",
        "Second sentence.",
    ]


def test_first_chunk_kept_whole_without_clause_boundary() -> None:
    text = "A first sentence without any clause boundary that runs past the short limit. Next."
    assert split_sentences(text, first_max_chars=30)[0] == text[: text.index(" Next")]


def test_only_first_chunk_is_shortened() -> None:
    second = "Later sentences, even with commas in them, stay whole when they fit the limit."
    chunks = split_sentences("Short start. " + second, first_max_chars=20)
    assert chunks == ["Short start.", second]


def test_first_chunk_remainder_is_repacked() -> None:
    text = ", ".join(f"item {i}" for i in range(40)) + "."
    chunks = split_sentences(text, max_chars=100, first_max_chars=30)
    assert len(chunks[0]) <= 30
    assert all(len(c) <= 100 for c in chunks)
    assert len(chunks[1]) > 60  # no stub left between the short head and the rest
    assert " ".join(chunks) == text


def test_default_first_chunk_limit_is_80() -> None:
    text = "Welcome back everyone, " * 6 + "let us begin."
    chunks = split_sentences(text)
    assert len(chunks[0]) <= 80 and len(chunks[1]) <= 240


def test_invalid_limits() -> None:
    with pytest.raises(ValueError):
        split_sentences("Hi.", max_chars=0)
    with pytest.raises(ValueError):
        split_sentences("Hi.", first_max_chars=0)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60


def test_long_cjk_sentence_is_cut_at_clause_marks() -> None:
    text = "我们今天讨论的话题非常重要，" * 6 + "谢谢大家。"
    chunks = split_sentences(text, max_chars=40, first_max_chars=None)
    assert all(len(c) <= 40 for c in chunks) and "".join(chunks) == text
    assert all(c.endswith(("，", "。")) for c in chunks)


def test_long_url_is_kept_unless_it_alone_is_over_the_limit() -> None:
    url = "https://example.com/" + "a" * 50
    chunks = split_sentences(f"Open {url} in your browser, then sign in with your account.", max_chars=80,
                             first_max_chars=None)
    assert any(url in c for c in chunks) and all(len(c) <= 80 for c in chunks)


def test_script_over_the_size_limit_is_refused() -> None:
    assert split_sentences("Hi. " * 25, max_script_chars=100)
    with pytest.raises(ScriptTooLongError, match="101 characters; the limit is 100"):
        split_sentences("x" * 101, max_script_chars=100)
