# Shared by scripts/run and scripts/test: installing what is missing, and starting or
# stopping the local services (Redis, SecantusDB's MongoDB-wire server). Sourced, not run.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLCHAIN=1.98.0
CARGO_LEPTOS_VERSION=0.3.11
WASM_BINDGEN_VERSION=0.2.130
SECANTUS_VERSION=0.7.0b3
SECANTUS_RS_VERSION=0.5.3-beta.196
VENV="$ROOT/.venv"
export PATH="$HOME/.cargo/bin:$ROOT/end2end/node_modules/.bin:$VENV/bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs every tool the project needs, skipping what is already there.
ensure_tools() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v chromium >/dev/null || missing+=(chromium)
  command -v cc >/dev/null || missing+=(build-essential)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  command -v npm >/dev/null || missing+=(nodejs npm)
  command -v curl >/dev/null || missing+=(curl)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi

  if ! command -v rustup >/dev/null; then
    say "installing rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
  fi
  if ! rustup run "$TOOLCHAIN" rustc --print target-list >/dev/null 2>&1 \
     || ! rustup target list --installed --toolchain "$TOOLCHAIN" 2>/dev/null | grep -q wasm32-unknown-unknown \
     || ! rustup component list --installed --toolchain "$TOOLCHAIN" 2>/dev/null | grep -q clippy; then
    say "installing Rust $TOOLCHAIN with the wasm32 target"
    rustup toolchain install "$TOOLCHAIN" --profile minimal --target wasm32-unknown-unknown --component rustfmt,clippy
  fi

  if [ "$(cargo-leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (a few minutes, once)"
    cargo "+$TOOLCHAIN" install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
  fi
  # Not --locked: its lock names a crate release the registry mirror lacks.
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
    cargo "+$TOOLCHAIN" install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi

  if ! "$VENV/bin/secantusd-py" --help >/dev/null 2>&1; then
    say "installing SecantusDB $SECANTUS_VERSION (MongoDB-wire server, dev and test only)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "SecantusDB==$SECANTUS_VERSION"
  fi

  # Playwright (the browser is Debian's chromium) and binaryen's wasm-opt.
  if [ ! -f "$ROOT/end2end/node_modules/.package-lock.json" ] \
     || [ "$ROOT/end2end/package-lock.json" -nt "$ROOT/end2end/node_modules/.package-lock.json" ]; then
    say "installing npm packages (Playwright, binaryen)"
    (cd "$ROOT/end2end" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# secantusd-rs, the faster Rust build of the MongoDB-wire server, for benchmarks only.
ensure_secantus_rs() {
  if [ "$(secantusd-rs --version 2>/dev/null | awk '{print $2}')" = "$SECANTUS_RS_VERSION" ]; then
    return 0
  fi
  command -v cmake >/dev/null || { as_root apt-get update -qq; as_root apt-get install -y -qq cmake >/dev/null; }
  say "installing secantusd-rs $SECANTUS_RS_VERSION (10-15 minutes, once)"
  cargo "+$TOOLCHAIN" install secantus-mdb --version "$SECANTUS_RS_VERSION" --locked
}

# A TCP port nobody listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port what [seconds]
  local i
  for ((i = 0; i < ${3:-60} * 10; i++)); do
    port_open "$1" && return 0
    sleep 0.1
  done
  die "$2 did not start on port $1"
}

# start_redis PORT DIR: a Redis of our own, its pid in DIR/redis.pid.
start_redis() {
  mkdir -p "$2"
  redis-server --port "$1" --bind 127.0.0.1 --dir "$2" --save '' --appendonly yes \
    --daemonize yes --pidfile "$2/redis.pid" --logfile "$2/redis.log"
  wait_port "$1" Redis
}

# start_mongo PORT STORAGE LOG: SecantusDB on PORT (STORAGE may be :memory:).
start_mongo() {
  "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$1" --storage-path "$2" \
    --log-level WARNING >"$3" 2>&1 &
  echo $! >"$(dirname "$3")/mongo.pid"
  wait_port "$1" "the MongoDB-wire server"
}

# stop_pidfile FILE: stops the process whose pid FILE holds, if it runs.
stop_pidfile() {
  [ -f "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

mongo_uri() { # port db
  echo "mongodb://127.0.0.1:$1/$2?directConnection=true&retryWrites=false&maxIdleTimeMS=60000"
}
