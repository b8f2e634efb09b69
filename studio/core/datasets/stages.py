"""Which rows each training stage trains on: the one rule the loader, the job check and the CLI ask.

SFT learns replies; DPO, ORPO and SimPO learn from pairs (a prompt, a chosen and a rejected
reply); KTO from single replies labelled desirable or not, and also from pairs, which it reads
as one desirable and one undesirable row each (as TRL's ``unpair_preference_dataset`` does).
A file of the wrong kind is refused as a whole, before its rows are checked, with what to do.
KTO unpairs a pairs file after the held-out split (``trained_rows``), so a pair's two replies stay
on one side of it: a rejected reply held out must not have its chosen twin in training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from .errors import DatasetError
from .formats import FORMAT_HELP, LABELLED_FORMATS, PAIR_FORMATS, Example
from .preference import unpaired
from .prompts import PROMPT_FORMATS

Rows = Literal["replies", "pairs", "labelled", "prompts"]
# Every stage a job can ask for (core.jobs' Stage; a test holds the two lists equal).
STAGE_ROWS: dict[str, Rows] = {"sft": "replies", "dpo": "pairs", "orpo": "pairs", "simpo": "pairs",
                               "kto": "labelled", "grpo": "prompts"}
# How to fine-tune on a preference file's chosen replies instead, per format.
_SFT_INSTEAD = {
    "preference": "map the chosen reply as the answer: with prompt and chosen as strings, --map "
                  "instruction=prompt,output=chosen (dataset.columns); with message lists, write each row as "
                  "messages = prompt + chosen",
    "preference_alpaca": "map the chosen reply as the answer: --map output=chosen (dataset.columns)",
    "preference_sharegpt": "append each row's chosen turn to its conversations and drop 'chosen' and 'rejected'",
    "kto": "keep the rows labelled true and read them with dataset.format = 'prompt_completion'",
    "kto_messages": "keep the rows labelled true and read them with dataset.format = 'messages'",
}


def rows_of(fmt: str) -> Rows:
    """What one row of a format holds: a reply to learn, a pair, or a labelled reply."""
    return ("pairs" if fmt in PAIR_FORMATS else "labelled" if fmt in LABELLED_FORMATS else
            "prompts" if fmt in PROMPT_FORMATS else "replies")


def check_stage(stage: str) -> str:
    if stage not in STAGE_ROWS:
        raise ValueError(f"unknown training stage {stage!r}; expected one of {', '.join(STAGE_ROWS)}")
    return stage


def trained_by(rows: Rows) -> tuple[str, ...]:
    """The preference stages that train rows of this kind (kto takes pairs too)."""
    return tuple(stage for stage, wants in STAGE_ROWS.items() if stage not in ("sft", "grpo") and (
        wants == rows or wants == "labelled" and rows == "pairs"))


def stage_choice(rows: Rows) -> str:
    """``training.stage = "dpo"`` (or the others, named after it), for rows a preference stage trains;
    "" for none."""
    first, *others = trained_by(rows) or ("",)
    if not first:
        return ""
    return f'training.stage = "{first}"' + (f" (or {', '.join(others)})" if others else "")


def stage_refusal(stage: str, fmt: str, file: str | Path) -> DatasetError | None:
    """Why ``stage`` can't train a file of format ``fmt`` (and what to do), or None when it can."""
    wants, has = STAGE_ROWS[check_stage(stage)], rows_of(fmt)
    if wants == has or wants == "labelled" and has == "pairs":
        return None
    if "prompts" in (wants, has):
        return _prompts_refusal(stage, fmt, file)
    if wants == "replies":
        kind = ("preference data: a prompt with a chosen and a rejected reply" if has == "pairs" else
                "preference data for KTO: replies labelled desirable (true) or undesirable (false)")
        return DatasetError(file, None, None, f"this is {kind} (format '{fmt}'); supervised "
                            f"fine-tuning would not learn the preference. Train it with a preference stage: "
                            f"{stage_choice(has)}; or, to fine-tune on the "
                            f"{'chosen' if has == 'pairs' else 'desirable'} replies only, {_SFT_INSTEAD[fmt]}")
    if wants == "pairs" and has == "labelled":
        return DatasetError(file, None, None, f"{stage} trains on pairs (a prompt, a chosen and a rejected "
                            f"reply), and this is KTO data (format '{fmt}'), one labelled reply per row: train "
                            f"it with {stage_choice('labelled')}; "
                            "or write each prompt's desirable and undesirable replies as one row of prompt, "
                            "chosen, rejected")
    needs = ("a prompt, a chosen reply and a rejected one: e.g. {\"prompt\": \"…\", \"chosen\": \"…\", "
             "\"rejected\": \"…\"}, strings or message lists (formats preference, preference_sharegpt, "
             "preference_alpaca)" if wants == "pairs" else
             "a prompt, a completion and a label (true: a reply to learn from, false: one to move away "
             "from), or messages + label (formats kto, kto_messages); pairs (prompt, chosen, rejected) "
             "work too")
    return DatasetError(file, None, None, f"{stage} trains on preference data and this is {fmt} data "
                        f"({FORMAT_HELP[fmt]}), one reply per row to learn. A {stage} row needs {needs}; train "
                        "this file with training.stage = \"sft\"")


