"""`r1data non-reasoning --from FILE`: an existing SFT set keeps its answers (R1 reused
DeepSeek-V3's); --add-cot has the teacher write the chain of thought to each kept answer;
trivial prompts keep no chain of thought."""

import json

from r1data import io
from r1data.backends.base import Backend, Completion, SamplingConfig
from r1data.pipelines import non_reasoning

COT = "The request asks for a short poem about rain, so the answer is a haiku."


class CannedTeacher(Backend):
    """A teacher that always thinks the same and rewords the answer: what the stage keeps of
    it shows which parts come from the teacher and which from the reused set."""

    name = "canned"

    def __init__(self):
        super().__init__("canned")
        self.prompts = []

    def generate(self, prompts, sampling, keys=None):
        self.prompts += prompts
        text = f"<think>\n{COT}\n</think>\n\nThe teacher's own wording."
        return [[Completion(text=text, finish_reason="stop", prompt_tokens=5, completion_tokens=9)
                 for _ in range(sampling.n)] for _ in prompts]


ROWS = [
    {"instruction": "hello", "output": "Hi! How can I help?"},  # trivial: no CoT
    {"instruction": "Write a haiku about rain.", "output": "Soft rain on the roof\nthe gutters hum"},
    {"conversations": [{"from": "human", "value": "Explain why the sea is salty."},
                       {"from": "gpt", "value": "<think>\nRivers carry salts.\n</think>\n\nRivers "
                                                "wash minerals into it."}]},  # has its own CoT
    {"prompt": "Describe a sunset in one sentence."},  # no answer: the teacher answers
]


def run(tmp_path, add_cot):
    source = tmp_path / "sft.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    teacher = CannedTeacher()
    out = tmp_path / ("cot" if add_cot else "plain")
    summary = non_reasoning.run(non_reasoning.NonReasoningConfig(
        input=str(source), output=str(out), reference_answers=True, add_cot=add_cot,
        sampling=SamplingConfig(n=1, max_tokens=32),
        # the corpus-wide steps have nothing to find in four rows: skipped to keep the test short
        filters={"decontamination": None, "minhash": None, "fuzzy_dedup": None}), backend=teacher)
    kept = {r.prompt: r for r in io.read_records(out / "kept")}
    return summary, kept, teacher


def test_reused_answers_are_kept_and_the_teacher_writes_only_the_chain_of_thought(tmp_path):
    summary, kept, teacher = run(tmp_path, add_cot=True)
    assert summary.inputs == 4 and summary.kept == 4, summary
    hello = kept["hello"]
    assert (hello.reasoning, hello.answer) == ("", "Hi! How can I help?")
    haiku = kept["Write a haiku about rain."]
    assert haiku.reasoning == COT and haiku.answer == "Soft rain on the roof\nthe gutters hum"
    assert haiku.completion == f"<think>\n{COT}\n</think>\n\nSoft rain on the roof\nthe gutters hum"
    assert haiku.messages[0] == {"role": "user", "content": "Write a haiku about rain."}
    sea = kept["Explain why the sea is salty."]
    assert (sea.reasoning, sea.answer) == ("Rivers carry salts.", "Rivers wash minerals into it.")
    sunset = kept["Describe a sunset in one sentence."]
    assert sunset.answer == "The teacher's own wording."
    assert all(r.kind == "non_reasoning" for r in kept.values())
    # the teacher saw the reference answer for the haiku, and nothing for the reused others
    shown = [json.dumps(p) for p in teacher.prompts]
    assert len(shown) == 2 and any("the gutters hum" in p for p in shown)
    assert not any("Hi! How can I help?" in p or "Rivers carry" in p for p in shown)


def test_without_add_cot_answers_are_kept_as_they_are(tmp_path):
    summary, kept, teacher = run(tmp_path, add_cot=False)
    assert kept["Write a haiku about rain."].reasoning == ""
    assert kept["Write a haiku about rain."].answer == "Soft rain on the roof\nthe gutters hum"
    assert len(teacher.prompts) == 1  # only the row with no answer
