"""Ranks agree on one plan: ``distributed.largest`` over two real gloo processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def test_two_ranks_take_the_largest_value(tmp_path):
    script = tmp_path / "agree.py"
    script.write_text(textwrap.dedent("""
        import os, torch.distributed as dist
        from studio.engine import distributed
        dist.init_process_group("gloo")
        print("AGREED", distributed.largest(3 + 20 * int(os.environ["RANK"])), flush=True)
        dist.destroy_process_group()
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                             str(script)], capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(line for line in result.stdout.splitlines() if line.startswith("AGREED")) == ["AGREED 23"] * 2


def test_one_process_keeps_its_value():
    from studio.engine import distributed

    assert distributed.largest(7) == 7
