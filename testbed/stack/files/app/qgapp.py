"""queuegap testbed app: Django with settings in code and no database.

Views:  /fast            answers at once
        /sleep?ms=N      waits N ms in time.sleep (I/O wait: the worker is busy, the CPU idle)
        /cpu?ms=N        burns N ms of this thread's CPU time in a busy loop

Every response carries
    Server-Timing: queue;dur=<ms>, app;dur=<ms>
        queue = app start - X-Request-Start (set by nginx as "t=${msec}"), app = view time
    X-Request-Start (echoed), X-Worker-Pid, X-Instance
and every request appends one JSON line to $QG_RUN_DIR/app.log (the ground truth for tests):
    {"id":..., "pid":..., "instance":..., "queue_ms":..., "app_ms":..., "path":..., "status":...,
     "start": <epoch s>, "end": <epoch s>, "request_start": <epoch s or null>}
Requests with an X-Queuegap-Probe header (the runner's readiness probes) are not logged.
The file is opened with O_APPEND and each line is written with a single os.write, so several
worker processes (and instances) can share it.

Served by uWSGI (module = qgapp:application) or gunicorn (qgapp:application). Loaded once in
the master (uWSGI without lazy-apps, gunicorn --preload) and warmed there by one fake request.
"""
import io
import json
import os
import sys
import time

from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    SECRET_KEY="queuegap-testbed-not-secret",
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[__name__ + ".TimingMiddleware"],
    INSTALLED_APPS=[],
    DATABASES={},
    USE_TZ=False,
    USE_I18N=False,
)

import django  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, HttpResponseBadRequest  # noqa: E402
from django.urls import path  # noqa: E402

INSTANCE = os.environ.get("QG_INSTANCE", "")
LOG_PATH = os.environ.get("QG_APP_LOG") or os.path.join(os.environ.get("QG_RUN_DIR", "."), "app.log")
START_KEY = "queuegap.start"
WARMUP_KEY = "queuegap.warmup"

_log_fd = None
_log_pid = None


def _log(record):
    """Append one JSON line with one os.write (atomic with O_APPEND)."""
    global _log_fd, _log_pid
    pid = os.getpid()
    if _log_fd is None or _log_pid != pid:
        _log_fd = os.open(LOG_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _log_pid = pid
    data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    os.write(_log_fd, data)


def parse_request_start(value):
    """X-Request-Start -> epoch seconds (float) or None.

    Accepts "t=<n>" or "<n>"; the unit (s, ms, us, ns since the epoch) is inferred from the
    magnitude; values before 2000 or more than a day in the future are rejected."""
    if not value:
        return None
    v = value.strip()
    if v.startswith("t="):
        v = v[2:]
    try:
        n = float(v)
    except ValueError:
        return None
    if n > 1e17:
        n /= 1e9
    elif n > 1e14:
        n /= 1e6
    elif n > 1e11:
        n /= 1e3
    if n < 946684800 or n > time.time() + 86400:
        return None
    return n


class TimingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        start = request.META.get(START_KEY) or time.time()
        raw = request.META.get("HTTP_X_REQUEST_START", "")
        t0 = parse_request_start(raw)
        queue_ms = None
        if t0 is not None:
            queue_ms = max(0.0, (start - t0) * 1000.0)  # clamp clock-resolution negatives
        response = self.get_response(request)
        end = time.time()
        app_ms = (end - start) * 1000.0
        if queue_ms is None:
            response["Server-Timing"] = "app;dur=%.3f" % app_ms
        else:
            response["Server-Timing"] = "queue;dur=%.3f, app;dur=%.3f" % (queue_ms, app_ms)
        if raw:
            response["X-Request-Start"] = raw
        response["X-Worker-Pid"] = str(os.getpid())
        response["X-Instance"] = INSTANCE
        if not request.META.get(WARMUP_KEY) and not request.META.get("HTTP_X_QUEUEGAP_PROBE"):
            _log({
                "id": request.META.get("HTTP_X_REQUEST_ID", ""),
                "pid": os.getpid(),
                "instance": INSTANCE,
                "queue_ms": None if queue_ms is None else round(queue_ms, 3),
                "app_ms": round(app_ms, 3),
                "path": request.path,
                "status": response.status_code,
                "start": start,
                "end": end,
                "request_start": t0,
            })
        return response


def _ms(request):
    try:
        ms = float(request.GET.get("ms", "0"))
    except ValueError:
        return None
    if ms < 0 or ms > 3600 * 1000:
        return None
    return ms


def fast(request):
    return HttpResponse("ok\n", content_type="text/plain")


def sleep(request):
    ms = _ms(request)
    if ms is None:
        return HttpResponseBadRequest("ms must be a number of milliseconds\n", content_type="text/plain")
    time.sleep(ms / 1000.0)
    return HttpResponse("slept %g ms\n" % ms, content_type="text/plain")


def cpu(request):
    ms = _ms(request)
    if ms is None:
        return HttpResponseBadRequest("ms must be a number of milliseconds\n", content_type="text/plain")
    end = time.thread_time() + ms / 1000.0
    n = 0
    while time.thread_time() < end:
        n += 1
    return HttpResponse("burned %g ms of CPU (%d loops)\n" % (ms, n), content_type="text/plain")


urlpatterns = [
    path("fast", fast),
    path("sleep", sleep),
    path("cpu", cpu),
]

_django_app = get_wsgi_application()


def application(environ, start_response):
    environ[START_KEY] = time.time()
    return _django_app(environ, start_response)


def _warm():
    """One fake request in the loading process so workers don't pay the first-request cost."""
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/fast", "QUERY_STRING": "", "SERVER_NAME": "warmup",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, WARMUP_KEY: True,
    }
    for chunk in application(environ, lambda status, headers, exc_info=None: None):
        pass


_warm()
