#!/usr/bin/env bash
# bench/run.sh — measure queuegap's own cost against a local fasthttp target.
#
# The target (bench/target) is pinned to CPU 0 and queuegap to CPU 1; all
# traffic goes to 127.0.0.1. Scenarios:
#   a) 5 000 req/s for 10 s, keep-alive, 50 connections: CPU µs per request
#      ((user+sys)/requests) and peak RSS
#   b) 20 000 req/s for 10 s, keep-alive, 200 connections: achieved rate,
#      % of target, send-lag p99 (generator.lag_p99_ms)
#   c) 5 000 req/s for 60 s: peak RSS, and VmRSS sampled every second: the
#      peak of 5–15 s against the peak of the last 10 s
#   d) peers side by side, each on CPU 1 against the same target (issue 11):
#      keep-alive 5 000 req/s vs h2load; a new connection per request at
#      2 000 req/s vs hey -disable-keepalive; 10 000 new-connection requests
#      as fast as possible (50 at a time) vs ab; bursts of 1 000 and 5 000
#      new connections (lag max, spread); keep-alive to localhost on the
#      loop; https keep-alive at 2 000 and 5 000 req/s (vs h2load at 5 000);
#      50 000 req/s keep-alive (achieved, send-lag p99; wrk's closed-loop
#      maximum for the target's ceiling)
#   e) 5 000 req/s for 10 s with --metrics-addr off and on (scraped every
#      second), alternated BENCH_METRICS_PAIRS times: CPU µs per request of
#      each (the lowest of its runs: noise only ever adds), and on vs off
# It prints a table with each figure next to its target. Not part of make check.
#
# Environment:
#   BENCH_LONG=0             skip scenario (c) (the 60 s run)
#   BENCH_DURATION=10s       length of scenarios (a) and (b)
#   BENCH_LONG_DURATION=60s  length of scenario (c) (RSS sampled ~10 s and at its end)
#   BENCH_RATE=5000          rate of (a) and (c)
#   BENCH_HIGH_RATE=20000    rate of (b)
#   BENCH_CONNS=50           keep-alive connections for (a) and (c)
#   BENCH_HIGH_CONNS=200     keep-alive connections for (b)
#   BENCH_ADDR=127.0.0.1:18080  target address (must be loopback)
#   BENCH_KEEP=1             keep the temp dir (binaries, JSON, time output)
#   BENCH_STRICT=1           exit 3 when a target is missed
#   BENCH_PEERS=0            skip (d)
#   BENCH_TLS_ADDR=127.0.0.1:18443  the target's https address (d)
#   BENCH_METRICS=0          skip scenario (e)
#   BENCH_METRICS_PAIRS=2    off/on pairs in (e)
#   BENCH_METRICS_ADDR=127.0.0.1:19464  where (e) serves /metrics (loopback)
set -euo pipefail

BENCH_LONG=${BENCH_LONG:-1}
BENCH_DURATION=${BENCH_DURATION:-10s}
BENCH_LONG_DURATION=${BENCH_LONG_DURATION:-60s}
BENCH_RATE=${BENCH_RATE:-5000}
BENCH_HIGH_RATE=${BENCH_HIGH_RATE:-20000}
BENCH_CONNS=${BENCH_CONNS:-50}
BENCH_HIGH_CONNS=${BENCH_HIGH_CONNS:-200}
BENCH_ADDR=${BENCH_ADDR:-127.0.0.1:18080}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_STRICT=${BENCH_STRICT:-0}
BENCH_PEERS=${BENCH_PEERS:-1}
BENCH_TLS_ADDR=${BENCH_TLS_ADDR:-127.0.0.1:18443}
BENCH_METRICS=${BENCH_METRICS:-1}
BENCH_METRICS_PAIRS=${BENCH_METRICS_PAIRS:-2}
BENCH_METRICS_ADDR=${BENCH_METRICS_ADDR:-127.0.0.1:19464}

# Targets from the issue.
MAX_CPU_US=25       # µs CPU per request at BENCH_RATE
MIN_ACHIEVED_PCT=100 # % of BENCH_HIGH_RATE achieved (rounded to 0.1 %)
MAX_METRICS_PCT=110 # CPU per request with --metrics-addr vs without
MAX_LAG_P99_MS=1    # send-lag p99 at BENCH_HIGH_RATE
MAX_RSS_MB=40       # peak RSS
MAX_RSS_GROWTH_PCT=10 # RSS at the end of (c) vs at ~10 s

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

