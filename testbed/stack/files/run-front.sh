#!/bin/sh
# queuegap testbed: render front.conf from front.conf.in and run the ALB-like front tier (an
# nginx of its own) in the foreground. Reads only QG_* environment variables (see lib.sh).
# Used by the native runner (Go package testbed/stack) and as the compose entrypoint.
set -eu
PATH=$PATH:/usr/sbin:/usr/bin
QG_HERE=$(cd "$(dirname "$0")" && pwd)
. "$QG_HERE/lib.sh"
qg_check_env

[ "$QG_FRONT" = alb ] || qg_die "QG_FRONT=$QG_FRONT: run-front.sh runs only the alb front"
qg_int QG_FRONT_PORT "$QG_FRONT_PORT"
[ -n "$QG_NGINX_HOST" ] || qg_die "QG_NGINX_HOST is empty: where is the pod nginx?"
case "$QG_FRONT_CONNECT_TIMEOUT" in
*[0-9]s | *[0-9]ms) ;;
*) qg_die "QG_FRONT_CONNECT_TIMEOUT=$QG_FRONT_CONNECT_TIMEOUT: want nginx time, e.g. 10s or 1500ms" ;;
esac

qg_wait_host "$QG_NGINX_HOST"
mkdir -p "$QG_RUN_DIR/front-tmp"
conf=$QG_RUN_DIR/front.conf
qg_render "$QG_HERE/front.conf.in" "$conf"
exec nginx -p "$QG_RUN_DIR" -c "$conf" -e "$QG_RUN_DIR/front-error.log"
