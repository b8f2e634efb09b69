"""The CLI's ``--method`` and the Train page's Method box give the same job, for every
method over job files that already chose one (the CLI once added the new method's fields
to the file's: ``--job dora.toml --method rslora`` trained DoRA plus rsLoRA)."""

from __future__ import annotations

import argparse

import pytest

from studio.cli.job_building import add_train_flags, build_train_job
from studio.core import job_toml
from studio.core.job_schema import to_dict
from studio.core.jobs import TrainJob
from studio.core.methods import METHODS
from studio.gui.pages.train_page import TrainPage

JOB_FILES = {  # name -> the lora and model fields a job file sets
    "plain": {},
    "dora": {"lora": {"use_dora": True}},
    "qlora": {"model": {"quantization": "4bit"}},
    "combination": {"lora": {"use_dora": True, "use_rslora": True, "loraplus_lr_ratio": 8.0, "init": "pissa"}},
}


def job_file(folder, name: str):
    data = to_dict(TrainJob())
    for section, values in JOB_FILES[name].items():
        data[section].update(values)
    data["lora"]["r"] = 12  # a field no method sets: kept either way
    path = folder / f"{name}.toml"
    path.write_text(job_toml.dumps(data), encoding="utf-8")
    return path


def cli_job(path, method: str) -> dict:
    parser = argparse.ArgumentParser()
    add_train_flags(parser)
    return to_dict(build_train_job(parser.parse_args(["--job", str(path), "--method", method])))




@pytest.mark.parametrize("name", list(JOB_FILES))
def test_cli_and_train_page_build_the_same_job_for_every_method(qtbot, state, tmp_path, name):
    path = job_file(tmp_path, name)
    page = TrainPage(state)
    qtbot.addWidget(page)
    for method in METHODS:
        assert page.load_job(path)
        combo = page.form.method_combo
        combo.setCurrentIndex(combo.findData(method))
        gui = to_dict(page.current_job())
        assert cli_job(path, method) == gui, method
        assert gui["lora"]["r"] == 12
