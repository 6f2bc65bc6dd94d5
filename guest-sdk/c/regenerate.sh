#!/usr/bin/env bash
# Regenerates the C bindings of the plugbox world (plugin.c, plugin.h) with
# wit-bindgen-cli 0.61.1 from crates.io, installed project-local under
# target/toolchains/wit-bindgen if missing (`cargo install`, a few minutes
# once). `--check` only checks that the committed files are what it would
# write. It records the hash of wit/ it generated from in wit.sha256, which
# a test compares with the current wit/ (tests/all/polyglot_c.rs).
#
#   bash guest-sdk/c/regenerate.sh [--check]
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION=0.61.1
root="${CARGO_TARGET_DIR:-target}/toolchains/wit-bindgen"
bin="$root/bin/wit-bindgen"
if ! [ -x "$bin" ] || [ "$("$bin" --version | cut -d' ' -f2)" != "$VERSION" ]; then
    cargo install --locked --quiet "wit-bindgen-cli@$VERSION" --root "$root"
fi

check=()
[ "${1:-}" = "--check" ] && check=(--check)
"$bin" c wit --world plugin --no-object-file --out-dir guest-sdk/c "${check[@]}"
hash=$(cat wit/*.wit | sha256sum | cut -d' ' -f1)
if [ ${#check[@]} -gt 0 ]; then
    [ "$(cat guest-sdk/c/wit.sha256)" = "$hash" ] || { echo "guest-sdk/c/wit.sha256 is stale" >&2; exit 1; }
else
    echo "$hash" >guest-sdk/c/wit.sha256
fi
