"""The preference stages TRL trains, one record each, and their rows as TRL reads them.

engine.preference_training runs every stage the same way (load, rows, adapter, Trainer arguments,
the protocol callback, resume, save with the card); what differs is here: the trainer and config
classes, how the stage's numbers are named in TRL's logs, and
what its trainer needs done to its rows (the job fields each stage reads: core.jobs.STAGE_SETTINGS). TRL itself is imported only by engine.preference_training
(the classes are named here), so this table costs nothing to import.

  dpo    DPOTrainer: pairs, against a reference (the adapter as it started: TRL keeps a frozen
         copy of it, the "ref" adapter)
  orpo   ORPOTrainer (trl.experimental): pairs, the chosen reply's loss plus an odds-ratio term;
         no reference
  simpo  CPOTrainer with loss "simpo" (trl.experimental): pairs, length-normalised rewards with a
         margin (simpo_gamma), plus cpo_alpha x the chosen reply's loss; no reference
  kto    KTOTrainer: replies labelled desirable or not (pairs unpaired, core.datasets.stages),
         against a reference as DPO; its KL term pairs each row with its neighbour's reply
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from studio.core.chat_segments import TemplateSupport, template_messages
from studio.core.datasets import Example
from studio.core.datasets.preference import sequences
from studio.core.jobs import PreferenceSettings
from studio.engine import data_prep

REWARDS = ("rewards/", "logps/")  # what every stage's trainer logs: rewards/margins, logps/chosen, ...
# CPO's and ORPO's tokenized rows: each reply's whole sequence (prompt + reply), the tokens a step reads.
PAIR_SEQUENCES = ("chosen_input_ids", "rejected_input_ids")


@dataclass(frozen=True)
class PreferenceStage:
    name: str
    trainer: str  # TRL's class names (engine.preference_training imports them)
    config: str
    experimental: str = ""  # the module that holds the classes where trl's top level doesn't (trl>=1.0)
    fixed: dict[str, Any] = field(default_factory=dict)  # the config's keywords that make it this stage
    reference: bool = False  # trains against the adapter as it started (TRL's frozen "ref" copy)
    # TRL renders a conversational row with its tools (a JSON "tools" column); False: its trainer
    # renders without them, so the rows are rendered before it sees them.
    renders_tools: bool = True
    # The tokenized rows' keys whose lengths are a batch's tokens, where the Trainer can't count them
    # (its batches have no input_ids); empty: the Trainer counts each batch's real tokens.
    token_keys: tuple[str, ...] = ()
    metrics: tuple[str, ...] = REWARDS  # prefixes of its own logged numbers, sent with each step
    # TRL reads the training rows in order (KTO: each row's KL term borrows the reply of its neighbour
    # in the batch), so they are shuffled here, with the seed, instead of by the Trainer.
    in_order: bool = False

    def describe(self, preference: PreferenceSettings) -> str:
        """``kto, beta 0.1, desirable_weight 1.0, ...; reference: ...`` for the preparing phase."""
        settings = ", ".join(f"{key} {value}" for key, value in preference.of_stage(self.name).items())
        reference = "the adapter as it starts" if self.reference else "none"
        return f"{self.name}, {settings}; reference: {reference}"


STAGES: dict[str, PreferenceStage] = {stage.name: stage for stage in (
    PreferenceStage("dpo", "DPOTrainer", "DPOConfig", reference=True),
    PreferenceStage("orpo", "ORPOTrainer", "ORPOConfig", experimental="trl.experimental.orpo", renders_tools=False,
                    token_keys=PAIR_SEQUENCES, metrics=(*REWARDS, "log_odds_", "nll_loss")),
    PreferenceStage("simpo", "CPOTrainer", "CPOConfig", experimental="trl.experimental.cpo",
                    fixed={"loss_type": "simpo"}, renders_tools=False, token_keys=PAIR_SEQUENCES,
                    metrics=(*REWARDS, "nll_loss")),
    PreferenceStage("kto", "KTOTrainer", "KTOConfig", experimental="trl.experimental.kto", reference=True,
                    metrics=(*REWARDS, "kl"), in_order=True),
)}


def trl_rows(examples: list[Example], tokenizer) -> list[dict[str, Any]]:
    """Each example as TRL's conversational row, written as SFT writes a chat for the template
    (core.chat_segments: tool calls, reasoning, their fallbacks): a pair as prompt, chosen and
    rejected message lists; a labelled reply as prompt, completion and label."""
    support = TemplateSupport.of(data_prep.template_text(tokenizer))
    with_tools = any(example.tools for example in examples)
    rows = []
    for example in examples:
        chats = [template_messages(chat, support) for chat in sequences(example)]
        replies = (example.chosen, example.rejected) if example.kind == "preference" else (example.response,)
        # Each chat is the prompt's turns (a tools listing may have joined them), then the reply's.
        first = chats[0][0]
        row: dict[str, Any] = {"prompt": first[:len(first) - len(replies[0])]}
        if example.kind == "preference":
            rejected = chats[1][0]
            row.update(chosen=first[len(first) - len(replies[0]):], rejected=rejected[len(rejected) - len(replies[1]):])
        else:
            row.update(completion=first[len(first) - len(replies[0]):], label=bool(example.desirable))
        if with_tools:  # as JSON: Arrow would give every tool the union of all tools' fields
            row["tools"] = json.dumps(chats[0][1])
        rows.append(row)
    return rows


def in_training_order(stage: PreferenceStage, rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The training rows in the order the trainer should read them: shuffled with the seed where TRL
    reads them in order (unpaired, a pair's two replies sit side by side, and KTO's KL term would
    borrow the prompt's own other reply instead of an unrelated one)."""
    if not stage.in_order:
        return rows
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    return shuffled


def length_notes(before: int, tokenized, max_length: int, what: str) -> list[str]:
    """What max_length did to a stage's rows, once TRL has tokenized them, in words: the rows TRL left out
    (a prompt that alone fills max_length leaves no reply token to learn) and those whose replies are cut
    (the end of a reply is not learnt). DPO's and KTO's rows keep their whole lengths (TRL cuts them per
    batch); CPO's and ORPO's are already cut, so a reply that reaches max_length counts as cut."""
    notes = []
    dropped = before - len(tokenized)
    if dropped:
        notes.append(f"{dropped} of {before} {what} were left out by the trainer: the prompt alone fills "
                     f"training.max_length ({max_length} tokens), so no reply token would be learnt. Raise "
                     "training.max_length or shorten those prompts.")
    columns = set(tokenized.column_names)
    whole = "prompt_ids" in columns  # each row's prompt and replies, uncut
    if whole:
        replies = [tokenized[key] for key in ("chosen_ids", "rejected_ids", "completion_ids") if key in columns]
        lengths = [len(prompt) + max(len(reply[i]) for reply in replies)
                   for i, prompt in enumerate(tokenized["prompt_ids"])] if replies else []
    else:
        sequences = [tokenized[key] for key in PAIR_SEQUENCES if key in columns]
        lengths = [max(len(ids) for ids in row) for row in zip(*sequences, strict=True)] if sequences else []
    cut = sum(length > max_length if whole else length >= max_length for length in lengths)
    if cut:
        longest = f"; the longest is {max(lengths):,} tokens" if whole else ""
        notes.append(f"{cut} of {len(lengths)} {what} are longer than training.max_length ({max_length} tokens): "
                     f"their replies are cut there, and what follows is not learnt{longest}. Raise "
                     "training.max_length to learn them whole.")
    return notes
