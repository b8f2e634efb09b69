"""Instruction-tuning data with real datasets' token lengths, for timing whole jobs.

The job benchmark (engine.job_bench) times "command to saved adapter", and how long
a job takes depends on how many tokens each row holds and how unevenly (padding,
packing, the longest batch). Random token ids would not go through the dataset
reader, the chat template or the collator the way users' files do, and a public
dataset cannot be downloaded on a benchmark machine. So this module writes files in
the two shapes users bring, with token lengths drawn from published statistics:

* ``write_alpaca``: a JSON list of {"instruction", "input", "output"} (Alpaca/Dolly style);
* ``write_chat``: JSONL of {"messages": [...]} with 1-6 user/assistant turns (ShareGPT style).

The text is pseudo-English cut from one long run of random sentences (built per
seed, so rows share passages; it is timed, not learned from). Every word in `WORDS`
is a single token in the bundled SmolLM2 tokenizer, bare, after a space and
capitalised, as are "." and "?"; a paragraph break is two "\\n" tokens. A field drawn
at n tokens is therefore exactly n SmolLM2 tokens (about n in other English BPE
vocabularies: common words are one token in those too). Rows are deterministic for
a seed, and the first k rows of a larger file are the rows of a k-row file.

Published statistics (Llama tokens unless noted) and the targets chosen here, each
field lognormal with that median and p90, clipped to [floor, cap]; the means follow
from median * exp(sigma^2 / 2):

| set: field                | published                                | target: median / p90 / cap (mean)   |
| ------------------------- | ---------------------------------------- | ----------------------------------- |
| Alpaca 52k: rows w/ input | "around 40%" [1]                         | 40%                                 |
| Alpaca: instruction+input | mean 27.8 [2]; 19.3 (OPT tokenizer) [3]  | instr 13/24/128 (15), input 18/60/512 (28) |
| Alpaca: output            | mean 64.6 [2]; 58.5 (OPT tokenizer) [3]  | 45 / 135 / 1024 (65)                |
| Alpaca: whole row         | 256 a fair cut-off [4]; 512 keeps ~95% [5] | 70 / 164; in SmolLM2's template 102 / 196 |
| Dolly 15k: prompt, reply  | means 118.1, 91.3 [2]                    | reference only (some rows carry a Wikipedia passage) |
| ShareGPT: rounds per row  | mean 3.2 [2]; UltraChat 3 to 7 [6]       | 1-6, most 1 or 2 (mean 2.8)         |
| ShareGPT: user message    | mean 71.0 [2]                            | 35 / 160 / 1024 (71)                |
| ShareGPT: assistant reply | mean 357.8 [2]; 338.0 (OPT tokenizer) [3] | 260 / 700 / 2048 (350)             |
| UltraChat 200k: row       | 1.40 GB / 207,865 rows, ~6.7 kB a row [7] | rows capped at 4,096; in SmolLM2's template 990 / 2440 (mean 1190) |

[1] Stanford Alpaca datasheet (github.com/tatsu-lab/stanford_alpaca, datasheet.md).
[2] Wang et al. 2023, "How Far Can Camels Go?" (arXiv 2306.04751), Table 1.
[3] Kwon et al. 2023, "Efficient Memory Management for LLM Serving with PagedAttention",
    the ShareGPT and Alpaca workloads of its evaluation (prompt and output means).
[4] litgpt, tutorials/prepare_dataset.md (the Alpaca length histogram).
[5] OpenGVLab/LLaMA-Adapter issue 44. [6] thunlp/UltraChat README.
[7] HuggingFaceH4/ultrachat_200k dataset card (train_sft split).

The figures from [2] and [3] were recalled from the papers, not re-read when this was
written: check them before relying on one. Whole-row figures are of 1,000 rows, seed 0. A system message opens a quarter of the
chat rows (ShareGPT has none; many newer sets always have one).
"""

from __future__ import annotations

import json
import math
import random
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import write_text

_Z90 = 1.2815515655446004  # the standard normal's 90th percentile


@dataclass(frozen=True)
class LengthTarget:
    """One field's length in tokens: lognormal with this median and p90, clipped."""

    median: int
    p90: int
    cap: int  # longer draws are cut here: the rare giant row of real sets, bounded
    floor: int = 1

    @property
    def sigma(self) -> float:
        return math.log(self.p90 / self.median) / _Z90

    def draw(self, rng: random.Random) -> int:
        n = round(self.median * math.exp(self.sigma * rng.gauss(0.0, 1.0)))
        return min(self.cap, max(self.floor, n))


ALPACA: dict[str, LengthTarget] = {
    "instruction": LengthTarget(median=13, p90=24, cap=128, floor=3),
    "input": LengthTarget(median=18, p90=60, cap=512, floor=2),
    "output": LengthTarget(median=45, p90=135, cap=1024, floor=1),
}
ALPACA_INPUT_SHARE = 0.4  # rows whose "input" is not empty [1]

CHAT: dict[str, LengthTarget] = {
    "system": LengthTarget(median=24, p90=60, cap=256, floor=4),
    "user": LengthTarget(median=35, p90=160, cap=1024, floor=2),
    "assistant": LengthTarget(median=260, p90=700, cap=2048, floor=8),
}
CHAT_SYSTEM_SHARE = 0.25  # rows that open with a system message
# Rounds (user + assistant) per row: most rows one or two, mean 2.8 (ShareGPT's is 3.2).
CHAT_TURN_WEIGHTS: dict[int, float] = {1: 0.30, 2: 0.22, 3: 0.16, 4: 0.12, 5: 0.10, 6: 0.10}
CHAT_ROW_CAP = 4096  # content tokens a row may hold; later rounds that would pass it are dropped
_LONGEST = max(t.cap for t in (*ALPACA.values(), *CHAT.values()))  # the longest field to cut

