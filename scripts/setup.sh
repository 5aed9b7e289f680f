# shellcheck shell=bash
# Installs what Weft's build and tests need, skipping what is already there.
# Sourced by scripts/run and scripts/test; safe to run again and again.
#   weft_setup build   -> Rust wasm target, Trunk, wasm-bindgen-cli, npm tools
#   weft_setup test    -> the same plus rustfmt, clippy, Debian's Chromium and chromedriver,
#                         Synapse, coturn

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TRUNK_VERSION="0.21.14"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf '\n\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is missing. $2"
}

lock_version() { # version of a package in Cargo.lock
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# Tools are built without Trunk's fat LTO and single codegen unit: their own
# speed hardly matters, and this cuts a cold install from ~30 to a few minutes.
tool_install() {
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 cargo install "$@"
}

setup_rust() {
  need cargo "Install Rust with rustup (https://rustup.rs), then run this again."
  export PATH="$HOME/.cargo/bin:$PATH"
  if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    note "wasm32 target: present"
  else
    step "Adding the wasm32-unknown-unknown Rust target"
    rustup target add wasm32-unknown-unknown
  fi

  if [ "$(trunk --version 2>/dev/null | awk '{print $2}')" = "$TRUNK_VERSION" ]; then
    note "trunk $TRUNK_VERSION: present"
  else
    step "Installing Trunk $TRUNK_VERSION (compiles from crates.io; takes a few minutes)"
    tool_install --locked trunk --version "$TRUNK_VERSION"
  fi

  local wbg
  wbg="$(lock_version wasm-bindgen)"
  [ -n "$wbg" ] || die "wasm-bindgen is not in Cargo.lock; run 'cargo generate-lockfile' and try again."
  grep -q "wasm_bindgen = \"$wbg\"" "$ROOT/Trunk.toml" \
    || die "Trunk.toml pins a wasm_bindgen other than Cargo.lock's $wbg; set [tools] wasm_bindgen = \"$wbg\"."
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" = "$wbg" ]; then
    note "wasm-bindgen-cli $wbg: present"
  else
    step "Installing wasm-bindgen-cli $wbg (must equal Cargo.lock's wasm-bindgen; takes a few minutes)"
    tool_install wasm-bindgen-cli --version "$wbg"
  fi

  # Splits the wasm into lazily loaded chunks (scripts/split-wasm.mjs runs it). The
  # crate is Leptos's wasm_split_cli_support, not crates.io's unrelated `wasm-split-cli`.
  if cargo install --list 2>/dev/null | grep -qx "wasm_split_cli_support v0.2.4:" && command -v wasm-split-cli >/dev/null; then
    note "wasm-split-cli 0.2.4: present"
  else
    step "Installing wasm-split-cli 0.2.4 (wasm_split_cli_support; takes a few minutes)"
    tool_install --locked wasm_split_cli_support@0.2.4 --features build-binary
  fi
}

# The lint gates in scripts/test: rustfmt and clippy come with rustup's default
# profile, but not with its minimal one.
setup_lints() {
  local missing=()
  cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
  cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
  if [ ${#missing[@]} -eq 0 ]; then
    note "rustfmt, clippy: present"
  else
    step "Adding the Rust components ${missing[*]}"
    rustup component add "${missing[@]}"
  fi
}

setup_node() {
  need npm "Install Node.js 20 or newer (Debian: apt-get install nodejs npm), then run this again."
  # The stamp holds the hash of the lock file it was installed from: a fresh checkout
  # (newer file times, same content) must not reinstall, a changed lock file must.
  local stamp="$ROOT/node_modules/.weft-installed" lock
  lock="$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock" ]; then
    note "npm tools (playwright-core, binaryen): present"
  else
    step "Installing pinned npm tools (playwright-core, binaryen's wasm-opt)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock" > "$stamp"
  fi
  export PATH="$ROOT/node_modules/.bin:$PATH"
}

setup_chromium() {
  if [ -x /usr/bin/chromium ]; then
    note "chromium: present ($(/usr/bin/chromium --version 2>/dev/null | head -n1))"
    return
  fi
  step "Installing Debian's Chromium for the browser tests (apt)"
  apt_install chromium
}

# Debian's chromium-driver: the WebDriver wasm-bindgen-test-runner drives Chromium with for
# the browser unit tests. Debian builds it with Chromium, so their versions always match.
setup_chromedriver() {
  if [ -x /usr/bin/chromedriver ]; then
    note "chromedriver: present ($(/usr/bin/chromedriver --version 2>/dev/null | head -n1))"
    return
  fi
  step "Installing Debian's chromium-driver for the browser unit tests (apt)"
  apt_install chromium-driver
}

# Installs Debian packages (as root, or through sudo).
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$@"
}

# Debian's coturn: the external TURN relay the call tests run next to weft's own.
setup_coturn() {
  if [ -x /usr/sbin/turnserver ] || [ -x /usr/bin/turnserver ]; then
    note "coturn: present ($(turnserver --version 2>/dev/null | head -n1))"
    return
  fi
  step "Installing Debian's coturn for the call tests (apt)"
  apt_install coturn
}

# The read-only shared folder (reference-software harnesses in tools/, the API
# description in spec/) sits beside the project. A clone kept elsewhere finds it
# beside the local repository it was cloned from, or through WEFT_SHARED_DIR.
# Prints the folder, or nothing.
shared_dir() {
  local origin dir
  origin="$(git -C "$ROOT" config --get remote.origin.url 2>/dev/null || true)"
  [[ "$origin" == /* ]] || origin=""
  for dir in "${WEFT_SHARED_DIR:-}" "$ROOT/../shared" ${origin:+"$origin/../shared"}; do
    if [ -n "$dir" ] && [ -d "$dir/tools" ]; then (cd "$dir" && pwd); return; fi
  done
}

# Synapse (PyPI) for the browser tests that run our client against it; the
# shared harness keeps its venv in ~/.cache/weft-refhs, outside the clone.
# Exports WEFT_SHARED_DIR for the tests (tests/e2e/harness.mjs, tests/conformance).
setup_synapse() {
  WEFT_SHARED_DIR="$(shared_dir)"
  [ -x "$WEFT_SHARED_DIR/tools/synapse.sh" ] \
    || die "The shared folder with tools/synapse.sh was not found beside the project; set WEFT_SHARED_DIR to it."
  export WEFT_SHARED_DIR
  step "Checking Synapse for the browser tests against it (PyPI, first run installs it)"
  "$WEFT_SHARED_DIR/tools/synapse.sh" install
}

setup_python() {
  need python3 "Install Python 3.11 or newer, then run this again."
  local venv="$ROOT/.tools/venv" stamp="$ROOT/.tools/venv/.weft-installed"
  local reqs=("$ROOT/tests/interop/requirements.txt" "$ROOT/tests/conformance/requirements.txt")
  local fresh=true
  for r in "${reqs[@]}"; do [ -f "$stamp" ] && [ "$stamp" -nt "$r" ] || fresh=false; done
  if $fresh; then
    note "python test tools (matrix-nio, schemathesis): present"
  else
    step "Installing pinned Python test tools (matrix-nio, schemathesis) into .tools/venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "${reqs[0]}" -r "${reqs[1]}"
    touch "$stamp"
  fi
}

weft_setup() {
  step "Checking tools"
  setup_rust
  setup_node
  if [ "${1:-build}" = test ]; then
    setup_lints
    setup_python
    setup_chromium
    setup_chromedriver
    setup_coturn
    setup_synapse
  fi
}

build_client() {
  step "Building the web client (trunk build --release: wasm, size-optimised)"
  (cd "$ROOT" && TRUNK_OFFLINE=true trunk build --release)
  local wasm
  wasm="$(ls "$ROOT"/dist/*.wasm | head -n1)"
  note "client: $(du -h "$wasm" | cut -f1) wasm in dist/"
}

build_server() {
  step "Building the weft server (release; embeds dist/)"
  (cd "$ROOT" && cargo build --release -p weft-server)
}

target_dir() {
  (cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
}
