# queuegap testbed: shared shell helpers, sourced by run-app.sh, run-nginx.sh and run-front.sh.
# Used unchanged by the native runner (Go package testbed/stack) and by docker-compose.yaml.

# Every knob the scripts read. All must be set (QG_HTTP_PORTS may be empty). The Go runner's
# EnvKnobs() and docker-compose.yaml must list exactly these (checked by a Go test).
QG_KNOBS="QG_SERVER QG_WORKERS QG_LISTEN QG_SOCKET QG_HARAKIRI QG_CONNECT_TIMEOUT QG_READ_TIMEOUT
QG_INSTANCES QG_INSTANCE QG_LB QG_NGINX_BACKLOG QG_PORT QG_BIND QG_APP_BIND QG_APP_HOSTS
QG_APP_PORTS QG_STATS_PORTS QG_HTTP_PORTS QG_SOCKET_DIR QG_RUN_DIR
QG_NGINX_WORKER_CONNECTIONS QG_NGINX_HOST QG_FRONT QG_FRONT_PORT QG_FRONT_CONNECT_TIMEOUT"

qg_die() {
	echo "queuegap testbed: $*" >&2
	exit 2
}

qg_int() { # name value: a positive integer (or 0 when $3 = 0ok)
	case "$2" in
	'' | *[!0-9]*) qg_die "$1=$2: want an integer" ;;
	esac
	if [ "${3-}" != 0ok ] && [ "$2" -eq 0 ]; then qg_die "$1=$2: want a positive integer"; fi
}

qg_nth() { # n word...: print the n-th word (empty when missing)
	_n=$1
	shift
	if [ "$_n" -ge 1 ] && [ "$_n" -le $# ]; then eval "printf '%s' \"\${$_n}\""; fi
}

qg_check_env() {
	for _k in $QG_KNOBS; do
		eval "_set=\${$_k+x}"
		[ "$_set" = x ] || qg_die "$_k is not set (needed: $(echo $QG_KNOBS))"
	done
	case "$QG_SERVER" in uwsgi | gunicorn) ;; *) qg_die "QG_SERVER=$QG_SERVER: want uwsgi or gunicorn" ;; esac
	case "$QG_SOCKET" in tcp | unix) ;; *) qg_die "QG_SOCKET=$QG_SOCKET: want tcp or unix" ;; esac
	case "$QG_LB" in round_robin | least_conn) ;; *) qg_die "QG_LB=$QG_LB: want round_robin or least_conn" ;; esac
	case "$QG_INSTANCES" in 1 | 2) ;; *) qg_die "QG_INSTANCES=$QG_INSTANCES: want 1 or 2" ;; esac
	case "$QG_FRONT" in none | alb) ;; *) qg_die "QG_FRONT=$QG_FRONT: want none or alb" ;; esac
	qg_int QG_WORKERS "$QG_WORKERS"
	qg_int QG_LISTEN "$QG_LISTEN"
	qg_int QG_HARAKIRI "$QG_HARAKIRI" 0ok
	qg_int QG_NGINX_BACKLOG "$QG_NGINX_BACKLOG"
	qg_int QG_PORT "$QG_PORT"
	qg_int QG_INSTANCE "$QG_INSTANCE" 0ok
	qg_int QG_NGINX_WORKER_CONNECTIONS "$QG_NGINX_WORKER_CONNECTIONS"
	[ "$QG_NGINX_WORKER_CONNECTIONS" -ge 8 ] || qg_die "QG_NGINX_WORKER_CONNECTIONS=$QG_NGINX_WORKER_CONNECTIONS: want at least 8"
	qg_int QG_FRONT_PORT "$QG_FRONT_PORT" 0ok
}

qg_wait_host() { # host: wait (≤ 30 s) until it resolves — under compose a service's name exists
	# only once its container does, and nginx refuses to start on an unknown upstream host.
	_i=0
	until getent hosts "$1" >/dev/null 2>&1; do
		_i=$((_i + 1))
		[ "$_i" -le 300 ] || qg_die "host $1 does not resolve (waited 30 s)"
		sleep 0.1
	done
}

qg_render() { # template output [sed args...]: replace every @QG_KNOB@ and fail on leftovers
	_src=$1
	_out=$2
	shift 2
	for _k in $QG_KNOBS; do
		eval "_v=\${$_k}"
		set -- "$@" -e "s|@$_k@|$_v|g"
	done
	sed "$@" "$_src" >"$_out.tmp"
	if grep -n '@QG_[A-Z_]*@' "$_out.tmp" >&2; then
		qg_die "$_out: placeholders left unrendered (above)"
	fi
	mv "$_out.tmp" "$_out"
}
