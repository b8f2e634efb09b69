"""Which training stage takes which rows: SFT refuses preference files with what to do, DPO/ORPO/SimPO
refuse SFT and KTO files saying what a pair needs, KTO reads pairs as labelled rows (unpaired after
the held-out split, so a pair's two replies stay on one side of it). The same rule answers the loader,
the job check before Start and the CLI (core.datasets.stages)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.core.datasets import (
    DatasetError,
    load_dataset_file,
    load_job_dataset,
    token_length_stats,
)
from studio.core.datasets.job_check import check_job_dataset
from studio.core.datasets.stages import trained_rows
from studio.core.jobs import DatasetSettings

PAIRS = [{"prompt": "Say hi.", "chosen": "Ahoy, matey!", "rejected": "Hello."},
         {"prompt": "Add 2 and 3.", "chosen": "Ahoy! 5 ⚓", "rejected": "5"}]
ALPACA_PAIRS = [{"instruction": "Say hi.", "chosen": "Ahoy!", "rejected": "Hello."}] * 3
KTO = [{"prompt": "Say hi.", "completion": "Ahoy!", "label": True},
       {"prompt": "Say hi.", "completion": "Go away.", "label": False}]
SFT = [{"instruction": "Say hi.", "output": "Ahoy!"}] * 3


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def job(path: Path | str, **fields) -> DatasetSettings:
    return DatasetSettings(path=str(path), **fields)


def refusal(path: Path, stage: str, **fields) -> str:
    with pytest.raises(DatasetError) as caught:
        load_job_dataset(job(path, **fields), stage=stage)
    assert (caught.value.row, caught.value.field) == (None, None)  # the whole file, not one row
    return caught.value.reason


def test_sft_refuses_pairs_naming_the_preference_stages_and_the_sft_mapping(tmp_path):
    reason = refusal(jsonl(tmp_path / "pairs.jsonl", PAIRS), "sft")
    assert "this is preference data" in reason and "format 'preference'" in reason
    assert 'Train it with a preference stage: training.stage = "dpo" (or orpo, simpo, kto)' in reason  # all four
    assert "--map instruction=prompt,output=chosen" in reason
    # ... and the mapping it names trains the chosen replies as SFT
    mapped = load_job_dataset(job(tmp_path / "pairs.jsonl", columns={"instruction": "prompt", "output": "chosen"}))
    assert mapped.format == "alpaca" and [e.messages[-1].content for e in mapped.examples] == ["Ahoy, matey!",
                                                                                                "Ahoy! 5 ⚓"]


def test_sft_refuses_alpaca_pairs_and_its_mapping_works(tmp_path):
    path = jsonl(tmp_path / "alpaca_pairs.jsonl", ALPACA_PAIRS)
    assert "--map output=chosen" in refusal(path, "sft")
    assert load_job_dataset(job(path, columns={"output": "chosen"})).examples[0].messages[-1].content == "Ahoy!"


def test_sft_refuses_kto_rows_and_names_the_kto_stage(tmp_path):
    path = jsonl(tmp_path / "kto.jsonl", KTO * 50)
    reason = refusal(path, "sft")
    assert "labelled desirable (true) or undesirable (false)" in reason
    assert 'Train it with a preference stage: training.stage = "kto"; or' in reason  # the one stage for them
    assert "dataset.format = 'prompt_completion'" in reason
    # read as it says, the undesirable replies are bad rows, never trained
    desirable = load_dataset_file(path, "prompt_completion", on_error="skip", bad_rows_limit=0.5)
    assert {e.completion for e in desirable.examples} == {"Ahoy!"} and desirable.rows_skipped == 50


@pytest.mark.parametrize("stage", ["dpo", "orpo", "simpo"])
def test_pair_stages_refuse_an_sft_file_saying_what_a_preference_row_needs(tmp_path, stage):
    reason = refusal(jsonl(tmp_path / "sft.jsonl", SFT), stage)
    assert f"{stage} trains on preference data and this is alpaca data" in reason
    assert f"A {stage} row needs a prompt, a chosen reply and a rejected one" in reason
    assert '{"prompt": "…", "chosen": "…", "rejected": "…"}' in reason and 'training.stage = "sft"' in reason


def test_pair_stages_refuse_kto_rows_with_what_to_do(tmp_path):
    reason = refusal(jsonl(tmp_path / "kto.jsonl", KTO), "dpo")
    assert "dpo trains on pairs" in reason and "KTO data (format 'kto')" in reason
    assert 'one labelled reply per row: train it with training.stage = "kto"; or' in reason
    assert "write each prompt's desirable and undesirable replies as one row" in reason


def test_kto_refuses_an_sft_file_and_takes_labelled_rows_as_they_are(tmp_path):
    reason = refusal(jsonl(tmp_path / "sft.jsonl", SFT), "kto")
    assert "a prompt, a completion and a label" in reason and "pairs (prompt, chosen, rejected) work too" in reason
    loaded = load_job_dataset(job(jsonl(tmp_path / "kto.jsonl", KTO)), stage="kto")
    assert [(e.kind, e.desirable) for e in loaded.examples] == [("kto", True), ("kto", False)]
    assert loaded.warnings == []


def test_kto_reads_each_pair_as_one_desirable_and_one_undesirable_row(tmp_path):
    """Loaded, the pairs stay pairs (the held-out split is by pair); each side of it is then unpaired."""
    loaded = load_job_dataset(job(jsonl(tmp_path / "pairs.jsonl", PAIRS)), stage="kto")
    assert loaded.format == "preference" and loaded.rows_total == 2
    assert [e.kind for e in loaded.examples] == ["preference", "preference"]
    assert loaded.warnings == ["kto reads the 2 pairs as 4 labelled rows: each chosen reply desirable, each "
                               "rejected one undesirable (a pair's two stay on the same side of the held-out split)"]
    rows = trained_rows("kto", loaded.examples)
    assert [(e.kind, e.messages[0].content, e.response[0].content, e.desirable, e.source) for e in rows] == [
        ("kto", "Say hi.", "Ahoy, matey!", True, "line 1"), ("kto", "Say hi.", "Hello.", False, "line 1"),
        ("kto", "Add 2 and 3.", "Ahoy! 5 ⚓", True, "line 2"), ("kto", "Add 2 and 3.", "5", False, "line 2")]
    assert trained_rows("dpo", loaded.examples) == loaded.examples  # a pair stage trains them as they are


@pytest.mark.parametrize("stage", ["dpo", "orpo", "simpo"])
def test_pair_stages_train_the_shipped_sample_as_pairs(stage):
    from studio.core.resources import resolve_dataset_path

    loaded = load_job_dataset(job("bundled-preference"), resolve_dataset_path("bundled-preference"), stage=stage)
    assert loaded.rows_skipped == 0 and {e.kind for e in loaded.examples} == {"preference"}


def test_an_unknown_stage_is_a_programming_error(tmp_path):
    with pytest.raises(ValueError, match="unknown training stage 'ppo'; expected one of sft, dpo"):
        load_job_dataset(job(jsonl(tmp_path / "pairs.jsonl", PAIRS)), stage="ppo")


def test_the_check_before_start_asks_the_same_rule(tmp_path):
    path = jsonl(tmp_path / "pairs.jsonl", PAIRS)
    for quick in (False, True):
        sft = check_job_dataset(job(path), whole_file_bytes=1 << 20, quick=quick)
        assert len(sft.issues) == 1 and "this is preference data" in sft.issues[0].message
        dpo = check_job_dataset(job(path), whole_file_bytes=1 << 20, quick=quick, stage="dpo")
        assert dpo.ok and dpo.format == "preference"
    whole = check_job_dataset(job(path), whole_file_bytes=1 << 20, stage="dpo")
    assert whole.loaded is not None and len(whole.loaded.examples) == 2
    refused = check_job_dataset(job("bundled"), whole_file_bytes=1 << 20, stage="dpo")
    assert "A dpo row needs a prompt, a chosen reply and a rejected one" in refused.issues[0].message


def test_token_lengths_of_a_pair_are_its_two_sequences(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(["say hi ahoy matey hello"], trainer=trainers.WordLevelTrainer(
        special_tokens=["[UNK]"]))
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    rows = [{"prompt": "say hi", "chosen": "ahoy matey ahoy matey", "rejected": "hello"},
            {"prompt": "say", "chosen": "hi", "rejected": "hello hello hello"}]
    examples = load_dataset_file(jsonl(tmp_path / "pairs.jsonl", rows)).examples

    def words(example) -> str:  # one token per word, no role tags: lengths easy to count
        return " ".join(m.content for m in example.messages)

    stats = token_length_stats(examples, tmp_path / "tokenizer.json", max_length=5, render=words)
    assert (stats.chosen_lengths, stats.rejected_lengths) == ((6, 2), (3, 4))
    assert stats.lengths == (6, 4) and stats.truncated_count == 1  # the longer sequence is what max_length cuts
