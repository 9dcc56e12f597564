#!/bin/sh
# queuegap testbed: start one app instance (uWSGI or gunicorn serving files/app/qgapp.py).
# Reads only QG_* environment variables (see lib.sh); instance number in QG_INSTANCE (1 or 2).
# Used by the native runner (Go package testbed/stack) and as the compose entrypoint.
set -eu
PATH=$PATH:/usr/sbin:/usr/bin
QG_HERE=$(cd "$(dirname "$0")" && pwd)
. "$QG_HERE/lib.sh"
qg_check_env

i=$QG_INSTANCE
[ "$i" -ge 1 ] && [ "$i" -le 2 ] || qg_die "QG_INSTANCE=$i: want 1 or 2 for an app instance"
port=$(qg_nth "$i" $QG_APP_PORTS)
stats=$(qg_nth "$i" $QG_STATS_PORTS)
http=$(qg_nth "$i" $QG_HTTP_PORTS)

mkdir -p "$QG_RUN_DIR" "$QG_SOCKET_DIR"
if [ "$QG_SOCKET" = tcp ]; then
	qg_int "QG_APP_PORTS[$i]" "$port"
	addr=$QG_APP_BIND:$port
else
	addr=$QG_SOCKET_DIR/app$i.sock
	rm -f "$addr"
fi

# A pyenv (or any other) Python on PATH must not leak into Debian's python3/libpython.
unset PYTHONHOME PYTHONPATH
export PYTHONDONTWRITEBYTECODE=1

case "$QG_SERVER" in
uwsgi)
	qg_int "QG_STATS_PORTS[$i]" "$stats"
	ini=$QG_RUN_DIR/uwsgi-$i.ini
	qg_render "$QG_HERE/uwsgi.ini.in" "$ini" -e "s|@QG_STATS_PORT@|$stats|g" -e "s|@QG_APP_DIR@|$QG_HERE/app|g"
	set -- uwsgi --ini "$ini" --socket "$addr"
	if [ -n "$http" ]; then set -- "$@" --http-socket "$QG_APP_BIND:$http"; fi
	exec "$@"
	;;
gunicorn)
	# sync workers; --timeout is gunicorn's harakiri (0 = off); --preload loads (and warms) the
	# app once in the master.
	if [ "$QG_SOCKET" = unix ]; then addr=unix:$addr; fi
	set -- /usr/bin/python3 -m gunicorn --chdir "$QG_HERE/app" --worker-class sync \
		--workers "$QG_WORKERS" --backlog "$QG_LISTEN" --timeout "$QG_HARAKIRI" \
		--graceful-timeout 3 --preload --bind "$addr"
	if [ -n "$http" ]; then set -- "$@" --bind "$QG_APP_BIND:$http"; fi
	exec "$@" qgapp:application
	;;
esac
