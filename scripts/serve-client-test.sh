#!/usr/bin/env bash
# The OpenAI client test of tune serve: the official openai npm package
# (installed into a temporary folder) talks to tune serve running the demo
# model with two adapters trained by the demo's code.
#   scripts/serve-client-test.sh [DEMO_DIR]
# DEMO_DIR is the output of an earlier `tune demo` (its model and adapter
# are reused); without it the script runs `tune demo --steps 4` first. A
# second adapter is trained from the demo's data with another seed, in two
# steps. Needs bin/tune (make), Node 18 or newer and npm; without Node it
# says so and passes, unless CI is set (then it fails).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "serve-client-test: skipped: needs Node and npm (the openai package is installed from npm)"
  [ -z "${CI:-}" ] || { echo "serve-client-test: CI is set, so that is a failure"; exit 1; }
  exit 0
fi
tune=$PWD/bin/tune
[ -x "$tune" ] || { echo "serve-client-test: build bin/tune first (make)"; exit 1; }
work=$(mktemp -d)
server=""
cleanup() {
  [ -z "$server" ] || kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

demo=${1:-}
if [ -z "$demo" ]; then
  demo=$work/demo
  echo "== tune demo --steps 4"
  "$tune" demo --output_dir "$demo" --steps 4 >/dev/null
fi
echo "== a second adapter from the demo's data, seed 7"
"$tune" train --base_model "$demo/model" --data_path "$demo/data" --output_dir "$work/second" \
  --seed 7 --max_steps 2 --batch_size 1 --max_length 256 --eval_steps 2 --skip_test_eval >/dev/null 2>&1

echo "== npm install openai (into $work/js)"
mkdir -p "$work/js"
cp scripts/serve-client/client.mjs "$work/js/"
(cd "$work/js" && npm init -y >/dev/null && npm install --no-audit --no-fund --silent openai@4 >/dev/null)
echo "   openai $(node -p "require('$work/js/node_modules/openai/package.json').version")"

echo "== tune serve"
"$tune" serve --base_model "$demo/model" --adapter "legal=$demo/checkpoints/qwen-legal-lora" \
  --adapter "second=$work/second" --port 0 --max_tokens 64 2>"$work/serve.log" &
server=$!
url=""
for _ in $(seq 1 600); do
  url=$(sed -n 's|.* on \(http://[^ ]*/v1\) .*|\1|p' "$work/serve.log")
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log"; echo "serve-client-test: tune serve exited"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/serve.log"; echo "serve-client-test: tune serve did not start"; exit 1; }
echo "   $url"

echo "== the openai client"
node "$work/js/client.mjs" "$url" model legal second

echo "== SIGTERM stops the server cleanly"
kill -TERM "$server"
wait "$server"
server=""
grep -q "server stopped" "$work/serve.log"
echo "serve-client-test: passed"
