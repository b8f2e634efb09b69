#!/usr/bin/env bash
# Puts LoRA Studio in the desktop's application menu for this user: the .desktop entry
# (pointing at this checkout's .venv), the icons in the hicolor theme, and the AppStream
# metainfo. Usage: packaging/install_desktop.sh [.venv/bin/lora-studio]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
exe="$(cd "$(dirname "${1:-$here/.venv/bin/lora-studio}")" && pwd)/$(basename "${1:-lora-studio}")"
res="$here/studio/resources/desktop"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
mkdir -p "$data/applications" "$data/metainfo"
sed "s|^Exec=lora-studio|Exec=$exe|" "$res/lora-studio.desktop" > "$data/applications/lora-studio.desktop"
cp "$res/io.github.lora_studio.LoRAStudio.metainfo.xml" "$data/metainfo/"
for png in "$res"/icons/lora-studio-*.png; do
    size="$(basename "$png" .png | sed 's/lora-studio-//')"
    mkdir -p "$data/icons/hicolor/${size}x${size}/apps"
    cp "$png" "$data/icons/hicolor/${size}x${size}/apps/lora-studio.png"
done
mkdir -p "$data/icons/hicolor/scalable/apps"
cp "$res/icons/lora-studio.svg" "$data/icons/hicolor/scalable/apps/lora-studio.svg"
command -v update-desktop-database >/dev/null && update-desktop-database "$data/applications" || true
echo "installed: $data/applications/lora-studio.desktop -> $exe"
