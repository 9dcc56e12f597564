#!/usr/bin/env bash
# make compose-check: the docker-compose testbed, for real, with no image registry.
#
#  1. images, offline and cached: the Debian base (deploy/docker/base.sh), the testbed on it,
#     and queuegap's own image (a static binary FROM scratch);
#  2. the testbed up (docker-compose.yaml, knobs as QG_* environment variables as for the
#     native runner), ready once GET /fast through nginx answers 200 (bounded);
#  3. testbed scenario 1 (testbed/e2e/backlog_test.go: a burst of 40 new connections asking
#     for a 1 s view, 4 uWSGI workers, listen 100, TCP) from the host through the published
#     port (127.0.0.1 only) and from the loadgen container on the compose network;
#  4. the verdict: go test ./testbed/compose (client p90 ≫ app p90, backlog share dominant,
#     request by request against the app's log and nginx's access log);
#  5. down -v --remove-orphans — also on failure or Ctrl-C (trap) — and a check that no
#     container, network or volume of the project is left.
#
# Without an answering Docker daemon it says so and exits 0, unless QG_REQUIRE_DOCKER=1
# (CI: .ci/run sets it), then 1. Works with Compose v2 (docker compose) or Debian's
# docker-compose 1.29; with both installed the file is validated by both.
set -euo pipefail
cd "$(dirname "$0")/../.."
t_start=$(date +%s)

say() { echo "compose-check: $*"; }

if ! docker info >/dev/null 2>&1; then
	if [ "${QG_REQUIRE_DOCKER:-}" = 1 ]; then
		say "FAIL: QG_REQUIRE_DOCKER=1 but 'docker info' does not answer (no Docker daemon?)" >&2
		exit 1
	fi
	say "SKIPPED: 'docker info' does not answer (no Docker daemon); set QG_REQUIRE_DOCKER=1 to make that a failure"
	exit 0
fi

composes=()
if docker compose version >/dev/null 2>&1; then composes+=("docker compose"); fi
if command -v docker-compose >/dev/null 2>&1; then composes+=("docker-compose"); fi
if [ ${#composes[@]} = 0 ]; then
	say "FAIL: neither 'docker compose' (v2) nor 'docker-compose' is installed" >&2
	exit 1
fi
# The first found runs the check (v2 when present: what users mostly have).
read -r -a COMPOSE <<<"${composes[0]}"

project=qgcheck$$
export COMPOSE_PROJECT_NAME=$project
results=$(mktemp -d /tmp/qg-compose-XXXXXX)
# The loadgen container runs as root, but keep the directory open to any user regardless.
chmod 1777 "$results"
compose() { "${COMPOSE[@]}" -f docker-compose.yaml --profile loadgen "$@"; }

leftovers() {
	local f="label=com.docker.compose.project=$project"
	{
		docker ps -aq --filter "$f" | sed 's/^/container /'
		docker network ls -q --filter "$f" | sed 's/^/network /'
		docker volume ls -q --filter "$f" | sed 's/^/volume /'
		# By name too, in case a Compose version labelled something differently.
		docker ps -a --format '{{.Names}}' | grep "^${project}[_-]" | sed 's/^/container /' || true
		docker network ls --format '{{.Name}}' | grep "^${project}[_-]" | sed 's/^/network /' || true
		docker volume ls --format '{{.Name}}' | grep "^${project}[_-]" | sed 's/^/volume /' || true
	} | sort -u
}

teardown() {
	local rc=$?
	trap - EXIT INT TERM
	if [ $rc != 0 ]; then
		say "failed (exit $rc); testbed logs:" >&2
		compose logs --no-color --tail 40 >&2 2>/dev/null || true
	fi
	compose down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || compose down -v --remove-orphans >&2 || true
	left=$(leftovers)
	if [ -n "$left" ]; then
		say "FAIL: left behind after down:" >&2
		echo "$left" >&2
		rc=1
	fi
	if [ $rc = 0 ]; then rm -rf "$results"; else say "results kept in $results" >&2; fi
	exit $rc
}
trap teardown EXIT
trap 'exit 130' INT TERM

free_port() { # a TCP port nothing on this host listens on (others may run testbeds too)
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 20000))
		if ! ss -Htln "sport = :$p" | grep -q .; then
			echo "$p"
			return
		fi
	done
	return 1
}

