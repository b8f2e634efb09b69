"""The CLI's ``--method`` and the Train page's Method box give the same job, for every
method over job files that already chose one (the CLI once added the new method's fields
to the file's: ``--job dora.toml --method rslora`` trained DoRA plus rsLoRA)."""

from __future__ import annotations

import argparse

import pytest

from studio.cli.job_building import add_train_flags, build_train_job
from studio.core import gpus, job_toml, machine_fit
from studio.core.job_schema import to_dict
from studio.core.jobs import TrainJob
from studio.core.methods import METHODS
from studio.gui.pages.train_page import TrainPage

JOB_FILES = {  # name -> the lora and model fields a job file sets
    "plain": {},
    "dora": {"lora": {"use_dora": True}},
    "qlora": {"model": {"quantization": "4bit"}},
    "combination": {"lora": {"use_dora": True, "use_rslora": True, "loraplus_lr_ratio": 8.0, "init": "pissa"}},
    "another tuner": {"lora": {"tuner": "adalora"}},
    "another tuner, 8-bit": {"lora": {"tuner": "vera"}, "model": {"quantization": "8bit"}},
}


def job_file(folder, name: str):
    data = to_dict(TrainJob())
    for section, values in JOB_FILES[name].items():
        data[section].update(values)
    data["lora"]["r"] = 12  # a field no method sets: kept either way
    path = folder / f"{name.replace(' ', '_').replace(',', '')}.toml"
    path.write_text(job_toml.dumps(data), encoding="utf-8")
    return path


def cli_job(path, method: str) -> dict:
    parser = argparse.ArgumentParser()
    add_train_flags(parser)
    return to_dict(build_train_job(parser.parse_args(["--job", str(path), "--method", method])))




@pytest.mark.parametrize("name", list(JOB_FILES))
def test_cli_and_train_page_build_the_same_job_for_every_method(qtbot, state, tmp_path, name, monkeypatch):
    # As on a GPU machine, where every method can run (core.machine_fit refuses 4/8-bit without one).
    monkeypatch.setattr(gpus, "visible_gpus", lambda: (gpus.Gpu(0, "NVIDIA H200", 143_771_000_000),))
    monkeypatch.setattr(machine_fit, "bitsandbytes_installed", lambda: True)  # and the gpu extra installed
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
        assert gui["lora"]["tuner"] == METHODS[method].tuner


def test_the_method_box_lists_every_method_and_shows_only_the_fields_it_uses(qtbot, state):
    page = TrainPage(state)
    qtbot.addWidget(page)
    form = page.form
    combo = form.method_combo
    assert [combo.itemData(i) for i in range(combo.count())] == list(METHODS)
    lora_fields = [name for name in form.bindings if name.startswith("lora.") and name != "lora.continue_from"]
    for method, record in METHODS.items():
        combo.setCurrentIndex(combo.findData(method))
        shown = {name.split(".")[1] for name in lora_fields if not form.bindings[name].widget.isHidden()}
        assert shown == set(record.uses) & {name.split(".")[1] for name in lora_fields}, method
        assert not form.bindings["lora.continue_from"].widget.isHidden()
    combo.setCurrentIndex(combo.findData("oft"))
    assert form.bindings["lora.alpha"].widget.isHidden() and form.bindings["lora.alpha"].label.isHidden()
