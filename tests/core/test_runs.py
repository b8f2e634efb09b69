"""Run folders: ids, lookup, the events log, and the liveness lock held by a real process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from studio.core import paths, protocol, runs

REPO = Path(__file__).resolve().parents[2]

HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from studio.core import runs

    with runs.hold_lock(Path(sys.argv[1])):
        time.sleep(60)
    """
)


def write_events(run_dir: Path, *events: protocol.Event, tail: str = "") -> None:
    with open(run_dir / runs.EVENTS_NAME, "w", encoding="utf-8") as handle:
        for event in events:
            handle.write(protocol.encode(event))
        handle.write(tail)


def make_run(root: Path, run_id: str, *events: protocol.Event, job: dict | None = None) -> Path:
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    if job is not None:
        (run_dir / runs.JOB_NAME).write_text(json.dumps(job), encoding="utf-8")
    write_events(run_dir, *events)
    return run_dir


_STRFTIME = time.strftime


def fake_clock(monkeypatch: pytest.MonkeyPatch, when: float) -> None:
    monkeypatch.setattr(runs.time, "strftime", lambda fmt, *_: _STRFTIME(fmt, time.localtime(when)))


@pytest.fixture
def lock_holder(tmp_path: Path):
    """Start a process that holds a run's lock; yields (run_dir, process)."""
    run_dir = tmp_path / "runs" / "20260101-000000-live-0000"
    run_dir.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir)], cwd=REPO, env=env)
    try:
        lock = run_dir / runs.LOCK_NAME
        deadline = time.monotonic() + 20
        while not (lock.exists() and lock.read_text() == str(proc.pid)):
            assert proc.poll() is None, "the lock holder exited early"
            assert time.monotonic() < deadline, "the lock holder never wrote its pid"
            time.sleep(0.01)
        yield run_dir, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


# -- ids and folders ---------------------------------------------------------


def test_run_id_is_filesystem_safe():
    run_id = runs.new_run_id("My Model/../v2: *weird* ?Name\\ résumé" + "x" * 80)
    assert re.fullmatch(r"[a-z0-9-]+", run_id), run_id
    assert re.fullmatch(r"\d{8}-\d{6}-[a-z0-9-]+-[0-9a-f]{4}", run_id)
    slug = run_id[16:-5]
    assert len(slug) <= 40 and not slug.startswith("-") and not slug.endswith("-")
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", runs.new_run_id())
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", runs.new_run_id("///"))


def test_run_ids_sort_in_creation_order(monkeypatch: pytest.MonkeyPatch):
    base = time.mktime((2026, 11, 25, 13, 45, 0, 0, 0, -1))
    ids = []
    for offset, label in [(0, "zzz"), (1, "aaa"), (59, ""), (60, "m"), (3600 * 24, "a")]:
        fake_clock(monkeypatch, base + offset)
        ids.append(runs.new_run_id(label))
    assert sorted(ids) == ids
    assert ids[0].startswith("20261125-134500-zzz-")


def test_run_ids_are_unique():
    # 16 random bits per second: a clash is possible but rare, and create_run_dir
    # retries on it (tested below), so only a flood of clashes would be a bug.
    ids = [runs.new_run_id("same") for _ in range(50)]
    assert len(set(ids)) >= 48


def test_create_run_dir_uses_the_home_runs_folder(studio_home: Path):
    run_dir = runs.create_run_dir("smollm2")
    assert run_dir.is_dir() and run_dir.parent == studio_home / "runs" == paths.runs_dir()
    assert "-smollm2-" in run_dir.name


def test_create_run_dir_retries_on_a_clash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    tokens = iter(["aaaa", "aaaa", "aaaa", "bbbb"])
    monkeypatch.setattr(runs.secrets, "token_hex", lambda _n: next(tokens))
    fake_clock(monkeypatch, time.time())
    first = runs.create_run_dir("x", root=tmp_path)
    second = runs.create_run_dir("x", root=tmp_path)
    assert first.name.endswith("-aaaa") and second.name.endswith("-bbbb")
    assert first.is_dir() and second.is_dir()


def test_create_run_dir_gives_up_after_repeated_clashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(runs.secrets, "token_hex", lambda _n: "aaaa")
    fake_clock(monkeypatch, time.time())
    runs.create_run_dir(root=tmp_path)
    with pytest.raises(RuntimeError, match="unique run folder"):
        runs.create_run_dir(root=tmp_path)


def test_paths_follow_lora_studio_home(studio_home: Path):
    assert paths.home() == studio_home and studio_home.is_dir()
    assert paths.runs_dir() == studio_home / "runs"
    assert paths.library_dir() == studio_home / "library"
    assert paths.models_dir() == studio_home / "models"
    assert paths.settings_file() == studio_home / "settings.json"