# Common English words that are one SmolLM2 token bare, after a space and capitalised.
WORDS: tuple[str, ...] = tuple("""
the of and to in is it that for on with as was at by be this from or an are not have but had they his
her she he we you which one all there their has more when will would who so no if what out up about can
only other new some could time these two may then do first any now my such like our over man me even most
made after also did many before must through back years where much your way well down should because each
just those people how too little state good very make world still own see men work long get here between
both life being under never day another know while last us great old year off come since go right used
take three states few house use during without again place around however home small found say part once
general high upon school every does got united left number course war until always something fact though
water less public put think almost hand far head yet government system better set nothing night end why
find going look later point next program city business give group young days let room president side social
given present several order national possible rather second face per among form important often things
early white case large big need four within along children best church ever power development light family
interest want members mind country area others done although open service problem certain kind different
thus help means whole perhaps times law human line above name example action local show five history whether
either today act across past having body word half week car field already information tell together college
money period keep sure probably free real political air question making office special major problems
federal study available known result economic position reason change south board individual job west close
turn love community true force full age policy everything plan model data value simple answer river story
table energy music market summer paper method science clear short common color level final list write
explain describe create reader student teacher
""".split())
VERBS = ("Explain", "Describe", "Write", "List", "Create", "Give", "Find", "Tell", "Make", "Show")


def _running_text(rng: random.Random, size: int = 1 << 18) -> list[str]:
    """``size`` one-token pieces of pseudo-English: " word", "." and, between paragraphs, "\\n" twice."""
    pieces: list[str] = []
    while len(pieces) < size:
        words = rng.choices(WORDS, k=rng.randint(6, 16))
        first = words[0][0].upper() + words[0][1:]
        pieces.append(first if not pieces or pieces[-1] == "\n" else " " + first)
        pieces.extend(" " + w for w in words[1:])
        pieces.append(".")
        if rng.random() < 0.2:
            pieces += ["\n", "\n"]
    return pieces


def _cut(rng: random.Random, pieces: list[str], n: int, end: str = ".") -> str:
    """Exactly ``n`` pieces (so ``n`` tokens) from a random place, starting on a word."""
    start = rng.randrange(len(pieces) - _LONGEST - 64)  # the loop below moves a few pieces at most
    while not pieces[start][-1].isalpha() or pieces[start + n - 1] == "\n":
        start += 1
    first = pieces[start].lstrip()
    first = first[0].upper() + first[1:]
    if n == 1:
        return first
    last = pieces[start + n - 1]
    if last[-1].isalpha() and pieces[start + n - 2][-1].isalpha():
        last = end  # close the sentence rather than stop mid-way
    return first + "".join(pieces[start + 1 : start + n - 1]) + last


def alpaca_rows(rows: int, seed: int = 0) -> list[dict[str, str]]:
    """``rows`` Alpaca-style records; the same seed gives the same rows."""
    rng = random.Random(seed)
    text = _running_text(rng)
    out = []
    for _ in range(rows):
        verb = rng.choice(VERBS)
        instruction = _cut(rng, text, ALPACA["instruction"].draw(rng))
        instruction = verb + instruction.lstrip(string.ascii_letters)  # a one-token word for another
        extra = _cut(rng, text, ALPACA["input"].draw(rng)) if rng.random() < ALPACA_INPUT_SHARE else ""
        output = _cut(rng, text, ALPACA["output"].draw(rng))
        out.append({"instruction": instruction, "input": extra, "output": output})
    return out


def chat_rows(rows: int, seed: int = 0) -> list[dict[str, Any]]:
    """``rows`` chat records {"messages": [...]}, ending on the assistant's turn."""
    rng = random.Random(seed)
    text = _running_text(rng)
    turns, weights = list(CHAT_TURN_WEIGHTS), list(CHAT_TURN_WEIGHTS.values())
    out = []
    for _ in range(rows):
        messages: list[dict[str, str]] = []
        total = 0
        if rng.random() < CHAT_SYSTEM_SHARE:
            n = CHAT["system"].draw(rng)
            messages.append({"role": "system", "content": _cut(rng, text, n)})
            total += n
        for turn in range(rng.choices(turns, weights)[0]):
            asks, says = CHAT["user"].draw(rng), CHAT["assistant"].draw(rng)
            if turn and total + asks + says > CHAT_ROW_CAP:
                break
            end = "?" if rng.random() < 0.4 else "."
            messages.append({"role": "user", "content": _cut(rng, text, asks, end)})
            messages.append({"role": "assistant", "content": _cut(rng, text, says)})
            total += asks + says
        out.append({"messages": messages})
    return out


def write_alpaca(path: str | Path, rows: int, seed: int = 0) -> Path:
    """A JSON list of Alpaca rows, one row per line, written atomically; returns ``path``."""
    path = Path(path)
    lines = ",\n".join(json.dumps(r, ensure_ascii=False) for r in alpaca_rows(rows, seed))
    write_text(path, f"[\n{lines}\n]\n")
    return path


def write_chat(path: str | Path, rows: int, seed: int = 0) -> Path:
    """JSONL of chat rows, written atomically; returns ``path``."""
    path = Path(path)
    write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chat_rows(rows, seed)))
    return path