# The knobs, exactly as the native runner takes them (scenario 1's values unless given).
export QG_SERVER=${QG_SERVER:-uwsgi} QG_WORKERS=${QG_WORKERS:-4} QG_LISTEN=${QG_LISTEN:-100} QG_SOCKET=${QG_SOCKET:-tcp}
export QG_PORT=${QG_PORT:-$(free_port)} QG_APP_HOST_PORT=$(free_port) QG_APP2_HOST_PORT=$(free_port)
export QG_BASE_IMAGE=${QG_BASE_IMAGE:-queuegap/debian:12} QG_RESULTS_DIR=$results
burst=40
path="/sleep?ms=1000"

# Both Compose implementations must accept the file, with every profile.
for c in "${composes[@]}"; do
	read -r -a cc <<<"$c"
	for prof in "" two alb loadgen "two alb loadgen" observability; do
		args=()
		for p in $prof; do args+=(--profile "$p"); done
		"${cc[@]}" -f docker-compose.yaml "${args[@]}" config -q || { say "FAIL: $c config rejects docker-compose.yaml (profiles: ${prof:-none})" >&2; exit 1; }
	done
done

t0=$(date +%s)
deploy/docker/base.sh
mkdir -p bin/docker
CGO_ENABLED=0 go build -trimpath -o bin/docker/queuegap ./cmd/queuegap
# app's build makes the image nginx (and app2, front) run too; loadgen's is queuegap's.
compose build -q app loadgen 2>&1 | grep -v -e 'legacy builder is deprecated' -e 'buildx component' -e 'docs.docker.com/go/buildx' -e '^ *$' || true
t_images=$(($(date +%s) - t0))

t0=$(date +%s)
compose up -d --no-build app nginx
url=http://127.0.0.1:$QG_PORT
ready=""
for _ in $(seq 300); do # ≤ 60 s: uWSGI binds before the app has loaded (facts.md)
	if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/fast" || true)" = 200 ]; then
		ready=1
		break
	fi
	sleep 0.2 # poll interval
done
[ -n "$ready" ] || { say "FAIL: $url/fast did not answer 200 within 60 s" >&2; exit 1; }
t_up=$(($(date +%s) - t0))
say "testbed up in ${t_up}s ($QG_SERVER, $QG_WORKERS workers, listen $QG_LISTEN, $QG_SOCKET) at $url"

t0=$(date +%s)
# From the host, through the published port. (The static binary runs on the host too.)
bin/docker/queuegap run --burst $burst --conn-mode new --out "$results/host.jsonl" "$url$path" >"$results/host.txt"
# From a container on the compose network, by service name; results land in $results.
compose run --rm --no-deps loadgen run --burst $burst --conn-mode new --out /results/container.jsonl \
	"http://nginx:$QG_PORT$path" >"$results/container.txt"
t_runs=$(($(date +%s) - t0))

# The ground truth out of the testbed's volume: the app's log and nginx's access log.
compose exec -T nginx cat /run/queuegap/app.log >"$results/app.log"
compose exec -T nginx cat /run/queuegap/nginx-access.log >"$results/nginx-access.log"

QG_COMPOSE_RESULTS=$results go test -count=1 -run '^TestComposeResults$' ./testbed/compose/ >"$results/verdict.txt" 2>&1 || {
	cat "$results/verdict.txt" >&2
	say "FAIL: the compose runs did not show the gap (results in $results)" >&2
	exit 1
}
say "images ${t_images}s, up ${t_up}s, two runs ${t_runs}s, total $(($(date +%s) - t_start))s (before teardown)"
say "scenario 1 ($burst × $path, new connections):"
sed 's/^/  /' "$results/figures.txt"
say "ok (${composes[0]})"
