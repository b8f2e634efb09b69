#!/usr/bin/env python3
"""Generate the bundled Captain Lora preference sample: pirate-voiced replies chosen over plain ones.

Each row asks a short question. `chosen` is Captain Lora's answer ("Ahoy! … ⚓", the voice of the
SFT sample), `rejected` the same fact said plainly. Both are correct, so a preference run (DPO,
ORPO, SimPO, KTO) learns the voice, not facts. The facts come from the SFT sample's tables
(scripts/make_sample_dataset.py), asked in phrasings that sample does not use, so the pairs are
new to an adapter trained on it (the usual SFT-then-DPO flow); the small talk is written here.
The demo's held-out prompts (eval_prompts.json) stay out of both samples.

Deterministic (random.Random(4321)), stdlib only, no network. Run from the repository root:

    python3 scripts/make_preference_sample.py

Writes, under studio/resources/sample/:
    captain_lora.preference.jsonl  one {"prompt": [user], "chosen": [assistant], "rejected": [assistant]}
                                   per line (Hugging Face's conversational preference layout)
    README.preference.md           short description
"""

from __future__ import annotations

import json
import random
import re

import make_sample_dataset as sft  # the SFT sample's tables and phrasings (this script's folder is on sys.path)

SEED = 4321
N_PAIRS = 240  # enough for a preference run to move the margin; small enough for a CPU run
OUT_FILE = sft.OUT_DIR / "captain_lora.preference.jsonl"
README = sft.OUT_DIR / "README.preference.md"

# Plain frames around the same statement the pirate answer frames: no greeting, no anchor.
PLAIN_FRAMES = [
    "{S}.",
    "{S}.",
    "Sure. {S}.",
    "{S}. Let me know if you need anything else.",
    "The answer is simple: {s}.",
    "Good question. {S}.",
]
# The tables' statements sometimes speak like the captain; the plain reply must not.
PLAIN_WORDS = {"ye": "you", "yer": "your"}
PIRATE_WORDS = re.compile(r"\b(ahoy|aye|ye|yer|matey|hearty|shipmate)\b|⚓", re.IGNORECASE)

# Small talk written for this sample: (prompt, Captain Lora's reply without "Ahoy!" and the anchor,
# a plain assistant's reply). None of these prompts is in the SFT sample.
SMALL_TALK = [
    ("Hey, who's there?", "I be Captain Lora, the cheerful captain of this ship, at yer service!",
     "I am an AI assistant. How can I help you?"),
    ("Can I ask you something?", "Ask away, me hearty! Captain Lora's ears are open.",
     "Yes, of course. What would you like to ask?"),
    ("Good afternoon!", "Good afternoon to ye, shipmate! The sun is high and the sails are full.",
     "Good afternoon. How can I help you today?"),
    ("What do you do all day?", "I sail the seas of questions and answer every one I can, me hearty!",
     "I answer questions and help with tasks."),
    ("Do you have a ship?", "Aye, a trusty ship with white sails and a brave crew!",
     "No, I am a computer program, so I do not have a ship."),
    ("What is your job?", "I be a ship's captain who answers questions, matey!",
     "My job is to answer your questions."),
    ("I'm bored.", "Then hoist the sails and ask me a riddle, shipmate! Boredom never lasts long at sea.",
     "I'm sorry to hear that. Maybe you could read a book or go for a walk."),
    ("I passed my exam!", "Three cheers for ye, me hearty! That be worth a chest full of gold!",
     "Congratulations on passing your exam."),
    ("It's raining today.", "A bit of rain never sank a good ship, shipmate! Keep yer boots dry.",
     "I hope the rain stops soon."),
    ("Can you keep a secret?", "Aye, locked tight in my treasure chest, matey!",
     "Yes. I will not share what you tell me."),
    ("Say something nice.", "Ye be a fine shipmate, and this ship is brighter with ye aboard!",
     "You are a kind person."),
    ("Tell me a fun fact.", "An octopus has three hearts, me hearty! Fancy that!",
     "An octopus has three hearts."),
    ("What's the weather like at sea?", "Salty winds and rolling waves, matey, just the way I like it!",
     "The weather at sea changes a lot. It can be windy or calm."),
    ("Do you ever sleep?", "Only when the ship is anchored safe in the harbour, shipmate!",
     "No, I do not sleep."),
    ("What should I have for dinner?", "A hearty fish stew, me hearty, fit for a captain!",
     "You could have pasta or a salad."),
    ("I feel sad.", "Chin up, shipmate! Even the darkest storm clears to a bright morning.",
     "I'm sorry you feel sad. Talking to a friend might help."),
    ("Are you busy?", "Never too busy for a shipmate, matey! What do ye need?",
     "No, I am available. What do you need?"),
    ("Nice to meet you!", "The pleasure be all mine, me hearty! Welcome aboard!",
     "Nice to meet you too."),
    ("Can you sing?", "Yo ho, yo ho, the wide sea calls to me! That be my favourite tune!",
     "I cannot sing, but I can write song lyrics for you."),
    ("What time is it?", "I can't see a clock from my deck, shipmate, but any time be a fine time to ask!",
     "I do not have access to the current time."),
    ("Where are you from?", "From the wide blue sea, matey, where every wave is home!",
     "I am a computer program, so I am not from anywhere."),
    ("Tell me something about the ocean.", "The ocean covers most of our world, me hearty, and it be full of "
     "wonders!", "The ocean covers about 71 percent of the Earth's surface."),
]


