#!/usr/bin/env bash
# Installs the real Milvus test servers into project-local Python virtual environments.
#
#   test/setup/milvus/install.sh [all | milvus-2.3.5 | milvus-2.2.16 | milvus-lite | milvus-lite-2.5.1 | corpus ...]
#
# Each kind gets its own venv under <repo>/.cache/venv/<kind> (the `milvus` wheels of 2.3.5 and
# 2.2.16 share a package name, so they cannot live together). A stamp file per venv records the
# pinned requirement set and the Python used; when it matches, the kind is skipped, so a second
# run takes well under a second. The wheels are kept in the machine cache (~/.cache/milvus-migrate/wheels/<kind>) so that a
# venv is rebuilt without the network (pip's own cache, ~/.cache/pip, stays empty on this machine,
# so it does not make a re-install any faster).
#
# Python is used for the test servers only; the product itself is TypeScript.
# Env: MILVUS_PYTHON=/path/to/python3 to choose the interpreter (default: python3 on PATH).
#      MILVUS_INSTALL_FORCE=1 to rebuild the venvs even when their stamps match.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../../.." && pwd)"
VENV_ROOT="$REPO_ROOT/.cache/venv"
# Wheels live in the machine-level cache so that a fresh clone (CI) installs without downloading.
WHEEL_ROOT="${MILVUS_MIGRATE_CACHE:-$HOME/.cache/milvus-migrate}/wheels"
PYTHON="${MILVUS_PYTHON:-python3}"

# Pinned requirement sets, one per venv. Keep in sync with test/support/milvus-server.ts.
#   milvus 2.3.5 / 2.2.16: the embedded server wheels (command `milvus-server`, no dependencies).
#   milvus-lite 3.2.2 needs pymilvus in the same venv: its gRPC server is built on pymilvus's
#   generated protobuf stubs, so the pymilvus version decides which protocol the server speaks.
#   With pymilvus 2.5.18 it starts and answers, but databases are silently ignored (a collection
#   created in db1 is not listed in db1); with 3.0.2 they work.
declare -A REQS=(
  [milvus-2.3.5]="milvus==2.3.5"
  [milvus-2.2.16]="milvus==2.2.16"
  [milvus-lite]="milvus-lite==3.2.2 pymilvus==3.0.2"
  # The official embedded Milvus Lite (a C++ milvus binary inside the wheel, lib/milvus). Started by
  # milvus-server.ts directly as `milvus DB_FILE HOST:PORT LOG_LEVEL`: it then serves gRPC on TCP
  # (pymilvus's MilvusClient("x.db") runs the same binary on a unix socket). No pymilvus needed.
  [milvus-lite-2.5.1]="milvus-lite==2.5.1"
  # Test set-up only: the differential corpus generator (test/corpus/generate.py) writes random
  # collections with hypothesis + pymilvus. pymilvus 3.0.2 (the lite server's) was checked as a
  # client against Milvus 2.3.5 and milvus-lite 3.2.2: create, index, insert, delete, query work.
  [corpus]="hypothesis==6.170.15 pymilvus==3.0.2"
)
# The command each venv must provide (checked after install and before trusting a stamp).
declare -A BINS=(
  [milvus-2.3.5]="milvus-server"
  [milvus-2.2.16]="milvus-server"
  [milvus-lite]="milvus-lite"
  [milvus-lite-2.5.1]="milvus-lite"
  [corpus]="python"
)
ALL_KINDS=(milvus-2.3.5 milvus-2.2.16 milvus-lite milvus-lite-2.5.1 corpus)

