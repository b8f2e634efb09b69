#!/usr/bin/env bash
# Installs torch into the given Python without pulling CUDA packages on a machine
# that has no NVIDIA GPU (an unpinned `pip install torch` on Linux takes a CUDA build
# of several GB). Usage: packaging/install_torch.sh .venv/bin/python
set -euo pipefail
py="${1:-python3}"
if "$py" -c "import torch" 2>/dev/null; then
    echo "torch $("$py" -c 'import torch; print(torch.__version__)') already installed"
    exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "NVIDIA GPU found: installing the CUDA build of torch"
    "$py" -m pip install "torch>=2.4"
    exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# A local CPU wheel (this workplace keeps torch 2.13.0 CPU on disk, found through
# pip's find-links) is preferred; elsewhere the official CPU-only index is used.
if "$py" -m pip download -q --no-index --no-deps -d "$tmp" torch==2.13.0 >/dev/null 2>&1; then
    echo "no NVIDIA GPU: installing the local CPU build torch==2.13.0"
    "$py" -m pip install torch==2.13.0
else
    echo "no NVIDIA GPU: installing torch from the CPU-only index"
    "$py" -m pip install torch --index-url https://download.pytorch.org/whl/cpu \
        --extra-index-url https://pypi.org/simple
fi
