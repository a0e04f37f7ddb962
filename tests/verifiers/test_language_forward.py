"""The batched fastText forward pass of language_consistency equals fastText's own `predict`."""

import json

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