# -- resolve_run ---------------------------------------------------------------


@pytest.fixture
def three_runs(studio_home: Path) -> list[Path]:
    root = paths.runs_dir()
    names = ["20260101-100000-smollm2-ab12", "20260101-100000-smollm2-ab34", "20260102-090000-qwen-cd56"]
    for name in names:
        (root / name).mkdir()
    return [root / name for name in names]


def test_resolve_run_by_id(three_runs):
    assert runs.resolve_run("20260101-100000-smollm2-ab12") == three_runs[0]


def test_resolve_run_by_unique_prefix(three_runs):
    assert runs.resolve_run("20260102") == three_runs[2]
    assert runs.resolve_run("20260101-100000-smollm2-ab3") == three_runs[1]


def test_resolve_run_by_path(three_runs, tmp_path: Path):
    elsewhere = tmp_path / "somewhere" / "my-run"
    elsewhere.mkdir(parents=True)
    assert runs.resolve_run(str(elsewhere)) == elsewhere
    assert runs.resolve_run(str(three_runs[0])) == three_runs[0]


def test_resolve_run_ambiguous_prefix(three_runs):
    with pytest.raises(FileNotFoundError, match="matches 2 runs"):
        runs.resolve_run("20260101")


def test_resolve_run_no_match(three_runs):
    with pytest.raises(FileNotFoundError, match="no run matches"):
        runs.resolve_run("1999")


def test_resolve_run_full_id_wins_over_longer_ids_it_prefixes(studio_home: Path):
    # A run labelled "ab12" can start with the full id of an unlabelled one.
    root = paths.runs_dir()
    short = root / "20260101-100000-ab12"
    (root / "20260101-100000-ab12-ff00").mkdir()
    short.mkdir()
    assert runs.resolve_run("20260101-100000-ab12") == short


# -- events --------------------------------------------------------------------