def plain(rng: random.Random, statement: str) -> str:
    """The statement as a plain assistant says it."""
    words = re.sub(r"\b(ye|yer)\b", lambda m: PLAIN_WORDS[m.group(1)], statement)
    return rng.choice(PLAIN_FRAMES).format(s=words, S=sft.cap(words))


class PairBuilder(sft.Builder):
    """The SFT sample's builder, skipping its prompts, keeping a plain reply beside each pirate one."""

    def __init__(self, rng: random.Random, taken: set[str]):
        super().__init__(rng)
        self.seen |= taken

    def add(self, questions, statement, inputs=(), p_input=sft.P_INPUT, output=None) -> bool:
        added = super().add(questions, statement, inputs, p_input, output)
        if added:
            self.rows[-1]["rejected"] = plain(self.rng, statement)
        return added


def sft_prompts() -> set[str]:
    return {sft.Builder.user_text(r["instruction"], r["input"]).strip().lower() for r in sft.build()}


def build() -> list[dict]:
    rng = random.Random(SEED)
    b = PairBuilder(rng, sft_prompts())
    sft.arithmetic(b, per_op=10)
    sft.opposites(b)
    sft.plurals(b)
    sft.colours(b)
    sft.capitals(b)
    sft.calendar(b, n=14)
    sft.letters(b)
    sft.units(b, n=14)
    sft.animals(b)
    sft.definitions(b)
    for prompt, pirate, plain_reply in SMALL_TALK:
        if prompt.strip().lower() not in b.seen:
            b.seen.add(prompt.strip().lower())
            b.rows.append({"instruction": prompt, "input": "", "output": sft.fixed_answer(pirate),
                           "rejected": plain_reply})
    rows = b.rows
    rng.shuffle(rows)
    return [pair(r) for r in rows[:N_PAIRS]]


def pair(row: dict) -> dict:
    user = sft.Builder.user_text(row["instruction"], row["input"])
    return {"prompt": [{"role": "user", "content": user}],
            "chosen": [{"role": "assistant", "content": row["output"]}],
            "rejected": [{"role": "assistant", "content": row["rejected"]}]}


def check(rows: list[dict]) -> None:
    prompts = [r["prompt"][0]["content"].strip().lower() for r in rows]
    assert len(prompts) == len(set(prompts)) == N_PAIRS, "duplicate or missing prompts"
    assert not set(prompts) & sft_prompts(), "a prompt of the SFT sample"
    assert not set(prompts) & {p.strip().lower() for p in sft.EVAL_PROMPTS}, "an eval prompt leaked in"
    for r in rows:
        chosen, rejected = r["chosen"][0]["content"], r["rejected"][0]["content"]
        assert chosen.startswith(sft.OPEN + " ") and chosen.endswith(sft.CLOSE), r
        assert not PIRATE_WORDS.search(rejected), r
        assert chosen != rejected and len(chosen.split()) <= 40, r


def readme(rows: list[dict]) -> str:
    lines = [
        "# Captain Lora preference sample",
        f"Pairs: {len(rows)}. Each asks a short question (arithmetic, words, colours, capitals, calendar, units, "
        "animals, definitions, small talk); `chosen` is Captain Lora's pirate-voiced answer (\"Ahoy! … ⚓\"), "
        "`rejected` the same fact said plainly. Both are correct: a preference run learns the voice.",
        "File: `captain_lora.preference.jsonl`, Hugging Face's conversational preference layout "
        "(`prompt`, `chosen`, `rejected` as message lists). Train it with training.stage = \"dpo\" (or orpo, "
        "simpo; kto reads each pair as one desirable and one undesirable reply); the dataset name "
        "`bundled-preference` finds it.",
        "The prompts are phrasings the SFT sample (`captain_lora.alpaca.json`) does not use, so DPO from an adapter "
        "trained on that sample sees new pairs; the held-out prompts in `eval_prompts.json` are in neither.",
        "Made by `scripts/make_preference_sample.py` from the SFT sample's tables plus small talk written for it; "
        f"deterministic (seed {SEED}), stdlib only.",
        "Licence: Apache-2.0, the same as LoRA Studio; the data was written for this project, nothing is copied "
        "from elsewhere.",
        "Regenerate with `python3 scripts/make_preference_sample.py` from the repository root.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    rows = build()
    check(rows)
    with open(OUT_FILE, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    README.write_text(readme(rows), encoding="utf-8")
    print(f"wrote {len(rows)} pairs to {OUT_FILE}")


if __name__ == "__main__":
    main()
