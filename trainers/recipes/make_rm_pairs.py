"""Build `rm_pairs_non_reasoning.jsonl`: preference pairs for the CPU reward-model recipe.

Every prompt of the bundled non-reasoning set (`r1data/data/prompts/non_reasoning.jsonl`) gets a
short reference answer written here by hand (chosen) and four degraded answers (rejected), one
per defect a helpfulness reward model should punish:
    off_topic   the reference answer of another prompt (fluent, but not an answer);
    shuffled    the reference's words in a random order (right words, no sense);
    looping     the reference's first words repeated (degenerate generation);
    refusal     an unhelpful refusal of a harmless request.
Rows are TRL's text format: {"prompt", "chosen", "rejected", "defect", "prompt_id"}.

    python trainers/recipes/make_rm_pairs.py   # rewrites the file next to this script
"""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path

OUT = Path(__file__).with_name("rm_pairs_non_reasoning.jsonl")
REFUSAL = "I'm sorry, but I can't help with that request."

# Keyed by the prompt's id in non_reasoning.jsonl.
ANSWERS = {
    "greeting/1": "Hello! How can I help you today?",
    "greeting/2": "Hi! What can I do for you?",
    "greeting/3": "Hey! Nice to hear from you. What would you like to talk about?",
    "greeting/4": "Good morning! I hope your day is off to a great start. How can I help?",
    "greeting/5": "You're very welcome! Let me know if there is anything else I can do.",
    "greeting/6": "Goodbye, and take care! Come back any time you need help.",
    "greeting/7": "I'm doing well, thank you for asking! How are you?",
    "greeting/8": "你好！有什么我可以帮你的吗？",
    "greeting/9": "不客气！如果还有其他问题，随时问我。",
    "greeting/10": "晚上好！今天过得怎么样？有什么需要帮忙的吗？",
    "self_cognition/1": "I am an AI assistant, a language model trained to answer questions, "
                        "explain ideas and help with writing.",
    "self_cognition/2": "I can answer questions, explain concepts, help you write and edit text, "
                        "translate between languages, and work through problems step by step.",
    "self_cognition/3": "No. I cannot browse the internet, and I do not remember past "
                        "conversations: I only see the messages of this conversation.",
    "self_cognition/4": "I predict text one token at a time from patterns learned during "
                        "training on a large amount of text. I do not look answers up, so I can "
                        "be wrong and you should check important facts.",
    "self_cognition/5": "我是一个人工智能助手，可以回答问题、解释概念，并帮助你写作和翻译。",
    "self_cognition/6": "Treat my answers as a starting point: I can make mistakes and my "
                        "knowledge has a cut-off date, so check important facts with reliable "
                        "sources or an expert before you decide.",
    "writing/1": "Soft flakes drift down at dawn,\nthe garden holds its breath in white,\n"
                 "footprints fade across the lawn,\nthe world grows quiet overnight.",
    "writing/2": "Hi Sam,\n\nWould it be possible to move our meeting from Tuesday to Thursday? "
                 "Something has come up on Tuesday. Please let me know if Thursday works for "
                 "you.\n\nThank you,\nAlex",
    "writing/3": "1. Rising to the Occasion: My First Loaves\n2. Flour, Water, Patience: "
                 "Learning to Bake Bread\n3. From Dough to Crust: A Home Baker's Journey",
    "writing/4": "Stay hydrated wherever you go with our reusable steel water bottle. Its "
                 "double-walled stainless steel keeps drinks cold for 24 hours and hot for 12, "
                 "the leak-proof lid fits any bag, and it replaces hundreds of plastic bottles.",
    "writing/5": "We need to resolve this issue as soon as possible.",
    "writing/6": "Warm sun on the sill,\na cat curled in golden light,\ndreaming, whiskers still.",
    "writing/7": "Regular exercise helps you fall asleep faster and sleep more deeply because it "
                 "reduces stress and helps regulate your body clock.",
    "writing/8": "Dear neighbour, thank you so much for watering my plants while I was away. "
                 "They are thriving, and I really appreciate your kindness!",
    "writing/9": "秋天到了，树叶慢慢变成金黄色。微风吹过，落叶在空中轻轻飞舞。人们走在街上，感受着凉爽和丰收的喜悦。",
    "writing/10": "Good news, readers! Starting this week our library is open on Sundays too. "
                  "Come by to borrow a book, study, or just relax. See you there!",
    "writing/11": "We are very sorry that your order arrived late. We are looking into what "
                  "went wrong and will make sure your next order arrives on time.",
    "writing/12": "How about \"The Study Bean\"? It is short, friendly, and speaks to students.",
    "factual_qa/1": "The capital of Australia is Canberra.",
    "factual_qa/2": "Pride and Prejudice was written by Jane Austen and published in 1813.",
    "factual_qa/3": "Plants absorb carbon dioxide (CO2) from the air during photosynthesis.",
    "factual_qa/4": "There are seven continents, and Asia is the largest.",
    "factual_qa/5": "At sea level, water boils at 100 degrees Celsius.",
    "factual_qa/6": "Mars is known as the Red Planet.",
    "factual_qa/7": "Portuguese is the main language spoken in Brazil.",
    "factual_qa/8": "Humans first landed on the Moon in 1969, during the Apollo 11 mission.",
    "factual_qa/9": "The chemical symbol for gold is Au.",
    "factual_qa/10": "中国最长的河流是长江，全长约6300公里。",
    "factual_qa/11": "Weather is the state of the atmosphere over hours or days; climate is the "
                     "average pattern of weather in a region over many years.",
    "factual_qa/12": "Sunlight is scattered by the molecules of the air, and blue light, with its "
                     "shorter wavelength, is scattered much more than red light, so the sky "
                     "looks blue.",
    "factual_qa/13": "The heart pumps blood through the human body.",
    "factual_qa/14": "在标准大气压下，水的沸点是100摄氏度。",
    "translation/1": "火车明天早上八点出发。",
    "translation/2": "请关上窗户，天气变冷了。",
    "translation/3": "每天阅读会让你成为更好的作家。",
    "translation/4": "I am going to the library tomorrow to borrow a few books.",
    "translation/5": "The noodles at this restaurant are delicious.",
    "translation/6": "Let's go hiking together this weekend.",
    "translation/7": "Learning a new language takes patience.",
    "translation/8": "知识就是力量。",
    "translation/9": "The weather is very nice today, and the sun is shining brightly.",
    "translation/10": "最近的地铁站在哪里？",
}


