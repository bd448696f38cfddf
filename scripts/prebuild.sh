#!/usr/bin/env bash
# Rebuild the shipped kernel caches (src/temu_gen/prebuilt/) for every CPython the package supports.
# Run after changing anything under src/temu_gen/kernels/; tests/test_jitcache.py fails until it has been run.
#   scripts/prebuild.sh                         # python3.10 ... python3.13 from PATH or pyenv
#   PYTHONS="python3.11 /opt/py312/bin/python3" scripts/prebuild.sh
# Each Python gets a venv under .prebuild/ with the package installed (editable), then compiles every kernel into an
# empty cache (2-3 minutes on 2 cores each) and archives it; archives of older kernel sources are removed.
set -euo pipefail
cd "$(dirname "$0")/.."
pythons=${PYTHONS:-"python3.10 python3.11 python3.12 python3.13"}
for py in $pythons; do
  exe=$(command -v "$py" || true)
  if [ -z "$exe" ] && command -v pyenv >/dev/null; then
    exe=$(ls -d "$(pyenv root)"/versions/"${py#python}".*/bin/python 2>/dev/null | sort -V | tail -n 1 || true)
  fi
  [ -n "$exe" ] || { echo "prebuild: $py not found (install it, or set PYTHONS)" >&2; exit 1; }
  tag=$("$exe" -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
  venv=.prebuild/$tag
  [ -x "$venv/bin/python" ] || "$exe" -m venv "$venv"
  "$venv/bin/pip" install -q -e .
  echo "prebuild: $tag ($exe)"
  "$venv/bin/python" -m temu_gen.jitcache build
done
