"""Packaging: the wheel carries every resource the app reads (sample data, desktop entry,
metainfo, icons); the desktop files are well formed; the bundle's module runner works."""

from __future__ import annotations

import configparser
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile

import pytest
from cli_support import REPO

from studio.core.resources import RESOURCES, desktop_dir


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(out), str(REPO)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    (path,) = out.glob("lora_studio-*.whl")
    return path


def test_the_wheel_carries_every_resource_and_the_command(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for resource in RESOURCES.rglob("*"):
        if resource.is_file() and "__pycache__" not in resource.parts:
            assert f"studio/resources/{resource.relative_to(RESOURCES).as_posix()}" in names, resource
    for expected in ("studio/resources/desktop/lora-studio.desktop",
                     "studio/resources/desktop/io.github.lora_studio.LoRAStudio.metainfo.xml",
                     "studio/resources/desktop/icons/lora-studio.svg",
                     "studio/resources/desktop/icons/lora-studio-256.png",
                     "studio/resources/sample/captain_lora.alpaca.json"):
        assert expected in names, expected
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "lora-studio = studio.launcher:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_desktop_entry_and_metainfo_are_well_formed():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(desktop_dir() / "lora-studio.desktop")
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application" and desktop["Exec"].startswith("lora-studio")
    assert desktop["Icon"] == "lora-studio" and desktop["Categories"].endswith(";")
    meta = ET.parse(desktop_dir() / "io.github.lora_studio.LoRAStudio.metainfo.xml").getroot()
    assert meta.tag == "component" and meta.findtext("launchable") == "lora-studio.desktop"
    assert meta.findtext("id") == "io.github.lora_studio.LoRAStudio" and meta.findtext("summary")
    sizes = sorted(int(p.stem.rsplit("-", 1)[1]) for p in (desktop_dir() / "icons").glob("lora-studio-*.png"))
    assert sizes == [16, 32, 48, 64, 128, 256, 512]


def test_install_desktop_puts_the_entry_in_the_menu(tmp_path):
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "share"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(["bash", str(REPO / "packaging" / "install_desktop.sh"), sys.executable], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    installed = (tmp_path / "share" / "applications" / "lora-studio.desktop").read_text()
    assert f"Exec={sys.executable}" in installed
    assert (tmp_path / "share" / "icons" / "hicolor" / "256x256" / "apps" / "lora-studio.png").is_file()
    assert (tmp_path / "share" / "metainfo" / "io.github.lora_studio.LoRAStudio.metainfo.xml").is_file()


def test_the_launcher_runs_a_module_as_the_frozen_bundle_does():
    code = ("import sys; from studio.launcher import main; "
            "sys.exit(main(['--run-module', 'studio.engine.torch_probe']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert '"version"' in result.stdout
