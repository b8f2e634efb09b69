"""Which rows each training stage trains on: the one rule the loader, the job check and the CLI ask.

SFT learns replies; DPO, ORPO and SimPO learn from pairs (a prompt, a chosen and a rejected
reply); KTO from single replies labelled desirable or not, and also from pairs, which it reads
as one desirable and one undesirable row each (as TRL's ``unpair_preference_dataset`` does).
A file of the wrong kind is refused as a whole, before its rows are checked, with what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from studio.core.jobs import Stage

from .errors import DatasetError
from .formats import FORMAT_HELP, LABELLED_FORMATS, PAIR_FORMATS, Example
from .preference import unpaired

Rows = Literal["replies", "pairs", "labelled"]
STAGE_ROWS: dict[str, Rows] = {"sft": "replies", "dpo": "pairs", "orpo": "pairs", "simpo": "pairs",
                               "kto": "labelled"}
# The stages a job can ask for today (core.jobs' training.stage): the refusals must not send anyone
# to a stage whose trainer hasn't landed yet.
JOB_STAGES: tuple[str, ...] = get_args(Stage)
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
    return "pairs" if fmt in PAIR_FORMATS else "labelled" if fmt in LABELLED_FORMATS else "replies"


def check_stage(stage: str) -> str:
    if stage not in STAGE_ROWS:
        raise ValueError(f"unknown training stage {stage!r}; expected one of {', '.join(STAGE_ROWS)}")
    return stage


def trained_by(rows: Rows) -> tuple[str, ...]:
    """The preference stages a job can ask for today that train rows of this kind (kto takes pairs too)."""
    return tuple(stage for stage in JOB_STAGES if stage != "sft" and (
        STAGE_ROWS[stage] == rows or STAGE_ROWS[stage] == "labelled" and rows == "pairs"))


def stage_choice(rows: Rows) -> str:
    """``training.stage = "dpo"`` (or several, joined), for rows a preference stage trains; "" for none."""
    return " or ".join(f'training.stage = "{stage}"' for stage in trained_by(rows))


def stage_refusal(stage: str, fmt: str, file: str | Path) -> DatasetError | None:
    """Why ``stage`` can't train a file of format ``fmt`` (and what to do), or None when it can."""
    wants, has = STAGE_ROWS[check_stage(stage)], rows_of(fmt)
    if wants == has or wants == "labelled" and has == "pairs":
        return None
    if wants == "replies":
        kind = ("preference data: a prompt with a chosen and a rejected reply" if has == "pairs" else
                "preference data for KTO: replies labelled desirable (true) or undesirable (false)")
        how = (f"Train it with a preference stage: {stage_choice(has)}" if trained_by(has) else
               "KTO is not in this version yet" if len(JOB_STAGES) > 1 else
               "Preference tuning (DPO, ORPO, SimPO, KTO) is not in this version yet")
        return DatasetError(file, None, None, f"this is {kind} (format '{fmt}'); supervised "
                            f"fine-tuning would not learn the preference. {how}; or, to fine-tune on the "
                            f"{'chosen' if has == 'pairs' else 'desirable'} replies only, {_SFT_INSTEAD[fmt]}")
    if wants == "pairs" and has == "labelled":
        kto = (f"train it with {stage_choice('labelled')}" if trained_by("labelled") else
               "KTO, which trains such rows, is not in this version yet")
        return DatasetError(file, None, None, f"{stage} trains on pairs (a prompt, a chosen and a rejected "
                            f"reply), and this is KTO data (format '{fmt}'), one labelled reply per row: {kto}; "
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


def rows_for_stage(stage: str, examples: list[Example]) -> tuple[list[Example], list[str]]:
    """The examples ``stage`` trains on (KTO: pairs unpaired), with a note when they were changed."""
    if STAGE_ROWS[check_stage(stage)] != "labelled" or not any(e.kind == "preference" for e in examples):
        return examples, []
    rows = unpaired(examples)
    return rows, [f"kto reads the {len(examples)} pairs as {len(rows)} labelled rows: each chosen reply "
                  "desirable, each rejected one undesirable"]
