#!/bin/sh
# queuegap testbed: render nginx.conf from nginx.conf.in and run nginx in the foreground.
# Reads only QG_* environment variables (see lib.sh).
# Used by the native runner (Go package testbed/stack) and as the compose entrypoint.
set -eu
PATH=$PATH:/usr/sbin:/usr/bin
QG_HERE=$(cd "$(dirname "$0")" && pwd)
. "$QG_HERE/lib.sh"
qg_check_env

servers=""
i=1
while [ "$i" -le "$QG_INSTANCES" ]; do
	if [ "$QG_SOCKET" = tcp ]; then
		host=$(qg_nth "$i" $QG_APP_HOSTS)
		port=$(qg_nth "$i" $QG_APP_PORTS)
		[ -n "$host" ] || qg_die "QG_APP_HOSTS=$QG_APP_HOSTS: no host for instance $i"
		qg_int "QG_APP_PORTS[$i]" "$port"
		qg_wait_host "$host"
		servers="${servers}server $host:$port max_fails=0; "
	else
		servers="${servers}server unix:$QG_SOCKET_DIR/app$i.sock max_fails=0; "
	fi
	i=$((i + 1))
done
if [ "$QG_LB" = least_conn ]; then lb="least_conn;"; else lb="# round_robin: nginx's default"; fi
if [ "$QG_SERVER" = uwsgi ]; then drop=http; else drop=uwsgi; fi

mkdir -p "$QG_RUN_DIR/nginx-tmp"
conf=$QG_RUN_DIR/nginx.conf
qg_render "$QG_HERE/nginx.conf.in" "$conf" \
	-e "/^#@$drop-begin/,/^#@$drop-end/d" -e '/^#@/d' \
	-e "s|@QG_UPSTREAM_SERVERS@|$servers|" -e "s|@QG_LB_DIRECTIVE@|$lb|"
exec nginx -p "$QG_RUN_DIR" -c "$conf" -e "$QG_RUN_DIR/nginx-error.log"
