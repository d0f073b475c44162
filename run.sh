#!/usr/bin/env bash
# ./run.sh lab|test|demo|setup [ARGS...]
#
# Sets up .venv (Python 3.11+, `pip install -e '.[dev]'`) when missing or when pyproject.toml
# changed since the last install, then:
#   lab    JupyterLab on notebooks/01_quickstart.ipynb   (ARGS go to `jupyter lab`)
#   test   the test suite                                (ARGS go to pytest)
#   demo   the headless demo                             (ARGS go to `python -m oms_kit demo`)
#   setup  only the set-up
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

VENV=.venv
PYTHON=${PYTHON:-python3}
# The hash of pyproject.toml at the last successful install; inside .venv, so a new venv reinstalls.
STAMP=$VENV/.oms_kit-installed
QUICKSTART=notebooks/01_quickstart.ipynb

die() {
    echo "run.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: ./run.sh lab|test|demo|setup [ARGS...]" >&2
    exit 2
}

create_venv() {
    command -v "$PYTHON" >/dev/null ||
        die "$PYTHON not found; install Python 3.11 or newer (Debian/Ubuntu: sudo apt-get install python3 python3-venv)"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "Python 3.11 or newer is needed; $PYTHON is $("$PYTHON" -c 'import platform; print(platform.python_version())'). Set PYTHON=/path/to/python3.11 or install a newer one"
    # Debian and Ubuntu ship venv's pip bootstrap (ensurepip) in a separate package.
    "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null ||
        die "$PYTHON cannot create virtual environments; install python3-venv (Debian/Ubuntu: sudo apt-get install python3-venv)"
    echo "run.sh: creating $VENV with $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
}

# What the install depends on: the project's files, the sources of the modules the build compiles (an edit of one
# means building again, or the old build would run) and whether to compile at all.
build_hash() {
    local compiled
    compiled=$(sed -n 's/^    "\(oms_kit\.[a-z_.]*\)",$/\1/p' oms_kit/compiled.py | tr . / | sed 's/$/.py/')
    # shellcheck disable=SC2086  # one path per word
    { cat pyproject.toml setup.py oms_kit/compiled.py $compiled; echo "pure=${OMS_KIT_PURE_PYTHON:-}"; } |
        sha256sum | cut -d' ' -f1
}

setup() {
    # A venv whose python does not run (half-created, or its base Python was removed) is rebuilt.
    if ! "$VENV/bin/python" -c '' 2>/dev/null; then
        create_venv
    fi
    local wanted
    wanted=$(build_hash)
    if [[ ! -f $STAMP || $(cat "$STAMP") != "$wanted" ]]; then
        echo "run.sh: installing oms_kit and its dependencies into $VENV and compiling its order path (a few minutes the first time)"
        # The build prints pages of packaging notices; keep them in a log, show it on failure.
        if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -e '.[dev]' >"$VENV/pip-install.log" 2>&1; then
            tail -n 40 "$VENV/pip-install.log" >&2
            die "pip install -e '.[dev]' failed; the whole output is in $VENV/pip-install.log"
        fi
        echo "$wanted" >"$STAMP"
    fi
    export VIRTUAL_ENV=$PWD/$VENV
    export PATH=$VIRTUAL_ENV/bin:$PATH
}

[[ $# -ge 1 ]] || usage
command=$1
shift
case $command in
lab)
    setup
    lab_args=()
    # JupyterLab refuses to start as root unless told.
    [[ $EUID -eq 0 ]] && lab_args+=(--allow-root)
    # Without the notebook JupyterLab would exit ("No such file"); open the plain file browser then.
    [[ -f $QUICKSTART ]] && lab_args+=("$QUICKSTART")
    exec jupyter lab ${lab_args[@]+"${lab_args[@]}"} "$@"
    ;;
test)
    setup
    exec python -m pytest "$@"
    ;;
demo)
    setup
    exec python -m oms_kit demo "$@"
    ;;
setup)
    setup
    ;;
*)
    usage
    ;;
esac