def _prompts_refusal(stage: str, fmt: str, file: str | Path) -> DatasetError:
    """Prompts for a stage that learns given replies, or given replies for GRPO, which writes its own."""
    if stage == "grpo":
        turn = {"messages": " (its rows end with the assistant's reply: drop that turn, or keep it in a column "
                            "for a reward to read, e.g. answer)",
                "sharegpt": " (its rows end with the assistant's reply)",
                "alpaca": "; to use its questions, --map prompt=instruction (dataset.columns) keeps 'output' "
                          "as a column a reward can read, e.g. numeric_match with column = 'output'",
                "prompt_completion": "; to use its prompts, dataset.format = 'prompts' keeps 'completion' as a "
                                     "column a reward can read"}.get(fmt, "")
        return DatasetError(file, None, None, f"grpo answers prompts itself and scores its answers with reward "
                            f"functions, and this is {fmt} data ({FORMAT_HELP[fmt]}){turn}. A grpo row needs the "
                            "prompt and the columns the rewards read, e.g. {\"prompt\": \"What is 2 + 3?\", "
                            "\"answer\": \"5\"} (format 'prompts'; --map prompt=question maps other names); to "
                            "learn the replies this file gives, train it with training.stage = \"sft\"")
    return DatasetError(file, None, None, f"this is prompt data for grpo (format '{fmt}': {FORMAT_HELP[fmt]}): it "
                        f"holds no reply for {stage} to learn. Train it with training.stage = \"grpo\" and "
                        "reward functions (grpo.rewards) that score the model's own answers")


def rows_for_stage(stage: str, examples: list[Example]) -> tuple[list[Example], list[str]]:
    """The examples ``stage`` splits into training and held-out rows (as read: KTO's pairs are unpaired
    after the split, by ``trained_rows``), with a note when it will read them as other rows."""
    pairs = sum(e.kind == "preference" for e in examples)
    if STAGE_ROWS[check_stage(stage)] != "labelled" or not pairs:
        return examples, []
    return examples, [f"kto reads the {pairs} pairs as {2 * pairs} labelled rows: each chosen reply desirable, "
                      "each rejected one undesirable (a pair's two stay on the same side of the held-out split)"]


def trained_rows(stage: str, examples: list[Example]) -> list[Example]:
    """The rows ``stage`` trains or evaluates, from one side of the held-out split: KTO's pairs unpaired,
    as TRL's ``unpair_preference_dataset`` does; any other stage's as they are."""
    return unpaired(examples) if STAGE_ROWS[check_stage(stage)] == "labelled" else examples
