"""Ranks agree on one plan: ``distributed.largest`` over two real gloo processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.integration  # starts workers (tests/conftest.py's quick-tier guard)


def test_two_ranks_take_the_largest_value(tmp_path):
    script = tmp_path / "agree.py"
    script.write_text(textwrap.dedent(f"""
        import os, pathlib, torch.distributed as dist
        from studio.engine import distributed
        dist.init_process_group("gloo")
        rank = int(os.environ["RANK"])
        agreed = distributed.largest(3 + 20 * rank)
        pathlib.Path({str(tmp_path)!r}, f"rank{{rank}}.txt").write_text(str(agreed))  # one file each: no interleaving
        dist.destroy_process_group()
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                             str(script)], capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [(tmp_path / f"rank{rank}.txt").read_text() for rank in (0, 1)] == ["23", "23"]


def test_one_process_keeps_its_value():
    from studio.engine import distributed

    assert distributed.largest(7) == 7
