"""card.json as a typed record: one builder, a lossless round trip, and cards from other versions
(older ones, newer ones, hand-edited ones) read with a warning instead of a crash."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import warnings
from pathlib import Path

import pytest
from library_support import make_adapter

from studio.core import cards
from studio.core.cards import BaseModelRef, Card, CardSummary, DatasetRef, build_card
from studio.core.job_schema import job_from_dict, to_dict
from studio.core.library import Library
from studio.core.library.index import COLUMNS, Entry
from studio.core.outputs import TrainMetrics
from studio.core.records import RecordWarning

# A card as LoRA Studio wrote it before cards were typed (card_version 1, by the old build_card).
OLD_TRAINED = {
    "card_version": 1, "name": "captain", "version": 3,
    "base_model": {"id": "bundled", "path": "/m/smollm2.gguf", "hf_folder": "/h/models/smollm2", "name": "SmolLM2",
                   "architecture": "LlamaForCausalLM", "model_type": "llama", "num_parameters": 134515008,
                   "model_id": "bundled", "file_key": "smollm2-abc"},
    "method": "qlora+dora", "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": ["all-linear"]},
    "peft_config": {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"]}, "quantization": "4bit",
    "dataset": {"path": "d.json", "format": "chatml", "fingerprint": "f00", "rows": 100, "rows_train": 90,
                "rows_eval": 10, "rows_held_out": 10, "train_on": "responses"},
    "training": {"learning_rate": 2e-4, "max_steps": 40},
    "metrics": {"train_loss": 1.25, "mean_train_loss": 1.5, "steps": 40, "eval_loss": 1.3, "perplexity": 3.67,
                "skipped_steps": [3], "tokens_per_s": 1712.4},
    "parents": ["draft/v1"], "run_id": "20260101-000000-ab12", "created": "2026-01-01T00:00:00+0000",
    "tags": ["best"], "notes": "arr",
}
OLD_MERGED = {  # the old engine/merging.py card, before the library added name/version/tags
    "card_version": 1, "name": "merged-pirate", "base_model": {"id": "bundled"}, "method": "merge (ties)",
    "lora": {"r": 8, "alpha": 16}, "peft_config": {"r": 8, "lora_alpha": 16},
    "merge": {"combination": "ties", "weights": [0.7, 0.3], "density": 0.5, "adapters": ["a/v1", "b/v1"]},
    "dataset": {"path": "a.json + b.json"}, "metrics": {}, "created": "2026-01-01T00:00:00+0000",
}


def test_a_version_1_card_reads_field_by_field_and_writes_back_the_same_json():
    with _no_record_warnings():
        card = Card.from_dict(OLD_TRAINED)
    assert (card.name, card.version, card.method, card.quantization) == ("captain", 3, "qlora+dora", "4bit")
    assert card.base_model.architecture == "LlamaForCausalLM" and card.base_model.setting() == "bundled"
    assert card.dataset.rows_train == 90 and card.metrics.eval_loss == 1.3 and card.metrics.skipped_steps == [3]
    assert (card.rank, card.alpha, card.target_modules) == (8, 16, ["q_proj", "v_proj"])
    assert card.learning_rate == 2e-4 and card.parents == ["draft/v1"] and card.tags == ["best"]
    assert card.to_dict() == OLD_TRAINED
    with _no_record_warnings():
        merged = Card.from_dict(OLD_MERGED)
    assert merged.merge is not None and merged.merge.weights == [0.7, 0.3]
    assert merged.to_dict() == {**OLD_MERGED, "parents": [], "tags": [], "notes": ""}  # the library adds those


def test_a_card_missing_newer_fields_takes_the_defaults():
    with _no_record_warnings():
        card = Card.from_dict({"name": "bare"})  # no card_version: the first format
    assert card == Card(name="bare")
    assert (card.method, card.rank, card.metrics, card.merge, card.tags) == ("lora", None, TrainMetrics(), None, [])


def test_an_unknown_key_warns_loads_and_survives_a_rewrite(studio_home, tmp_path):
    newer = {**OLD_TRAINED, "dpo": {"beta": 0.1}, "metrics": {**OLD_TRAINED["metrics"], "reward_margin": 0.4}}
    with pytest.warns(RecordWarning) as caught:
        card = Card.from_dict(newer, "card.json")
    assert [str(w.message).split(" (")[0] for w in caught] == ["card.json: metrics: unknown key(s) reward_margin",
                                                                "card.json: unknown key(s) dpo"]
    assert card.name == "captain" and card.extra == {"dpo": {"beta": 0.1}}
    assert card.metrics.extra == {"reward_margin": 0.4}
    assert card.to_dict() == newer
    with Library() as library, pytest.warns(RecordWarning):  # tagging it keeps what we don't know
        entry = library.add(make_adapter(tmp_path / "a"), card)
        library.tag(entry.ref, add=["kept"])
        saved = json.loads((Path(entry.path) / cards.CARD_NAME).read_text())
    assert saved["dpo"] == {"beta": 0.1} and saved["metrics"]["reward_margin"] == 0.4 and "kept" in saved["tags"]


def test_a_newer_card_is_read_with_a_warning_and_keeps_its_version():
    with pytest.warns(RecordWarning, match="card_version 2 is newer"):
        card = Card.from_dict({**OLD_TRAINED, "card_version": 2})
    assert card.name == "captain" and card.to_dict()["card_version"] == 2


def test_a_value_of_the_wrong_type_is_dropped_with_a_warning():
    with pytest.warns(RecordWarning) as caught:
        card = Card.from_dict({**OLD_TRAINED, "tags": "best", "version": "3"})
    assert card.tags == [] and card.version is None and card.name == "captain"
    assert ["tags" in str(w.message) for w in caught] == [False, True]  # in the card's order: version, tags
    with pytest.warns(RecordWarning, match="expected a JSON object"):
        assert Card.from_dict(["not", "a", "card"]) == Card()  # type: ignore[arg-type]


def test_training_merging_and_importing_build_their_cards_the_same_way():
    job = job_from_dict({"model": {"quantization": "4bit"}, "lora": {"r": 8, "use_dora": True}})
    trained = build_card({"target_modules": ["q_proj", "v_proj"]}, job=job, name="captain",
                         base_model=BaseModelRef(id="smollm2"), dataset=DatasetRef(path="d.json", rows_train=90),
                         metrics=TrainMetrics(train_loss=1.23456), run_id="20260101-000000-ab12")
    assert trained.method == "qlora+dora" and trained.lora["r"] == 8 and trained.quantization == "4bit"
    assert trained.training == to_dict(job)["training"] and trained.parents == [] and trained.created
    data = trained.to_dict()
    assert set(data) == {"card_version", "name", "base_model", "method", "lora", "peft_config", "quantization",
                         "dataset", "training", "metrics", "parents", "run_id", "created", "tags", "notes"}
    json.dumps(data)  # plain data only
    assert Card.from_dict(data) == trained
    readme = cards.card_readme(trained)
    assert readme.startswith("# captain\n") and "rank 8" in readme and "q_proj, v_proj" in readme
    assert "train loss 1.2346, eval loss n/a" in readme
    merged = build_card({"r": 16, "lora_alpha": 32, "lora_dropout": 0.0}, name="m", base_model=BaseModelRef(),
                        method="merge (cat)")
    assert merged.lora == {"r": 16, "alpha": 32, "dropout": 0.0} and merged.training is None
    assert "training" not in merged.to_dict() and merged.to_dict()["card_version"] == cards.CARD_VERSION


def test_the_index_columns_are_the_card_summary_fields(studio_home, tmp_path):
    summary_fields = [f.name for f in dataclasses.fields(CardSummary)]
    assert list(COLUMNS) == [f.name for f in dataclasses.fields(Entry)]
    assert set(summary_fields) <= set(COLUMNS)
    assert set(COLUMNS) - set(summary_fields) == {"ref", "path", "trashed", "size_bytes", "card_mtime"}
    with _no_record_warnings():
        card = Card.from_dict(OLD_TRAINED)
    with Library() as library:
        entry = library.add(make_adapter(tmp_path / "a"), card)
        table = [row[1] for row in sqlite3.connect(library.index.path).execute("PRAGMA table_info(versions)")]
    assert sorted(table) == sorted(COLUMNS)
    summary = dataclasses.asdict(dataclasses.replace(card, version=1).summary())
    assert {name: getattr(entry, name) for name in summary_fields} == summary
    assert (entry.base_id, entry.rank, entry.dataset, entry.eval_loss) == ("bundled", 8, "d.json", 1.3)


def test_an_index_of_other_columns_is_rebuilt_from_the_folders(studio_home, tmp_path):
    with Library() as library:
        library.add(make_adapter(tmp_path / "a"), Card(name="pirate"))
        path = library.index.path
    with sqlite3.connect(path) as db:  # an index written for another card summary
        db.execute("DROP TABLE versions")
        db.execute("CREATE TABLE versions (ref TEXT PRIMARY KEY, name TEXT, colour TEXT)")
        db.execute("INSERT INTO versions VALUES ('ghost/v1', 'ghost', 'red')")
    with Library() as library:
        assert [e.ref for e in library.entries()] == ["pirate/v1"]


@contextlib.contextmanager
def _no_record_warnings():
    """Reading this card must say nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordWarning)
        yield


def test_a_tuner_without_alpha_shows_none_on_its_card_and_readme():
    vera = Card(method="vera", lora={"tuner": "vera", "r": 256, "alpha": 16.0}, peft_config={"r": 256})
    lora = Card(method="lora", lora={"tuner": "lora", "r": 8, "alpha": 16.0}, peft_config={"r": 8})
    assert vera.alpha is None and lora.alpha == 16.0  # VeRA scales by its trained vectors; the field is unused
    assert "alpha" not in cards.card_readme(vera) and "rank 8, alpha 16.0" in cards.card_readme(lora)
    assert "rank 256," in cards.card_readme(vera)