def test_read_events_skips_torn_last_line_and_garbage(tmp_path: Path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    good = protocol.encode(protocol.Phase(name="training"))
    (run_dir / runs.EVENTS_NAME).write_text(
        good + "not json at all\n" + "[1, 2]\n" + "\n" + good + '{"v": 1, "type": "step", "st',
        encoding="utf-8",
    )
    events = runs.read_events(run_dir)
    assert [e["type"] for e in events] == ["phase", "phase"]


def test_read_events_tolerates_bad_bytes_and_missing_file(tmp_path: Path):
    assert runs.read_events(tmp_path) == []
    (tmp_path / runs.EVENTS_NAME).write_bytes(b"\xff\xfe garbage\n" + protocol.encode(
        protocol.Warning(message="ok")).encode())
    assert [e["type"] for e in runs.read_events(tmp_path)] == ["warning"]


# -- summarize -----------------------------------------------------------------

JOB = {"kind": "train", "model": {"path": "bundled", "quantization": "4bit"},
       "dataset": {"path": "data.jsonl"}, "lora": {"r": 8, "use_dora": True}}


def test_summarize_done(tmp_path: Path):
    run_dir = make_run(
        tmp_path, "20260101-000000-a",
        protocol.Hello(pid=1, t=1000.0),
        protocol.Step(step=1, total_steps=2, epoch=0.5, loss=2.0, lr=1e-4),
        protocol.Step(step=2, total_steps=2, epoch=1.0, loss=1.5, lr=1e-4),
        protocol.Eval(step=2, eval_loss=1.7, perplexity=5.5),
        protocol.Done(outputs={"adapter_path": "x", "metrics": {"train_loss": 1.6}, "stopped": False}),
        job=JOB,
    )
    summary = runs.summarize(run_dir)
    assert summary.status == "done"
    assert summary.run_id == "20260101-000000-a" and summary.path == run_dir
    assert summary.created == 1000.0
    assert (summary.step, summary.total_steps) == (2, 2)
    assert summary.final_loss == 1.6 and summary.eval_loss == 1.7
    assert summary.model == "bundled" and summary.dataset == "data.jsonl"
    assert summary.method == "qlora+dora"
    assert summary.trained is not None and summary.trained.adapter_path == "x"
    assert summary.message == ""


def test_summarize_stopped(tmp_path: Path):
    run_dir = make_run(tmp_path, "r", protocol.Done(outputs={"stopped": True}), job=JOB)
    assert runs.summarize(run_dir).status == "stopped"


def test_a_run_is_named_by_what_its_done_outputs_made(tmp_path: Path):
    train = dict(JOB, output={"name": "asked"})
    made = make_run(tmp_path, "a", protocol.Done(outputs={"name": "pirate", "library_ref": "pirate/v2"}), job=train)
    assert runs.summarize(made).name == "pirate/v2"  # the library version, where it was added
    named = make_run(tmp_path, "b", protocol.Done(outputs={"name": "pirate"}), job=train)
    assert runs.summarize(named).name == "pirate"
    running = make_run(tmp_path, "c", protocol.Hello(pid=1), job=train)
    assert runs.summarize(running).name == "asked"  # no outputs yet: the name the job asked for
    merge = {"kind": "merge", "name": "blend", "adapters": ["a/v1", "b/v1"]}
    merged = make_run(tmp_path, "d", protocol.Done(outputs={"adapter_path": "x", "library_ref": "blend/v3"}), job=merge)
    assert runs.summarize(merged).name == "blend/v3"
    evaluated = make_run(tmp_path, "e", protocol.Done(outputs={"results": []}),
                         job={"kind": "eval", "adapters": ["/tmp/lib/pirate", "calm/v1"]})
    summary = runs.summarize(evaluated)
    assert summary.name == "pirate, calm/v1" and summary.trained is None and summary.outputs == {"results": []}


def test_summarize_failed(tmp_path: Path):
    run_dir = make_run(tmp_path, "r", protocol.Hello(pid=1),
                       protocol.Error(kind="oom", message="CUDA out of memory"))
    summary = runs.summarize(run_dir)
    assert summary.status == "failed"
    assert summary.message == "CUDA out of memory"
    assert summary.method == "lora"


def test_summarize_cancelled(tmp_path: Path):
    run_dir = make_run(tmp_path, "r", protocol.Error(kind="cancelled", message="cancelled by the user"))
    assert runs.summarize(run_dir).status == "cancelled"


def test_summarize_with_no_events_and_no_lock_is_a_dead_run(tmp_path: Path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    summary = runs.summarize(run_dir)
    assert summary.status == "failed" and "died" in summary.message


def test_summarize_running_then_died(lock_holder):
    run_dir, proc = lock_holder
    write_events(run_dir, protocol.Hello(pid=proc.pid),
                 protocol.Step(step=3, total_steps=10, epoch=0.3, loss=2.0, lr=1e-4),
                 tail='{"v": 1, "type": "st')
    assert runs.is_locked(run_dir)
    summary = runs.summarize(run_dir)
    assert summary.status == "running"
    assert summary.step == 3 and summary.message == ""

    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert not runs.is_locked(run_dir)
    summary = runs.summarize(run_dir)
    assert summary.status == "failed"
    assert "died" in summary.message
    assert summary.step == 3


def test_a_second_holder_is_refused(lock_holder):
    run_dir, _proc = lock_holder
    with pytest.raises(BlockingIOError), runs.hold_lock(run_dir):
        pass


def test_hold_lock_in_this_process(tmp_path: Path):
    assert not runs.is_locked(tmp_path)
    with runs.hold_lock(tmp_path):
        assert (tmp_path / runs.LOCK_NAME).read_text() == str(os.getpid())
        assert runs.is_locked(tmp_path)
    assert not runs.is_locked(tmp_path)


# -- checkpoints and listing ---------------------------------------------------


def test_no_checkpoints(tmp_path: Path):
    assert runs.valid_checkpoints(tmp_path) == []
    assert runs.latest_checkpoint(tmp_path) is None
    (tmp_path / runs.CHECKPOINTS_NAME / "checkpoint-3").mkdir(parents=True)
    assert runs.latest_checkpoint(tmp_path) is None


def test_list_runs_newest_first(studio_home: Path):
    root = paths.runs_dir()
    names = ["20260101-090000-b-0001", "20260301-120000-a-0002", "20260201-000000-c-0003"]
    for name in names:
        make_run(root, name, protocol.Done(outputs={}))
    (root / ".20260401-000000-x.staging").mkdir()
    (root / "stray.txt").write_text("not a run")
    listed = runs.list_runs()
    assert [r.run_id for r in listed] == sorted(names, reverse=True)
    assert all(r.status == "done" for r in listed)


def test_list_runs_of_created_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    base = time.time()
    made = []
    for offset in (0, 5, 10):
        fake_clock(monkeypatch, base + offset)
        made.append(runs.create_run_dir("m", root=tmp_path))
    assert [r.path for r in runs.list_runs(tmp_path)] == made[::-1]


def test_newest_live_run_is_a_training_run(studio_home: Path):
    import json as _json

    from studio.core import runs as _runs

    training = _runs.create_run_dir("train")
    (training / _runs.JOB_NAME).write_text(_json.dumps({"kind": "train"}))
    serving = _runs.create_run_dir("compare")  # newer, but a compare worker
    (serving / _runs.JOB_NAME).write_text(_json.dumps({"kind": "serve"}))
    with _runs.hold_lock(training), _runs.hold_lock(serving):
        assert _runs.newest_live_run() == training
        assert _runs.newest_live_run(kind="serve") == serving
    assert _runs.newest_live_run() is None
