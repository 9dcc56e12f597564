# queuegap testbed: shared shell helpers, sourced by run-app.sh and run-nginx.sh.
# Used unchanged by the native runner (Go package testbed/stack) and by docker-compose.yaml.

# Every knob the scripts read. All must be set (QG_HTTP_PORTS may be empty). The Go runner's
# EnvKnobs() and docker-compose.yaml must list exactly these (checked by a Go test).
QG_KNOBS="QG_SERVER QG_WORKERS QG_LISTEN QG_SOCKET QG_HARAKIRI QG_CONNECT_TIMEOUT QG_READ_TIMEOUT
QG_INSTANCES QG_INSTANCE QG_LB QG_NGINX_BACKLOG QG_PORT QG_BIND QG_APP_BIND QG_APP_HOSTS
QG_APP_PORTS QG_STATS_PORTS QG_HTTP_PORTS QG_SOCKET_DIR QG_RUN_DIR"

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
	qg_int QG_WORKERS "$QG_WORKERS"
	qg_int QG_LISTEN "$QG_LISTEN"
	qg_int QG_HARAKIRI "$QG_HARAKIRI" 0ok
	qg_int QG_NGINX_BACKLOG "$QG_NGINX_BACKLOG"
	qg_int QG_PORT "$QG_PORT"
	qg_int QG_INSTANCE "$QG_INSTANCE" 0ok
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