def _words(text: str) -> list[str]:
    # Chinese has no spaces: shuffle characters there, words elsewhere.
    return text.split() if " " in text else list(text)


def _join(parts: list[str], like: str) -> str:
    return " ".join(parts) if " " in like else "".join(parts)


def build(seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    source = resources.files("r1data") / "data" / "prompts" / "non_reasoning.jsonl"
    prompts = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
    rows = []
    for i, row in enumerate(prompts):
        key = row["id"].removeprefix("non_reasoning/")
        good = ANSWERS[key]
        other = ANSWERS[prompts[(i + len(prompts) // 2) % len(prompts)]["id"].removeprefix(
            "non_reasoning/")]
        words = _words(good)
        shuffled = words[:]
        while len(shuffled) > 1 and shuffled == words:
            rng.shuffle(shuffled)
        head = words[:max(2, len(words) // 3)]
        degraded = {
            "off_topic": other,
            "shuffled": _join(shuffled, good),
            "looping": _join(head * 4, good),
            "refusal": REFUSAL,
        }
        for defect, bad in degraded.items():
            rows.append({"prompt": row["prompt"], "chosen": good, "rejected": bad,
                         "defect": defect, "prompt_id": row["id"]})
    return rows


if __name__ == "__main__":
    pairs = build()
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in pairs), encoding="utf-8")
    print(f"{len(pairs)} pairs -> {OUT}")
