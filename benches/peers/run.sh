#!/usr/bin/env bash
# Peer comparison: runs distob's core figures on Ray, Dask and ipyparallel.
#
#   bash benches/peers/run.sh [--quick] [--peers ray,dask,ipyparallel]
#                             [--timeout SECONDS] [--no-netns]
#
# Makes a venv at ${PEERS_VENV:-$HOME/.cache/distob-peers-venv} if there is
# none, installs requirements.txt into it (once per version of that file: a
# stamp named by its hash marks it done), then runs peers.py with the
# arguments given. Needs no standard input; works as root.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PEERS_VENV:-$HOME/.cache/distob-peers-venv}"
python="${PEERS_PYTHON:-python3}"
req="$here/requirements.txt"

case "$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" in
    3.11) ;;
    *) echo "run.sh: warning: the pins were tested on CPython 3.11, this is $("$python" --version 2>&1)" >&2 ;;
esac

if [ ! -x "$venv/bin/python" ]; then
    echo "run.sh: creating the venv $venv" >&2
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
fi

hash="$(sha256sum "$req" | cut -c1-16)"
stamp="$venv/.distob-peers-installed-$hash"
if [ ! -f "$stamp" ]; then
    echo "run.sh: installing $req into $venv (a few minutes the first time)" >&2
    start=$SECONDS
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
    "$venv/bin/python" -m pip install --quiet -r "$req" </dev/null
    rm -f "$venv"/.distob-peers-installed-*
    touch "$stamp"
    echo "run.sh: installed in $((SECONDS - start)) s" >&2
fi

exec "$venv/bin/python" "$here/peers.py" "$@" </dev/null
