# On the GPU machine, sourced (`. scripts/unsloth_site.sh`) before a job bench that runs the
# `unsloth` mode (engine.job_bench): unpacks the carried Unsloth, unsloth_zoo and TRL
# (.carry/unsloth/site.tar.gz, a comparison only, never a dependency of the app) to
# /tmp/unsloth_site and exports LORA_STUDIO_UNSLOTH_PATH, which that mode puts first on its
# path. Without the tarball it says so, and the mode records that Unsloth cannot be imported.
# Its other needs (torch, transformers, peft, accelerate, triton) are the image's; datasets and
# bitsandbytes are the carried wheels (.whl, /tmp/site).
# The tarball (git-ignored, 5.2 MB) was built from the registry's wheels, unsloth and unsloth_zoo
# 2026.10.9 and trl 1.15.0 (the newest Unsloth allows): unsloth's wheel unpacked without its own
# top-level `studio` (its web UI, which would shadow this app's package) and `unsloth_cli`, its
# dist-info's top_level.txt and RECORD cut to match; unsloth_zoo and trl whole; no __pycache__,
# tests or benchmarks. Nothing else was found needed to import Unsloth (checked on the CPU, with
# only the GPU image's packages): torchao, tyro, xformers, cut_cross_entropy, msgspec, hf_transfer
# and diffusers are optional, looked for and done without.
unsloth_carry="${UNSLOTH_CARRY:-.carry/unsloth/site.tar.gz}"
if [ -f "$unsloth_carry" ]; then
    rm -rf /tmp/unsloth_site && mkdir -p /tmp/unsloth_site \
        && tar -xzf "$unsloth_carry" -C /tmp/unsloth_site \
        && export LORA_STUDIO_UNSLOTH_PATH=/tmp/unsloth_site \
        || echo "unpacking $unsloth_carry failed" >&2
else
    echo "no $unsloth_carry: the unsloth mode will record that Unsloth cannot be imported" >&2
fi
unset unsloth_carry