case "$BENCH_METRICS_ADDR" in
  127.*:*) ;;
  *) die "BENCH_METRICS_ADDR=$BENCH_METRICS_ADDR: the benchmark only listens on 127.0.0.0/8" ;;
esac
case "$BENCH_ADDR" in
  127.*:*) ;;
  *) die "BENCH_ADDR=$BENCH_ADDR: the benchmark only talks to 127.0.0.0/8" ;;
esac
HOST=${BENCH_ADDR%:*}
PORT=${BENCH_ADDR##*:}
URL="http://$BENCH_ADDR/"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ncpu=$(nproc)
[ "$ncpu" -ge 2 ] || die "need at least 2 CPUs (target on CPU 0, queuegap on CPU 1); have $ncpu"
command -v taskset >/dev/null || die "taskset missing (apt-get install util-linux)"
command -v go >/dev/null || die "go missing"

if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "/usr/bin/time missing: installing Debian package 'time' (apt-get install -y time)"
    apt-get install -y -qq time >/dev/null || { apt-get update -qq >/dev/null && apt-get install -y -qq time >/dev/null; } \
      || die "could not install package 'time'"
  else
    die "/usr/bin/time (GNU time) missing: apt-get install time"
  fi
fi

if command -v jq >/dev/null; then
  jget() { jq -r "$2" "$1"; }
else
  # Only simple paths (.a.b.c) are used below.
  jget() {
    python3 -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].strip(".").split("."):
    v=v[k]
print(str(v).lower() if isinstance(v,bool) else v)' "$1" "$2"
  }
fi
calc() { python3 -c "import sys; print($1)"; }

tmp=$(mktemp -d /tmp/queuegap-bench.XXXXXX)
target_pid=""
sampler_pid=""
scraper_pid=""
run_extra=()   # more queuegap flags for the next run()
cleanup() {
  local rc=$?
  if [ -n "$scraper_pid" ]; then kill "$scraper_pid" 2>/dev/null || true; fi
  if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null || true; fi
  if [ -n "$target_pid" ]; then
    kill -TERM "$target_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$target_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$target_pid" 2>/dev/null || true
    wait "$target_pid" 2>/dev/null || true
  fi
  if [ "$BENCH_KEEP" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building queuegap and the target into $tmp"
(cd "$repo" && go build -o "$tmp/queuegap" ./cmd/queuegap && go build -o "$tmp/target" ./bench/target)

if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
  die "something already listens on $BENCH_ADDR; set BENCH_ADDR"
fi
case "$BENCH_TLS_ADDR" in
  127.*:*) ;;
  *) die "BENCH_TLS_ADDR=$BENCH_TLS_ADDR: the benchmark only talks to 127.0.0.0/8" ;;
