"""The batched fastText forward pass of language_consistency equals fastText's own `predict`, and
its fast paths (segmentation, tokens of a split text, the descent to the confident label) equal
their plain definitions."""

import json
import random

import numpy as np

from r1data.verifiers import language as lang

OTHER_LANGUAGES = [
    "Ensuite, nous divisons le résultat par deux pour obtenir la moyenne.",
    "Dann rechnen wir die Summe aus und prüfen das Ergebnis noch einmal.",
    "Сначала решим уравнение, а потом проверим ответ на всякий случай.",
    "Wait", "If then", "Primero calculamos la suma y luego dividimos entre dos.",
]


def _alpha_chunks(texts):
    return [words for text in texts
            for script, words in lang._alpha_chunks(lang._segments(lang.strip_non_language(text)))
            if script == "alpha"]


def _texts(path, field, n):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line)[field] for _, line in zip(range(n), fh)]


def test_forward_pass_matches_fasttext_predict(package_data):
    gsm8k = package_data / "benchmarks" / "gsm8k_test.jsonl"
    texts = _texts(gsm8k, "problem", 150) + _texts(gsm8k, "solution", 50)
    chunks = _alpha_chunks(texts + OTHER_LANGUAGES)
    forward, model = lang._lid_forward(), lang._lid()
    log_probs = forward.log_probs(chunks)
    for words, row in zip(chunks, log_probs):
        labels, probs = model.predict(" ".join(words), k=3)
        ours = np.argsort(-row)[: len(labels)]
        assert forward.labels[ours[0]] == labels[0].removeprefix("__label__"), words
        np.testing.assert_allclose(np.exp(row[ours]), probs, atol=1e-5)


def test_segmentation_fast_paths_match_token_by_token(package_data, test_data):
    def token_by_token(text):  # the plain definition: one _TOKEN match at a time
        runs = []
        for sentence in lang._SENTENCE_END.split(text):
            previous = None
            for match in lang._TOKEN.finditer(sentence):
                script = match.lastgroup if match.lastgroup != "word" else "alpha"
                if script != previous:
                    runs.append((script, []))
                    previous = script
                runs[-1][1].append(match.group())
            runs.append(("break", []))
        return runs

    # Chinese prose with digits, Latin words and full-width punctuation; English with numbers,
    # calculator marks and LaTeX
    texts = (_texts(test_data / "zh_prose.jsonl", "text", 40)
             + _texts(package_data / "benchmarks" / "gsm8k_test.jsonl", "solution", 100)
             + _texts(package_data / "benchmarks" / "math500.jsonl", "problem", 100))
    texts += OTHER_LANGUAGES + ["まず方程式を解きます。答えは七です。", "먼저 방정식을 풀어 봅시다. 답은 일곱입니다.",
                                "Okay, 我们，需要 think about it。Then 先求 the root."]
    for text in texts:
        clean = lang.strip_non_language(text)
        assert lang._segments(clean) == token_by_token(clean), text


# ASCII and non-ASCII letters, word joiners, digits, sentence ends, separators; no CJK characters
_FUZZ_PIECES = (["the", "answer", "wait", "let's", "don't", "well-known", "x-axis", "re-check", "café", "ещё"]
                + list("abcXYZ01 .!?;:\n,'-$`()\u2019\u2014\u00b2\u00a0\x00\uff1a"))
_TRICKY = ["Let's re-check the well-known x-axis trick; a-b-cd isn't 'one' word -- dash - dash.",
           "It\u2019s off by one \u2014 isn\u2019t it? x\u00b2 + y\u00b2 = 1\u2026 naïve café.",
           "well--known ab'-cd x-y-z-w abc-d-e \x00NUL\x00 e.g. i.e. A B C D E F G.", "x = 3.", "", " . "]


def _split_texts(package_data):
    gsm8k = package_data / "benchmarks" / "gsm8k_test.jsonl"
    rng = random.Random(0)
    fuzz = ["".join(rng.choice(_FUZZ_PIECES) for _ in range(rng.randint(0, 80))) for _ in range(300)]
    return (_texts(gsm8k, "solution", 100) + _texts(package_data / "benchmarks" / "math500.jsonl", "problem", 100)
            + OTHER_LANGUAGES + _TRICKY + fuzz)


def test_split_tokens_give_the_chunks_of_segments(package_data):
    forward = lang._lid_forward()
    table = forward.current_table()
    for text in _split_texts(package_data):
        clean = lang.strip_non_language(text)
        chunks = [words for script, words in lang._alpha_chunks(lang._segments(clean)) if script == "alpha"]
        rows, starts = forward.split_chunks(table, lang._split(clean))
        assert rows.tolist() == [forward.row_of(table, w) for words in chunks for w in words], text
        assert starts.tolist() == [sum(map(len, chunks[:i])) for i in range(len(chunks))], text


def _is_target(log_probs, words, t):  # the rule of the module docstring, one chunk at a time
    top = int(log_probs.argmax())
    if (t is not None and top == t) or np.exp(log_probs[top]) < lang.CONFIDENT:
        return True
    if t is None or words >= lang.MIN_WORDS:
        return False
    return bool(np.exp(log_probs[t]) >= lang._SHORT_TARGET_PROB and (log_probs > log_probs[t]).sum() < 3)


def _logits_and_lengths(package_data):
    """Real chunks, long and cut short; and random logits, each leaning along the path to a random
    label with a random confidence (from nearly even branches to certain ones), random lengths."""
    chunks = _alpha_chunks(_split_texts(package_data))
    chunks += [words[i:i + 3] for words in chunks[:300] for i in range(0, len(words), 3)]
    forward, rng, size = lang._lid_forward(), np.random.default_rng(0), 5000
    n = len(forward.labels)
    logits = rng.standard_normal((size, n - 1)) * rng.choice([0.05, 0.5, 1.0, 2.0, 4.0, 12.0], (size, 1))
    for row, label in zip(logits, rng.integers(0, n, size)):
        path = forward.paths[label][forward.paths[label] < 2 * (n - 1)]  # no padding
        row[path % (n - 1)] = np.where(path >= n - 1, 1, -1) * np.abs(row[path % (n - 1)])
    return [(forward.words_logits(chunks), np.array([len(words) for words in chunks])),
            (logits.astype(np.float32), rng.integers(1, 2 * lang.MIN_WORDS, size))]


def test_confident_labels_agree_with_all_labels(package_data):
    forward = lang._lid_forward()
    for logits, _ in _logits_and_lengths(package_data):
        found = forward.confident_labels(logits)
        log_probs = forward.leaf_log_probs(logits)
        top, top_prob = log_probs.argmax(axis=1), np.exp(log_probs.max(axis=1))
        labelled, none = found >= 0, found == lang._NONE_CONFIDENT
        assert (found[labelled] == top[labelled]).all()
        assert (top_prob[labelled] >= lang.CONFIDENT).all() and (top_prob[none] < lang.CONFIDENT).all()
        assert (found == lang._UNSURE).mean() < 0.1  # the descent decides almost every chunk
    assert len(set(found[labelled].tolist())) > 150  # the random logits reach most labels


def test_chunk_targets_equal_the_rule_on_all_labels(package_data):
    forward = lang._lid_forward()
    for logits, lengths in _logits_and_lengths(package_data):
        log_probs = forward.leaf_log_probs(logits)
        for target in ("en", "fr", "de", "ru", "es", "zh", "la", "xx"):
            t = forward.label_index.get(target)
            expected = [_is_target(row, words, t) for row, words in zip(log_probs, lengths)]
            assert lang._chunk_targets(forward, logits, lengths, target).tolist() == expected, target
