#!/usr/bin/env python3
"""Generate the bundled arithmetic prompt sample for GRPO: word problems with numeric answers.

Each row is a short word problem (addition, subtraction, multiplication; one or two steps, small
numbers) and its answer, so a reward that compares the number inside <answer></answer> with the
`answer` column can score a completion. Easy problems are the majority so that the bundled
SmolLM2-135M-Instruct gets some right from the start (GRPO learns nothing from a group that all
scores zero); larger numbers and two-step problems give it room to improve. Every row keeps its
`expression` and `level`, so a test can recompute the answer.

The held-out rows (arithmetic.eval.jsonl) use phrasings the training rows never use, for a
before/after check. Templates, names and objects are written for this project.

Deterministic (random.Random(2468)), stdlib only, no network. Run from the repository root:

    python3 scripts/make_math_sample.py

Writes, under studio/resources/sample/:
    arithmetic.prompts.jsonl  one {"prompt", "answer", "expression", "level"} per line (training rows)
    arithmetic.eval.jsonl     held-out rows, same fields, phrasings not in the training rows
    README.arithmetic.md      short description
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path

SEED = 2468
OUT_DIR = Path(__file__).resolve().parent.parent / "studio" / "resources" / "sample"
PROMPTS_FILE = "arithmetic.prompts.jsonl"
EVAL_FILE = "arithmetic.eval.jsonl"
README_FILE = "README.arithmetic.md"
INSTRUCTION = "Put the final number inside <answer></answer> tags."
# Rows per level: easy ones dominate so a 135M model scores some rewards from the first step.
TRAIN_LEVELS = {"easy": 150, "medium": 90, "two-step": 60}
EVAL_LEVELS = {"easy": 10, "medium": 6, "two-step": 4}

NAMES = ["Ada", "Bruno", "Chioma", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Ivo", "Jun", "Kwame",
         "Lotte", "Mateo", "Nadia", "Oskar", "Priya", "Quinn", "Rosa", "Sami", "Tove", "Umar", "Vera",
         "Wen", "Yara", "Zeno"]
THINGS = ["apples", "marbles", "pencils", "stickers", "shells", "buttons", "cookies", "stamps", "beads",
          "cards", "books", "balloons", "eggs", "coins", "leaves", "toy cars"]

# Templates: (expression pattern over a, b, c; text). {n} and {m} are two different names, {t} a thing.
ADD = [
    ("a + b", "{n} has {a} {t}. {m} gives {n} {b} more. How many {t} does {n} have now?"),
    ("a + b", "There are {a} {t} on the table and {b} {t} in the box. How many {t} are there in total?"),
    ("a + b", "{n} collected {a} {t} on Monday and {b} {t} on Tuesday. How many {t} did {n} collect altogether?"),
    ("a + b", "{n} has {a} {t} and {m} has {b} {t}. How many {t} do they have together?"),
    ("a + b", "What is {a} plus {b}?"),
]
SUB = [
    ("a - b", "{n} had {a} {t} and gave {b} of them to {m}. How many {t} does {n} have left?"),
    ("a - b", "A shelf holds {a} {t}. {n} takes {b} of them away. How many {t} are still on the shelf?"),
    ("a - b", "{n} has {a} {t}. {m} has {b} fewer {t} than {n}. How many {t} does {m} have?"),
    ("a - b", "{n} has {a} {t} and {m} has {b} {t}. How many more {t} does {n} have than {m}?"),
    ("a - b", "What is {a} minus {b}?"),
]
MUL = [
    ("a * b", "There are {a} bags with {b} {t} in each bag. How many {t} are there altogether?"),
    ("a * b", "{n} buys {a} packs of {t}. Each pack has {b} {t}. How many {t} does {n} buy?"),
    ("a * b", "{a} children each have {b} {t}. How many {t} do the children have in total?"),
    ("a * b", "A tray has {a} rows of {t} with {b} {t} in each row. How many {t} are on the tray?"),
    ("a * b", "What is {a} times {b}?"),
]
TWO_STEP = [
    ("a + b - c", "{n} had {a} {t}, found {b} more, then gave {c} to {m}. How many {t} does {n} have now?"),
    ("a * b + c", "{n} has {a} boxes with {b} {t} in each box, plus {c} loose {t}. How many {t} does {n} have?"),
    ("a * b - c", "{n} buys {a} packs with {b} {t} in each pack and gives away {c} {t}. How many {t} are left?"),
    ("a - b - c", "{n} had {a} {t}. {n} gave {b} to {m} and {c} to a neighbour. How many {t} are left?"),
    ("(a + b) * c", "Each box gets {a} red {t} and {b} blue {t}. How many {t} are in {c} boxes?"),
]
# Held-out phrasings, used only in arithmetic.eval.jsonl.
EVAL_ADD = [
    ("a + b", "A jar holds {a} {t}. {n} drops in {b} more. How many {t} are in the jar?"),
    ("a + b", "{n} counted {a} {t} in one room and {b} {t} in another. How many {t} did {n} count?"),
]
EVAL_SUB = [
    ("a - b", "{n} made {a} {t} and {m} took {b} of them. How many {t} are left?"),
    ("a - b", "A van carries {a} {t}. At the first stop {b} {t} are unloaded. How many {t} are still in the van?"),
]
EVAL_MUL = [
    ("a * b", "{n} fills {a} baskets and puts {b} {t} in every basket. How many {t} is that?"),
]
EVAL_TWO_STEP = [
    ("a + b + c", "{n} has {a} {t}, {m} has {b} {t} and their teacher has {c} {t}. How many {t} is that in all?"),
    ("a * b - c", "{a} friends each bring {b} {t}. {c} {t} get lost. How many {t} do the friends still have?"),
]


def operands(rng: random.Random, level: str, expression: str) -> dict[str, int]:
    """Numbers for one problem; results stay whole and never negative."""
    if expression == "a + b":
        hi = 10 if level == "easy" else 60
        lo = 1 if level == "easy" else 11
        return {"a": rng.randint(lo, hi), "b": rng.randint(lo if level == "easy" else 5, hi)}
    if expression == "a - b":
        a = rng.randint(4, 20) if level == "easy" else rng.randint(25, 90)
        return {"a": a, "b": rng.randint(1, a - 1 if level == "easy" else a - 5)}
    if expression == "a * b":
        if level == "easy":
            return {"a": rng.randint(2, 5), "b": rng.randint(2, 5)}
        return {"a": rng.randint(3, 12), "b": rng.randint(6, 12)}
    if expression in ("a + b - c", "a + b + c"):
        a, b = rng.randint(3, 20), rng.randint(2, 15)
        return {"a": a, "b": b, "c": rng.randint(1, a + b - 1)}
    if expression == "a * b + c":
        return {"a": rng.randint(2, 6), "b": rng.randint(2, 6), "c": rng.randint(1, 9)}
    if expression == "a * b - c":
        a, b = rng.randint(2, 6), rng.randint(3, 6)
        return {"a": a, "b": b, "c": rng.randint(1, a * b - 1)}
    if expression == "a - b - c":
        a = rng.randint(12, 30)
        b = rng.randint(1, a // 2)
        return {"a": a, "b": b, "c": rng.randint(1, a - b - 1)}
    if expression == "(a + b) * c":
        return {"a": rng.randint(1, 5), "b": rng.randint(1, 5), "c": rng.randint(2, 4)}
    raise ValueError(f"no operands for {expression!r}")


# Each pattern's value, computed directly (the test recomputes it from the written expression instead).
COMPUTE = {
    "a + b": lambda a, b, c: a + b,
    "a - b": lambda a, b, c: a - b,
    "a * b": lambda a, b, c: a * b,
    "a + b - c": lambda a, b, c: a + b - c,
    "a + b + c": lambda a, b, c: a + b + c,
    "a * b + c": lambda a, b, c: a * b + c,
    "a * b - c": lambda a, b, c: a * b - c,
    "a - b - c": lambda a, b, c: a - b - c,
    "(a + b) * c": lambda a, b, c: (a + b) * c,
}


def make_row(rng: random.Random, level: str, template: tuple[str, str]) -> dict:
    pattern, text = template
    numbers = operands(rng, level, pattern)
    first, second = rng.sample(NAMES, 2)
    question = text.format(n=first, m=second, t=rng.choice(THINGS), **numbers)
    expression = "".join(str(numbers[ch]) if ch in numbers else ch for ch in pattern)
    answer = COMPUTE[pattern](numbers["a"], numbers["b"], numbers.get("c", 0))
    return {"prompt": f"{question} {INSTRUCTION}", "answer": str(answer),
            "expression": expression, "level": level}


def templates_for(level: str, held_out: bool) -> list[tuple[str, str]]:
    if level == "two-step":
        return EVAL_TWO_STEP if held_out else TWO_STEP
    return (EVAL_ADD + EVAL_SUB + EVAL_MUL) if held_out else (ADD + SUB + MUL)


def build_rows(rng: random.Random, levels: dict[str, int], held_out: bool, taken: set[str]) -> list[dict]:
    rows: list[dict] = []
    for level, count in levels.items():
        templates = templates_for(level, held_out)
        made = 0
        while made < count:
            row = make_row(rng, level, templates[made % len(templates)])
            if row["prompt"] in taken:
                continue
            taken.add(row["prompt"])
            rows.append(row)
            made += 1
    rng.shuffle(rows)
    return rows


def build() -> tuple[list[dict], list[dict]]:
    """(training rows, held-out rows)."""
    rng = random.Random(SEED)
    taken: set[str] = set()
    train = build_rows(rng, TRAIN_LEVELS, held_out=False, taken=taken)
    held_out = build_rows(rng, EVAL_LEVELS, held_out=True, taken=taken)
    return train, held_out


def readme(train: list[dict], held_out: list[dict]) -> str:
    mix = Counter(r["level"] for r in train)
    lines = [
        "# Arithmetic prompt sample (GRPO)",
        f"Rows: {len(train)} short word problems with a numeric answer: {mix['easy']} easy (one step, numbers "
        f"up to 20, products up to 5 × 5), {mix['medium']} medium (one step, numbers up to 90, products up to "
        f"12 × 12), {mix['two-step']} two-step (two operations on small numbers). Addition, subtraction and "
        "multiplication; every answer is a whole number of at least zero.",
        f"Files: `{PROMPTS_FILE}`, one `{{\"prompt\", \"answer\", \"expression\", \"level\"}}` per line; each prompt "
        "ends with \"" + INSTRUCTION + "\", so a reward can compare the tagged number with `answer`. Train it "
        "with training.stage = \"grpo\"; the dataset name `bundled-arithmetic` finds it.",
        f"`{EVAL_FILE}` holds {len(held_out)} held-out problems in phrasings the training rows never use, to "
        "compare answers and rewards before and after training.",
        "Easy problems are the majority so that the bundled SmolLM2-135M-Instruct solves some from the start: "
        "GRPO learns only from groups whose rewards differ.",
        "Made by `scripts/make_math_sample.py` from templates, names and objects written for it; deterministic "
        f"(seed {SEED}), stdlib only.",
        "Licence: Apache-2.0, the same as LoRA Studio; the data was written for this project, nothing is copied "
        "from elsewhere.",
        "Regenerate with `python3 scripts/make_math_sample.py` from the repository root.",
    ]
    return "\n".join(lines) + "\n"


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write(out_dir: Path) -> tuple[list[dict], list[dict]]:
    """Write the three files into out_dir (the shipped folder, or a test's temporary one)."""
    train, held_out = build()
    (out_dir / PROMPTS_FILE).write_text(jsonl(train), encoding="utf-8")
    (out_dir / EVAL_FILE).write_text(jsonl(held_out), encoding="utf-8")
    (out_dir / README_FILE).write_text(readme(train, held_out), encoding="utf-8")
    return train, held_out


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_DIR
    train, held_out = write(out_dir)
    print(f"wrote {len(train)} training and {len(held_out)} held-out problems to {out_dir}")


if __name__ == "__main__":
    main()
