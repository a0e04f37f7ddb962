"""The R1 data stages, each a short composition of generation, verification and filters.

    cold_start          R1 2.3.1: few-shot long CoT, reflective answers, refined R1-Zero outputs
    rejection_sampling  R1 2.3.3: n samples per prompt, verify, filter, keep up to k correct
    non_reasoning       R1 2.3.3: writing / QA / self-cognition / translation, trivial -> no CoT
    mix                 the SFT corpus at target sizes (600K reasoning + 200K non-reasoning)
    publish             a Hub-ready dataset folder with its card, then the push
    report              statistics and plots of any output (also training logs)
    recipe              `r1data run RECIPE.yaml`: `stage:` picks the config; unknown keys fail

Each stage's entry point is `run(config) -> summary.StageSummary`; every stage writes the same
folder layout (kept/, dropped/ with reasons, stats.json). Recipes live in `recipes/`.
"""
