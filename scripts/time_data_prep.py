"""Time the worker's data preparation (parse, split, chat template, tokenize) on generated rows.

    python scripts/time_data_prep.py --rows 10000 --kind alpaca [--profile]

Uses the bundled model's tokenizer (converted once into the home's models/) and
core.bench_data's rows with real datasets' lengths; prints seconds for parsing and for
engine.data_prep.prepare, the part of a job's "data" phase that grows with the rows.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from studio.core import bench_data
from studio.core.datasets import evaluation_sample, load_dataset_file, split_train_eval
from studio.engine import data_prep, model_loading


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--kind", choices=["alpaca", "chat"], default="alpaca")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="data-prep-"))
    path = (bench_data.write_alpaca(folder / "rows.json", args.rows) if args.kind == "alpaca"
            else bench_data.write_chat(folder / "rows.jsonl", args.rows))
    tokenizer = model_loading.load_tokenizer(model_loading.ensure_hf_folder(model_loading.resolve_model_path("bundled")))
    started = time.perf_counter()
    loaded = load_dataset_file(path, "auto")
    parsed = time.perf_counter()
    train, held_out = split_train_eval(loaded.examples, 0.1, 42)
    profile = cProfile.Profile() if args.profile else None
    if profile:
        profile.enable()
    prepared = data_prep.prepare(train, evaluation_sample(held_out, 200), tokenizer, 512, "responses")
    if profile:
        profile.disable()
    done = time.perf_counter()
    print(f"{args.rows} {args.kind} rows: parse {parsed - started:.2f} s, prepare {done - parsed:.2f} s "
          f"({len(prepared.train)} train rows, {prepared.train_tokens:,} tokens)")
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(20)


if __name__ == "__main__":
    main()
