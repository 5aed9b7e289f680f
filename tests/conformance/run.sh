#!/usr/bin/env bash
# Conformance: schemathesis fuzzes weft with the official Client-Server API
# description (../shared/spec/openapi/cs-api.json), restricted to endpoints
# weft implements that need no pre-existing room or event IDs.
#   - every selected endpoint: no 5xx (not_a_server_error);
#   - every selected endpoint but one: responses match the schema and the
#     declared content type. The exception, GET /devices, is a known
#     deviation written down below.
# Usage: tests/conformance/run.sh WEFT_BIN SCHEMATHESIS
set -euo pipefail
bin="$(realpath "$1")"; st="$(realpath "$2")"
root="$(cd "$(dirname "$0")/../.." && pwd)"
# The spec data lives in the read-only shared folder beside the project
# (WEFT_SHARED_DIR, which scripts/setup.sh sets, overrides).
spec=""
for dir in "${WEFT_SHARED_DIR:-}" "$root/../shared"; do
  if [ -n "$dir" ] && [ -f "$dir/spec/openapi/cs-api.json" ]; then spec="$dir/spec/openapi/cs-api.json"; break; fi
done
[ -n "$spec" ] || { echo "conformance: cs-api.json not found; set WEFT_SHARED_DIR to the shared folder (with spec/openapi/)" >&2; exit 1; }

work="$(mktemp -d /tmp/weft-conformance.XXXXXX)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --registration open --no-rate-limits --no-turn-relay > "$work/weft.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/_matrix/client/versions" >/dev/null && break; sleep 0.1; done

token=$(python3 - "$port" <<'PY'
import json, sys, urllib.request, urllib.error
base = f"http://127.0.0.1:{sys.argv[1]}"
def post(path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        return json.load(urllib.request.urlopen(req))
    except urllib.error.HTTPError as e:
        return json.load(e)
c = post("/_matrix/client/v3/register", {"username": "conformance", "password": "pw"})
r = post("/_matrix/client/v3/register", {"username": "conformance", "password": "pw",
                                         "auth": {"type": "m.login.dummy", "session": c["session"]}})
print(r["access_token"])
PY
)

endpoints='versions|v3/(capabilities|account/whoami|joined_rooms|pushrules/|devices|sync|profile/\{userId\}|createRoom|publicRooms|user_directory/search|presence/\{userId\}/status|keys/(query|upload|claim|changes)|login|register/available|thirdparty/protocols|pushers)'
common=(--url "http://127.0.0.1:$port" -H "Authorization: Bearer $token" -n 25 --no-color --seed 1)

cd "$work" # schemathesis keeps a cache folder in the working directory

echo "conformance: no server errors on any selected endpoint"
"$st" run "$spec" "${common[@]}" --checks not_a_server_error \
  --include-path-regex "^/_matrix/client/($endpoints)\$"

# Known deviation: GET /devices serialises an unset display_name and
# last_seen_ip as null (ruma's Device type does; Synapse answers the same
# way), where the schema wants the keys absent.
echo "conformance: responses match the schema and content type"
"$st" run "$spec" "${common[@]}" --checks response_schema_conformance,content_type_conformance \
  --include-path-regex "^/_matrix/client/($endpoints)\$" --exclude-path /_matrix/client/v3/devices

# The content repository: uploads, and downloads and thumbnails of unknown IDs (404s).
media='^/_matrix/(client/v1/media/(config|download/\{serverName\}/\{mediaId\}|thumbnail/\{serverName\}/\{mediaId\})|media/(v1/create|v3/upload))$'
echo "conformance: media endpoints — no server errors, schema and content type"
"$st" run "$spec" "${common[@]}" --checks not_a_server_error,response_schema_conformance,content_type_conformance \
  --include-path-regex "$media"
