"""The preference settings on the command line: a stage's name works as their section (``--set
dpo.beta=0.2``, as people write it), and SimPO gets its own typical beta when none was chosen."""

from __future__ import annotations

from studio.cli.job_building import build_train_job
from studio.cli.main import build_parser
from studio.core.jobs import (
    PREFERENCE_LEARNING_RATE,
    SIMPO_BETA,
    STAGE_SETTINGS,
    PreferenceSettings,
    TrainingSettings,
)


def job_of(*argv: str):
    return build_train_job(build_parser().parse_args(["train", *argv]))


def test_a_stage_name_is_the_preference_section():
    job = job_of("--stage", "dpo", "--set", "dpo.beta=0.2", "--set", "preference.label_smoothing=0.1")
    assert job.preference.beta == 0.2 and job.preference.label_smoothing == 0.1


def test_simpo_gets_its_own_beta_unless_one_is_given():
    assert job_of("--stage", "simpo").preference.beta == SIMPO_BETA
    assert job_of("--stage", "simpo", "--set", "simpo.beta=2.5").preference.beta == 2.5
    assert job_of("--stage", "dpo").preference.beta == PreferenceSettings.beta


def test_each_stage_reads_only_its_own_settings():
    settings = PreferenceSettings(beta=0.3, desirable_weight=1.2)
    assert settings.of_stage("kto") == {"beta": 0.3, "desirable_weight": 1.2, "undesirable_weight": 1.0}
    assert settings.of_stage("orpo") == {"beta": 0.3} and settings.of_stage("sft") == {}
    read = {name for names in STAGE_SETTINGS.values() for name in names}
    assert read == set(PreferenceSettings.__dataclass_fields__)  # every setting belongs to some stage


def test_a_preference_stage_gets_its_own_learning_rate_unless_one_is_given():
    assert job_of("--stage", "dpo").training.learning_rate == PREFERENCE_LEARNING_RATE
    assert job_of("--stage", "kto", "--lr", str(TrainingSettings.learning_rate)).training.learning_rate == \
        TrainingSettings.learning_rate  # typed on the command line: kept, even at SFT's value
    assert job_of("--stage", "orpo", "--set", "training.learning_rate=5e-5").training.learning_rate == 5e-5
    assert job_of().training.learning_rate == TrainingSettings.learning_rate


def test_the_magnitude_check_counts_the_rows_kto_trains_from_pairs():
    """KTO trains each pair as a desirable and an undesirable row: its steps follow from twice the pairs."""
    from studio.cli.magnitude_check import _rows
    from studio.core.datasets import load_job_dataset
    from studio.core.resources import resolve_dataset_path

    job = job_of("--stage", "kto", "--dataset", "bundled-preference")
    loaded = load_job_dataset(job.dataset, resolve_dataset_path(job.dataset.path), stage="kto")
    assert _rows(job, loaded) == 2 * len(loaded.examples) == 480
    assert _rows(job_of("--stage", "dpo", "--dataset", "bundled-preference"), loaded) == 240