esac
TLS_URL="https://$BENCH_TLS_ADDR/"
LOCALHOST_URL="http://localhost:$PORT/"
taskset -c 0 "$tmp/target" -addr "$BENCH_ADDR" -tls-addr "$BENCH_TLS_ADDR" >"$tmp/target.out" 2>"$tmp/target.err" &
target_pid=$!
ready=0
for _ in $(seq 1 100); do   # ≤ 10 s
  if grep -q '^ready$' "$tmp/target.out" 2>/dev/null && (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
    ready=1; break
  fi
  kill -0 "$target_pid" 2>/dev/null || die "target exited: $(cat "$tmp/target.err")"
  sleep 0.1
done
[ "$ready" = 1 ] || die "target not ready on $BENCH_ADDR after 10 s"
log "target pid $target_pid on CPU 0, $URL and $TLS_URL"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# dur_s 10s|1m|90 → seconds (integer or decimal)
dur_s() {
  python3 -c 'import re,sys
s=sys.argv[1]; t=0
for n,u in re.findall(r"([0-9.]+)(ms|s|m|h)?", s):
    t+=float(n)*{"ms":0.001,"s":1,"m":60,"h":3600,"":1}[u]
print(f"{t:g}")' "$1"
}

# run NAME RATE DURATION CONNS [SAMPLE_AT_S...]
# Runs queuegap on CPU 1 under GNU time. Writes $tmp/NAME.json (summary),
# $tmp/NAME.time ("user sys maxrss_kb elapsed") and, for each SAMPLE_AT_S,
# a line "T VmRSS_kB" in $tmp/NAME.rss.
run() {
  local name=$1 rate=$2 dur=$3 conns=$4; shift 4
  local timeout_s
  timeout_s=$(calc "int($(dur_s "$dur")) + 60")
  log "scenario $name: $rate req/s for $dur, keep-alive, $conns connections"
  : >"$tmp/$name.rss"
  taskset -c 1 timeout -k 5 "$timeout_s" /usr/bin/time -f '%U %S %M %e' -o "$tmp/$name.time" \
    "$tmp/queuegap" run --rate "$rate" --duration "$dur" --conn-mode keepalive \
    --connections "$conns" --json -q "${run_extra[@]}" "$URL" >"$tmp/$name.json" 2>"$tmp/$name.err" &
  local tpid=$! qpid="" tpid_time=""
  if [ $# -gt 0 ]; then
    # timeout → time → queuegap: find queuegap's PID.
    for _ in $(seq 1 50); do
      tpid_time=$(cat "/proc/$tpid/task/$tpid/children" 2>/dev/null | awk '{print $1}')
      if [ -n "$tpid_time" ]; then
        qpid=$(cat "/proc/$tpid_time/task/$tpid_time/children" 2>/dev/null | awk '{print $1}')
        [ -n "$qpid" ] && break
      fi
      sleep 0.05
    done
    [ -n "$qpid" ] || die "could not find queuegap's PID"
    (
      t0=$(date +%s.%N)
      for at in "$@"; do
        now=$(date +%s.%N)
        wait_s=$(calc "max(0, $at - ($now - $t0))")
        sleep "$wait_s"
        rss=$(awk '/^VmRSS:/{print $2}' "/proc/$qpid/status" 2>/dev/null || true)
        [ -n "$rss" ] && echo "$at $rss" >>"$tmp/$name.rss"
      done
    ) &
    sampler_pid=$!
  fi
  local rc=0
  wait "$tpid" || rc=$?
  if [ -n "$sampler_pid" ]; then wait "$sampler_pid" 2>/dev/null || true; sampler_pid=""; fi
  [ "$rc" = 0 ] || die "queuegap exited $rc in scenario $name: $(tail -n 5 "$tmp/$name.err")"
}

rows=()
fails=0
# row FIGURE VALUE TARGET OK(0/1)
row() {
  local verdict=PASS
  if [ "$4" != 1 ]; then verdict=FAIL; fails=$((fails + 1)); fi
  rows+=("$(printf '%-44s %16s  %-14s %s' "$1" "$2" "$3" "$verdict")")
}
ok() { calc "1 if ($1) else 0"; }

# (a) CPU per request and peak RSS.
run a "$BENCH_RATE" "$BENCH_DURATION" "$BENCH_CONNS"
read -r a_user a_sys a_rss_kb _ <"$tmp/a.time"
a_req=$(jget "$tmp/a.json" .requests)
a_cpu_us=$(calc "round(($a_user + $a_sys) * 1e6 / max($a_req, 1), 1)")
a_rss_mb=$(calc "round($a_rss_kb / 1024, 1)")
a_ok=$(jget "$tmp/a.json" .outcomes.ok)
row "(a) ${BENCH_RATE}/s: CPU µs/request (u ${a_user}s s ${a_sys}s)" "$a_cpu_us" "<= $MAX_CPU_US" "$(ok "$a_cpu_us <= $MAX_CPU_US")"
row "(a) ${BENCH_RATE}/s: peak RSS MB" "$a_rss_mb" "<= $MAX_RSS_MB" "$(ok "$a_rss_mb <= $MAX_RSS_MB")"
row "(a) ${BENCH_RATE}/s: requests ok / sent" "$a_ok/$a_req" "all ok" "$(ok "'$a_ok' == '$a_req'")"

# (b) High rate: achieved rate and send lag.
run b "$BENCH_HIGH_RATE" "$BENCH_DURATION" "$BENCH_HIGH_CONNS"
b_ach=$(jget "$tmp/b.json" .achieved_rate)
b_pct=$(calc "round(100 * $b_ach / $BENCH_HIGH_RATE, 1)")
b_lag=$(jget "$tmp/b.json" .generator.lag_p99_ms)
b_behind=$(jget "$tmp/b.json" .generator.fell_behind)
b_waits=$(jget "$tmp/b.json" .generator.slot_waits)
read -r b_user b_sys b_rss_kb _ <"$tmp/b.time"
b_req=$(jget "$tmp/b.json" .requests)
b_cpu_us=$(calc "round(($b_user + $b_sys) * 1e6 / max($b_req, 1), 1)")
row "(b) ${BENCH_HIGH_RATE}/s: achieved req/s" "$(calc "round($b_ach)")" "$BENCH_HIGH_RATE" "$(ok "$b_pct >= $MIN_ACHIEVED_PCT")"
row "(b) ${BENCH_HIGH_RATE}/s: % of target" "$b_pct" ">= $MIN_ACHIEVED_PCT" "$(ok "$b_pct >= $MIN_ACHIEVED_PCT")"
row "(b) ${BENCH_HIGH_RATE}/s: send-lag p99 ms" "$b_lag" "<= $MAX_LAG_P99_MS" "$(ok "$b_lag <= $MAX_LAG_P99_MS")"
info() { rows+=("$(printf '%-44s %16s  %-14s %s' "$1" "$2" "-" "info")"); }
info "(b) fell_behind/slot_waits/conn_waits" "$b_behind/$b_waits/$(jget "$tmp/b.json" .generator.conn_waits)"
info "(b) ${BENCH_HIGH_RATE}/s: CPU µs/request" "$b_cpu_us"

# (c) Long run: RSS flat from ~10 s to the end.
if [ "$BENCH_LONG" != 0 ]; then
  c_total=$(dur_s "$BENCH_LONG_DURATION")
  # Sample VmRSS every second. A garbage-collected heap breathes (the GC
  # lets it grow to twice the live heap before collecting), so "flat"
  # compares the peak of the window 5–15 s with the peak of the last 10 s,
  # not two single samples that may sit on opposite sides of a collection.
  c_last=$(calc "int($c_total - 0.5)")
  run c "$BENCH_RATE" "$BENCH_LONG_DURATION" "$BENCH_CONNS" $(seq 1 "$c_last")
  read -r _ _ c_rss_kb _ <"$tmp/c.time"
  c_rss_mb=$(calc "round($c_rss_kb / 1024, 1)")
  c_rss10=$(awk '$1 >= 5 && $1 <= 15 && $2 > m {m = $2} END {print m}' "$tmp/c.rss")
  c_rss60=$(awk -v from="$(calc "$c_last - 10")" '$1 >= from && $2 > m {m = $2} END {print m}' "$tmp/c.rss")
  [ -n "$c_rss10" ] && [ -n "$c_rss60" ] || die "RSS samples missing: $(cat "$tmp/c.rss")"
  c_r10=$(calc "round($c_rss10 / 1024, 1)")
  c_r60=$(calc "round($c_rss60 / 1024, 1)")
  c_growth=$(calc "round(100 * ($c_rss60 - $c_rss10) / $c_rss10, 1)")
  row "(c) ${BENCH_RATE}/s ${BENCH_LONG_DURATION}: peak RSS MB" "$c_rss_mb" "<= $MAX_RSS_MB" "$(ok "$c_rss_mb <= $MAX_RSS_MB")"
  row "(c) peak RSS MB 5-15 s -> last 10 s" "$c_r10->$c_r60" "flat" "$(ok "$c_growth <= $MAX_RSS_GROWTH_PCT")"
  row "(c) RSS growth %" "$c_growth" "<= $MAX_RSS_GROWTH_PCT" "$(ok "$c_growth <= $MAX_RSS_GROWTH_PCT")"
else
  log "BENCH_LONG=0: skipping scenario (c)"
fi


# (d) Peers side by side (issue 11). Every command runs on CPU 1 under GNU
# time; CPU µs/request = (user+sys)/requests.
# peer NAME CMD... : run CMD on CPU 1, output in $tmp/NAME.out, time in $tmp/NAME.time
peer() {
  local name=$1; shift
  log "scenario $name: $*"
  local rc=0
  taskset -c 1 timeout -k 5 120 /usr/bin/time -f '%U %S %M %e' -o "$tmp/$name.time" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
  [ "$rc" = 0 ] || log "warning: $name exited $rc: $(tail -n 3 "$tmp/$name.err")"
  return 0
}
# cpu_us NAME REQUESTS
cpu_us() {
  local u s
  read -r u s _ _ <"$tmp/$1.time"
  calc "round(($u + $s) * 1e6 / max($2, 1), 1)"
}
# qg NAME ARGS... : queuegap run with --json -q, results in $tmp/NAME.jsonl
qg() {
  local name=$1; shift
  peer "$name" "$tmp/queuegap" run --json -q --out "$tmp/$name.jsonl" "$@"
  cp "$tmp/$name.out" "$tmp/$name.json"
}
# burst_stats FILE: "lagmax_ms spread_ms errors" over every burst in a results file
burst_stats() {
  python3 - "$1" <<'PY'
import json, sys
from collections import defaultdict
g = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "seq" in r:
        g[r["intended_ms"]].append(r)
lag = max((r.get("lag_ms", 0) for rs in g.values() for r in rs), default=0)
spread = max((max(r["start_ms"] for r in rs) - min(r["start_ms"] for r in rs) for rs in g.values()), default=0)
errs = sum(1 for rs in g.values() for r in rs if r.get("error"))
print(f"{lag:.1f} {spread:.1f} {errs}")
PY
}
# h2load_done FILE: requests done
h2load_done() { awk '/^requests:/{for(i=1;i<=NF;i++) if($i=="succeeded,"){print $(i-1); exit}}' "$1"; }
ratio() { calc "round($1 / max($2, 1e-9), 2)"; }

missing=()
for tool in h2load hey ab wrk; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "$BENCH_PEERS" != 0 ] && [ ${#missing[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sed 's/^h2load$/nghttp2-client/; s/^ab$/apache2-utils/' | tr '\n' ' ')
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "peers missing (${missing[*]}): installing Debian packages $pkgs"
    # shellcheck disable=SC2086
    apt-get install -y -qq $pkgs >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq $pkgs >/dev/null 2>&1; } || true
  fi
  missing=()
  for tool in h2load hey ab wrk; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  [ ${#missing[@]} -eq 0 ] || log "still missing: ${missing[*]} (apt-get install nghttp2-client hey apache2-utils wrk); their rows are skipped"
fi
have() { command -v "$1" >/dev/null; }

if [ "$BENCH_PEERS" != 0 ]; then
  dsecs=$(dur_s "$BENCH_DURATION"); dsecs=${dsecs%.*}
  # Keep-alive 5 000/s, 50 connections: queuegap's (a) against h2load
  # (--rps is per client).
  if have h2load; then
    peer d_h2load h2load --h1 -c "$BENCH_CONNS" --rps "$(calc "$BENCH_RATE / $BENCH_CONNS")" -D "$dsecs" "$URL"
    h_req=$(h2load_done "$tmp/d_h2load.out"); h_cpu=$(cpu_us d_h2load "${h_req:-0}")
    row "(d) keep-alive ${BENCH_RATE}/s CPU µs/req: queuegap / h2load" "$a_cpu_us/$h_cpu" "ratio <= 1" "$(ok "$a_cpu_us <= $h_cpu")"
    info "(d) ratio queuegap : h2load" "$(ratio "$a_cpu_us" "$h_cpu")"
  fi
  # New connection per request, 2 000/s.
  qg d_new "--rate" 2000 --duration "$BENCH_DURATION" --conn-mode new --engine loop "$URL"
  n_req=$(jget "$tmp/d_new.json" .requests); n_cpu=$(cpu_us d_new "$n_req")
  n_ok=$(jget "$tmp/d_new.json" .outcomes.ok)
  if have hey; then
    peer d_hey hey -z "$BENCH_DURATION" -c 50 -q 40 -disable-keepalive "$URL"
    y_req=$(awk '/\[[0-9]+\][[:space:]]+[0-9]+ responses/{gsub(/[^0-9 ]/," "); n+=$2} END{print n+0}' "$tmp/d_hey.out")
    y_cpu=$(cpu_us d_hey "$y_req")
    row "(d) new conn 2000/s CPU µs/req: queuegap / hey" "$n_cpu/$y_cpu" "ratio <= 1" "$(ok "$n_cpu <= $y_cpu")"
    info "(d) ratio queuegap : hey -disable-keepalive" "$(ratio "$n_cpu" "$y_cpu")"
  else
    info "(d) new conn 2000/s CPU µs/req: queuegap" "$n_cpu"
  fi
  info "(d) new conn 2000/s ok / sent" "$n_ok/$n_req"
  # As fast as possible: 10 000 new-connection requests, 50 at a time.
  qg d_afap --rate 1000000 --duration 10ms --max-inflight 50 --conn-mode new --engine loop "$URL"
  f_req=$(jget "$tmp/d_afap.json" .requests); f_cpu=$(cpu_us d_afap "$f_req")
  read -r _ _ _ f_el <"$tmp/d_afap.time"
  if have ab; then
    peer d_ab ab -q -n 10000 -c 50 "$URL"
    b_cpu2=$(cpu_us d_ab 10000); read -r _ _ _ ab_el <"$tmp/d_ab.time"
    row "(d) new conn AFAP CPU µs/req: queuegap / ab" "$f_cpu/$b_cpu2" "ratio <= 1.5" "$(ok "$f_cpu <= 1.5 * $b_cpu2")"
    info "(d) ratio queuegap : ab (elapsed ${f_el}s / ${ab_el}s)" "$(ratio "$f_cpu" "$b_cpu2")"
  else
    info "(d) new conn AFAP CPU µs/req: queuegap" "$f_cpu"
  fi
  # Bursts of new connections: lag max (intended → start of the last) and
  # spread (first → last start), over 3 bursts 1 s apart.
  for k in 1000 5000; do
    qg "d_burst$k" --burst "$k" --bursts 3 --every 1s --conn-mode new --engine loop --max-inflight 10000 "$URL"
    read -r lagmax spread berr < <(burst_stats "$tmp/d_burst$k.jsonl")
    lim=20; [ "$k" = 5000 ] && lim=100
    row "(d) burst of $k new conns: lag max ms" "$lagmax" "<= $lim" "$(ok "$lagmax <= $lim")"
    info "(d) burst of $k: spread ms / errors" "$spread/$berr"
  done
  # Keep-alive to a host name, on the loop (--engine loop refuses what it cannot run).
  qg d_localhost --engine loop --rate "$BENCH_RATE" --duration "$BENCH_DURATION" --connections "$BENCH_CONNS" "$LOCALHOST_URL"
  l_req=$(jget "$tmp/d_localhost.json" .requests)
  row "(d) keep-alive localhost ${BENCH_RATE}/s (loop): CPU µs/req" "$(cpu_us d_localhost "$l_req")" "<= $MAX_CPU_US" "$(ok "$(cpu_us d_localhost "$l_req") <= $MAX_CPU_US")"
  # https keep-alive: goroutines (see bench/README.md).
  for r in 2000 "$BENCH_RATE"; do
    qg "d_tls$r" --insecure --rate "$r" --duration "$BENCH_DURATION" --connections "$BENCH_CONNS" "$TLS_URL"
    t_req=$(jget "$tmp/d_tls$r.json" .requests)
    info "(d) https keep-alive ${r}/s: CPU µs/req (goroutines)" "$(cpu_us "d_tls$r" "$t_req")"
  done
  if have h2load; then
    peer d_h2load_tls h2load --h1 -c "$BENCH_CONNS" --rps "$(calc "$BENCH_RATE / $BENCH_CONNS")" -D "$dsecs" "$TLS_URL"
    ht_req=$(h2load_done "$tmp/d_h2load_tls.out")
    info "(d) https keep-alive ${BENCH_RATE}/s: CPU µs/req h2load" "$(cpu_us d_h2load_tls "${ht_req:-0}")"
  fi
  # 50 000/s keep-alive.
  qg d_50k --rate 50000 --duration "$BENCH_DURATION" --connections 200 "$URL"
  k_ach=$(jget "$tmp/d_50k.json" .achieved_rate); k_lag=$(jget "$tmp/d_50k.json" .generator.lag_p99_ms)
  k_pct=$(calc "round(100 * $k_ach / 50000, 1)")
  row "(d) 50000/s keep-alive: % achieved" "$k_pct" ">= 100" "$(ok "$k_pct >= 100")"
  row "(d) 50000/s keep-alive: send-lag p99 ms" "$k_lag" "<= 1" "$(ok "$k_lag <= 1")"
  info "(d) 50000/s: CPU µs/req" "$(cpu_us d_50k "$(jget "$tmp/d_50k.json" .requests)")"
  if have wrk; then
    peer d_wrk wrk -t1 -c200 -d"$BENCH_DURATION" "$URL"
    info "(d) wrk -t1 -c200 closed loop: req/s (ceiling)" "$(awk '/^Requests\/sec/{print $2}' "$tmp/d_wrk.out")"
  fi
else
  log "BENCH_PEERS=0: skipping scenario (d)"
fi

# (e) The cost of live metrics: the same run without and with
# --metrics-addr, a scraper (curl on CPU 0, outside queuegap's time) asking
# every second as a busy Prometheus would. Alternated, so drift in a noisy
# VM hits both; the lowest of each side is its figure.
if [ "$BENCH_METRICS" != 0 ]; then
  command -v curl >/dev/null || die "curl missing (apt-get install curl)"
  e_off=() e_on=()
  e_cpu_us() { # NAME → CPU µs/request of that run
    local u s _r _e req
    read -r u s _r _e <"$tmp/$1.time"
    req=$(jget "$tmp/$1.json" .requests)
    calc "round(($u + $s) * 1e6 / max($req, 1), 1)"
  }
  for i in $(seq 1 "$BENCH_METRICS_PAIRS"); do
    run_extra=()
    run "e_off$i" "$BENCH_RATE" "$BENCH_DURATION" "$BENCH_CONNS"
    e_off+=("$(e_cpu_us "e_off$i")")
    run_extra=(--metrics-addr "$BENCH_METRICS_ADDR" --metrics-grace 0s)
    (
      while :; do
        taskset -c 0 curl -s -o /dev/null --max-time 1 "http://$BENCH_METRICS_ADDR/metrics" || true
        sleep 1
      done
    ) &
    scraper_pid=$!
    run "e_on$i" "$BENCH_RATE" "$BENCH_DURATION" "$BENCH_CONNS"
    kill "$scraper_pid" 2>/dev/null || true; wait "$scraper_pid" 2>/dev/null || true; scraper_pid=""
    e_on+=("$(e_cpu_us "e_on$i")")
    run_extra=()
  done
  e_off_min=$(calc "min([$(IFS=,; echo "${e_off[*]}")])")
  e_on_min=$(calc "min([$(IFS=,; echo "${e_on[*]}")])")
  e_pct=$(calc "round(100 * $e_on_min / $e_off_min, 1)")
  info "(e) ${BENCH_RATE}/s metrics off: CPU µs/request (runs)" "$e_off_min (${e_off[*]})"
  info "(e) ${BENCH_RATE}/s metrics on: CPU µs/request (runs)" "$e_on_min (${e_on[*]})"
  row "(e) metrics on vs off, % CPU/request" "$e_pct" "<= $MAX_METRICS_PCT" "$(ok "$e_pct <= $MAX_METRICS_PCT")"
else
  log "BENCH_METRICS=0: skipping scenario (e)"
fi

cpu_model=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
echo
echo "queuegap bench $(date -u +%Y-%m-%dT%H:%MZ) — $ncpu CPUs, ${cpu_model:-unknown CPU}, $(uname -r), $(go env GOVERSION)"
echo "target on CPU 0, queuegap (and each peer) on CPU 1, $URL; load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %16s  %-14s %s\n' "figure" "measured" "target" "result"
printf '%s\n' "${rows[@]}"
echo
if [ "$fails" -gt 0 ]; then
  echo "$fails figure(s) missed their target"
  [ "$BENCH_STRICT" = 1 ] && exit 3
else
  echo "all targets met"
fi
exit 0
