"""GRPO's prompt rows: read from the shapes people have, refused with what to do when they can't be
answered right, kept apart from the stages that learn given replies; and a job's reward tables are
checked where the job is made, running no user code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.core.datasets import DatasetError, load_job_dataset
from studio.core.datasets.prompts import column_names
from studio.core.job_schema import JobError, job_from_dict
from studio.core.jobs import DatasetSettings
from studio.core.resources import resolve_dataset_path
from studio.core.rewards.specs import (
    columns_by_reward,
    declared_columns,
    missing_columns,
    spec_problems,
)


def jsonl(folder: Path, rows: list[dict], name: str = "rows.jsonl") -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def load(path: Path, stage: str = "grpo", **settings):
    return load_job_dataset(DatasetSettings(path=str(path), on_bad_rows="stop", **settings), path, stage=stage)


def test_the_shipped_sample_reads_as_prompts_with_its_answer_columns():
    loaded = load(resolve_dataset_path("bundled-arithmetic"))
    assert loaded.format == "prompts" and len(loaded.examples) == 300
    first = loaded.examples[0]
    assert first.kind == "prompt" and first.messages[-1].role == "user"
    assert set(first.columns) == {"answer", "expression", "level"}
    assert column_names(loaded.examples) == ["answer", "expression", "level"]


def test_message_prompts_a_system_column_and_tools_are_read(tmp_path):
    tool = {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}
    path = jsonl(tmp_path, [
        {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+3?"}], "answer": 5},
        {"prompt": "4+4?", "system": "Answer in digits.", "answer": 8, "tools": [tool]},
    ])
    first, second = load(path).examples
    assert [m.role for m in first.messages] == ["system", "user"] and first.columns == {"answer": 5}
    assert [m.content for m in second.messages] == ["Answer in digits.", "4+4?"] and second.tools == (tool,)


def test_a_messages_file_ending_with_the_users_turn_reads_with_format_prompts(tmp_path):
    path = jsonl(tmp_path, [{"messages": [{"role": "user", "content": "Name a colour."}], "ref": "red"}])
    with pytest.raises(DatasetError, match="format 'prompts'"):
        load(path)  # detected as an SFT messages file: grpo says what to set
    assert load(path, format="prompts").examples[0].columns == {"ref": "red"}


def test_a_prompt_ending_with_the_assistants_reply_is_refused_with_what_to_do(tmp_path):
    path = jsonl(tmp_path, [{"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}],
                             "answer": "x"}])
    with pytest.raises(DatasetError, match="ends with the assistant's reply; GRPO samples the reply itself") as caught:
        load(path)
    assert caught.value.row == 1


def test_stages_and_row_kinds_that_dont_match_are_refused_both_ways(tmp_path):
    with pytest.raises(DatasetError, match='holds no reply for sft to learn.*training.stage = "grpo"'):
        load(resolve_dataset_path("bundled-arithmetic"), stage="sft")
    with pytest.raises(DatasetError, match="holds no reply for dpo"):
        load(resolve_dataset_path("bundled-arithmetic"), stage="dpo")
    with pytest.raises(DatasetError, match="--map prompt=instruction"):
        load(resolve_dataset_path("bundled"))  # alpaca for grpo: says how to use its questions
    alpaca_as_prompts = load(resolve_dataset_path("bundled"), columns={"prompt": "instruction"})
    assert "output" in alpaca_as_prompts.examples[0].columns


def grpo_job(**grpo):
    return {"training": {"stage": "grpo"}, "grpo": {"rewards": [{"kind": "numeric_match", "column": "answer"}],
                                                     **grpo}}


def test_a_grpo_job_checks_its_settings_and_reward_tables(tmp_path):
    assert job_from_dict(grpo_job()).grpo.num_generations == 4
    bad = grpo_job(num_generations=1, temperature=0, rewards=[{"kind": "regex", "pattern": "("},
                                                               {"kind": "file", "path": str(tmp_path / "no.py")}])
    with pytest.raises(JobError) as caught:
        job_from_dict(bad)
    text = str(caught.value)
    for expected in ("grpo.num_generations", "grpo.temperature", "not a regular expression", "no.py does not exist"):
        assert expected in text
    with pytest.raises(JobError, match="no reward chosen"):
        job_from_dict(grpo_job(rewards=[]))


def test_a_user_files_columns_are_read_without_running_it(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("raise SystemExit('ran')\nCOLUMNS = ['answer', 'schema']\n", encoding="utf-8")
    assert declared_columns(path) == ("answer", "schema")  # the file's code did not run
    specs = [{"kind": "file", "path": str(path)}, {"kind": "exact_match", "column": "answer"}]
    assert spec_problems(specs) == []
    assert columns_by_reward(specs) == {"1: file": ("answer", "schema"), "2: exact_match": ("answer",)}
    assert missing_columns(specs, ["prompt", "answer"]) == [
        "reward 1: file reads column 'schema', which the dataset lacks; its columns are answer, prompt"]
