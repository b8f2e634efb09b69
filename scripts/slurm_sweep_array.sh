#!/usr/bin/env bash
# One trial of a sweep per SLURM array task: the trial's train job, then (for an eval: objective)
# the eval job of its adapter, each one worker (python -m studio.worker JOB --run-dir DIR).
#
#   lora-studio sweep sweep.toml --write-trials trials/   # prints the sbatch line, e.g.:
#   sbatch --array=0-5 scripts/slurm_sweep_array.sh trials/
#   lora-studio sweep sweep.toml --collect trials/        # results into the study, the best filed
#
# The runs go to trials/runs/trial-N (and trial-N-eval), where --collect reads them: TRIALS_DIR must
# be on a filesystem the nodes and the collecting machine share.
# LORA_STUDIO_PYTHON: the Python of LoRA Studio's environment (default: python on PATH).
# Tested without SLURM by tests/worker/test_sweep_slurm_array.py, which sets SLURM_ARRAY_TASK_ID.
#SBATCH --job-name=lora-sweep
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --time=02:00:00
set -euo pipefail
trials=${1:?usage: slurm_sweep_array.sh TRIALS_DIR (written by lora-studio sweep FILE --write-trials TRIALS_DIR)}
n=${SLURM_ARRAY_TASK_ID:?run it as an array task (sbatch --array=...), or set SLURM_ARRAY_TASK_ID}
python=${LORA_STUDIO_PYTHON:-python}

# stdout is the worker's event stream, also kept in the run folder's events.jsonl
"$python" -m studio.worker "$trials/trial-$n.json" --run-dir "$trials/runs/trial-$n" > /dev/null
if [[ -f "$trials/trial-$n.eval.json" ]]; then
    "$python" -m studio.worker "$trials/trial-$n.eval.json" --run-dir "$trials/runs/trial-$n-eval" > /dev/null
fi