kinds=()
if [[ $# -eq 0 || "$1" == "all" ]]; then
  kinds=("${ALL_KINDS[@]}")
else
  for k in "$@"; do
    if [[ -z "${REQS[$k]+x}" ]]; then
      echo "install.sh: unknown kind '$k' (known: ${ALL_KINDS[*]})" >&2
      exit 2
    fi
    kinds+=("$k")
  done
fi

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "install.sh: '$PYTHON' not found; set MILVUS_PYTHON to a Python 3 interpreter (3.11 is the one checked)" >&2
  exit 1
fi
PY_VERSION="$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
PYTHON="$("$PYTHON" -c 'import sys; print(sys.executable)')" # absolute (pyenv shims, pip --python)

mkdir -p "$VENV_ROOT" "$WHEEL_ROOT"

# Serialize concurrent runs (several test workers may call this at once).
exec 9>"$VENV_ROOT/.install.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi

# The milvus-server wrapper decompresses ~250 MB of binaries (milvus and its .so files, xz) into
# every data dir on every start: 4-8 s of CPU. Do it once per venv into <venv>/prepared;
# test/support/milvus-server.ts hard-links the result (with the wrapper's .lzma.md5 files) into
# each new data dir, and the wrapper then finds them up to date and skips the work.
prepare_binaries() {
  local kind="$1"
  local venv="$VENV_ROOT/$kind"
  [[ "${BINS[$kind]}" == "milvus-server" ]] || return 0
  local pstamp="$venv/prepared/.prepared-stamp"
  if [[ -f "$pstamp" && -x "$venv/prepared/bin/milvus" ]]; then
    return 0
  fi
  rm -rf "$venv/prepared.tmp"
  "$venv/bin/python" -c 'import sys, milvus; milvus._initialize_data_files(sys.argv[1])' "$venv/prepared.tmp"
  if [[ ! -x "$venv/prepared.tmp/bin/milvus" ]]; then
    echo "install.sh: could not prepare the milvus binaries of $kind" >&2
    exit 1
  fi
  date -u +%FT%TZ >"$venv/prepared.tmp/.prepared-stamp"
  rm -rf "$venv/prepared"
  mv "$venv/prepared.tmp" "$venv/prepared"
  echo "install.sh: $kind binaries prepared in $venv/prepared"
}

install_kind() {
  local kind="$1"
  local venv="$VENV_ROOT/$kind"
  local reqs="${REQS[$kind]}"
  local bin="${BINS[$kind]}"
  local stamp="$venv/.installed-stamp"
  local want="python=$PY_VERSION reqs=$reqs"

  if [[ "${MILVUS_INSTALL_FORCE:-}" != "1" && -f "$stamp" && -x "$venv/bin/$bin" ]] \
     && [[ "$(cat "$stamp")" == "$want" ]]; then
    echo "install.sh: $kind up to date ($reqs)"
    prepare_binaries "$kind"
    return 0
  fi

  local start=$SECONDS
  echo "install.sh: installing $kind ($reqs) with Python $PY_VERSION into $venv"
  rm -rf "$venv"
  # A venv without its own pip is created in 0.2 s instead of 6 s; the interpreter's pip (>= 22.3)
  # installs into it with --python. Older pips get a venv with ensurepip instead.
  local pip
  if "$PYTHON" -m pip --python "$PYTHON" --version >/dev/null 2>&1; then
    "$PYTHON" -m venv --without-pip "$venv"
    pip=("$PYTHON" -m pip --python "$venv/bin/python")
  else
    "$PYTHON" -m venv "$venv"
    pip=("$venv/bin/python" -m pip)
  fi
  pip+=(--disable-pip-version-check --no-input -q)
  # Wheelhouse: download once (with every dependency), then install from it offline.
  local wheels="$WHEEL_ROOT/$kind"
  local wstamp="$wheels/.downloaded-stamp"
  if [[ ! -f "$wstamp" || "$(cat "$wstamp")" != "$want" ]]; then
    rm -rf "$wheels"
    mkdir -p "$wheels"
    # shellcheck disable=SC2086
    "${pip[@]}" download -d "$wheels" $reqs
    printf '%s' "$want" >"$wstamp"
  fi
  # shellcheck disable=SC2086
  if ! "${pip[@]}" install --no-index --find-links "$wheels" $reqs; then
    echo "install.sh: offline install of $kind failed; retrying from the registry" >&2
    rm -f "$wstamp"
    # shellcheck disable=SC2086
    "${pip[@]}" install $reqs
  fi
  if [[ ! -x "$venv/bin/$bin" ]]; then
    echo "install.sh: $kind installed but $venv/bin/$bin is missing" >&2
    exit 1
  fi
  if [[ "$kind" == "milvus-lite-2.5.1" ]]; then
    # The wheel's server binary; pip does not keep its exec bit.
    chmod +x "$venv"/lib/python*/site-packages/milvus_lite/lib/milvus
  fi
  printf '%s' "$want" >"$stamp"
  prepare_binaries "$kind"
  echo "install.sh: $kind installed in $((SECONDS - start)) s"
}

if [[ ${#kinds[@]} -eq 1 ]]; then
  install_kind "${kinds[0]}"
  exit 0
fi

# Several kinds: install them side by side (downloads and byte-compiling overlap), each with its
# own log, shown when it is done.
declare -A PIDS=()
LOG_DIR="$(mktemp -d)"
trap 'rm -rf "$LOG_DIR"' EXIT
for kind in "${kinds[@]}"; do
  install_kind "$kind" >"$LOG_DIR/$kind.log" 2>&1 &
  PIDS[$kind]=$!
done
failed=()
for kind in "${kinds[@]}"; do
  if ! wait "${PIDS[$kind]}"; then
    failed+=("$kind")
  fi
  cat "$LOG_DIR/$kind.log"
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "install.sh: failed: ${failed[*]}" >&2
  exit 1
fi
