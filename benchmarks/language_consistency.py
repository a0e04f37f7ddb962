"""language_consistency speed, new vs the previous implementation, on ~4,000-word chains of thought.

    HF_HUB_OFFLINE=1 python benchmarks/language_consistency.py --samples 30

Baseline (labelled BASELINE below): the implementation before the batched forward pass, copied
verbatim: one fastText `predict` call per alphabetic chunk, and a token-by-token segmentation
of every sentence. Both share the same fastText model, the same span stripping and CJK labelling.

Synthetic CoTs (seeded): English (MATH-500 solutions with LaTeX, GSM8K problems as prose,
"Wait," re-checks), Chinese (Chinese reasoning sentences with inline math) and mixed (English
with Chinese paragraphs and a French sentence planted). Each is scored once to warm both sides
(model load, the new word cache), then timed. Printed per kind: ms/sample for both, the speed
ratio, the max absolute score difference and the agreement of LanguageMixFilter's keep/drop
decision at its default threshold (0.95).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from table_row import emit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from r1data.verifiers import language as lang  # noqa: E402

THRESHOLD = 0.95  # LanguageMixFilter's default min_consistency
CHINESE = ["我们需要先计算这个数字的平方，然后再加上第二个数字，最后得到答案。",
           "再检查一遍，这一步的结果看起来是正确的，所以可以继续下一步的推导。",
           "注意到这个方程的两边都可以同时除以二，这样就能简化后面的计算过程。",
           "等一下，让我重新考虑这个条件，也许前面的假设并不成立。",
           "所以 $x = 3$ 满足条件，代入原式验证一下结果。"]
FRENCH = "Ensuite, nous divisons le résultat par deux pour obtenir la moyenne de la série."


# -- BASELINE: r1data/verifiers/language.py before this change (copied, do not edit) -----------

def _baseline_segments(text):
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


def _baseline_alpha_is_target(words, target):
    labels, probs = lang._lid().predict(" ".join(words), k=3)
    langs = [label.removeprefix("__label__") for label in labels]
    if not langs or langs[0] == target or probs[0] < lang.CONFIDENT:
        return True
    if len(words) < lang.MIN_WORDS:
        return any(la == target and p >= lang._SHORT_TARGET_PROB for la, p in zip(langs, probs))
    return False


def baseline_language_consistency(text, target="en"):
    target = target.lower().split("-")[0].split("_")[0]
    clean = lang.strip_non_language(text)
    text_has_kana = bool(lang._HAS_KANA.search(clean))
    in_target = total = 0
    for script, words in lang._alpha_chunks(_baseline_segments(clean)):
        if script == "cjk":
            ok = lang._cjk_label(words, target, text_has_kana) == target
        elif script == "hangul":
            ok = target == "ko"
        else:
            ok = _baseline_alpha_is_target(words, target)
        total += len(words)
        in_target += len(words) if ok else 0
    return 1.0 if total == 0 else in_target / total

# -- end of BASELINE ------------------------------------------------------------------------------


def _rows(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def corpora(samples: int, words: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    rng = random.Random(seed)
    data = ROOT / "r1data" / "data"
    math = [r["solution"] for r in _rows(data / "benchmarks" / "math500.jsonl") if r.get("solution")]
    prose = [r["problem"] for r in _rows(data / "prompts" / "gsm8k_train_1k.jsonl")]

    def english(n_words):
        out, n = [], 0
        while n < n_words:
            part = rng.choice(math if rng.random() < 0.5 else prose)
            if rng.random() < 0.3:
                part = "Wait, let me re-check this step. " + part
            out.append(part)
            n += len(part.split())
        return out

    def chinese():
        out, n = [], 0
        while n < words:  # a Chinese character is a word
            para = "".join(rng.choices(CHINESE, k=rng.randint(2, 6)))
            out.append(para)
            n += sum(ch >= "\u4e00" for ch in para)
        return "\n\n".join(out)

    def mixed():
        parts = english(words)
        for _ in range(rng.randint(1, 4)):
            parts.insert(rng.randrange(len(parts)), "".join(rng.choices(CHINESE, k=rng.randint(1, 8))))
        parts.insert(rng.randrange(len(parts)), FRENCH)
        return "\n\n".join(parts)

    return {"english": [("\n\n".join(english(words)), "en") for _ in range(samples)],
            "chinese": [(chinese(), "zh") for _ in range(samples)],
            "mixed": [(mixed(), "en") for _ in range(samples)]}


def timed(fn, items) -> tuple[list[float], float]:
    start = time.perf_counter()
    scores = [fn(text, target) for text, target in items]
    return scores, (time.perf_counter() - start) / len(items) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=30, help="CoTs per kind")
    parser.add_argument("--words", type=int, default=4000, help="words per CoT")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=30, help="CoTs per kind scored before timing")
    args = parser.parse_args()
    print(f"{'kind':8} {'baseline ms':>12} {'new ms':>8} {'speedup':>8} {'max |diff|':>11} "
          f"{'keep/drop agree':>16} {'kept (new)':>10}")
    warmup = corpora(args.warmup, args.words, args.seed + 1)
    rows = {}
    for kind, items in corpora(args.samples, args.words, args.seed).items():
        # warm-up on other CoTs of the same kind (model load, regex caches, and the new word
        # cache, which on a real corpus is warm after the first few hundred samples)
        for text, target in warmup[kind]:
            baseline_language_consistency(text, target)
            lang.language_consistency(text, target)
        old, old_ms = timed(baseline_language_consistency, items)
        new, new_ms = timed(lang.language_consistency, items)
        diff = max(abs(a - b) for a, b in zip(old, new))
        agree = sum((a >= THRESHOLD) == (b >= THRESHOLD) for a, b in zip(old, new))
        kept = sum(b >= THRESHOLD for b in new)
        print(f"{kind:8} {old_ms:12.2f} {new_ms:8.2f} {old_ms / new_ms:7.1f}x {diff:11.2e} "
              f"{agree:>9}/{len(items):<6} {kept:>10}")
        rows[kind] = (new_ms, old_ms, diff, agree == len(items))
    kinds = " / ".join(rows)
    emit(f"language consistency, ~{args.words:,}-word CoT ({kinds})",
         " / ".join(f"{new:.2f}" for new, _, _, _ in rows.values()) + " ms",
         "previous fastText-per-sentence version " + " / ".join(f"{old:.2f}" for _, old, _, _ in rows.values()) + " ms",
         " / ".join(f"{old / new:.1f}" for new, old, _, _ in rows.values()) + "x, max score difference "
         f"{max(d for _, _, d, _ in rows.values()):.1e}")


if __name__ == "__main__":
    main()
