"""gunicorn settings for production: `make serve`, or `gunicorn -c gunicorn.conf.py wsgi:app`.

Each worker is a process with its own copy of the model and the index (about 1.5 GB at
100k profiles); workers follow the shared index snapshots and journal, so an edit served by
one is found by a search served by another. Tune with PARTNERMATCH_BIND and
PARTNERMATCH_WORKERS; settings are read here because gunicorn reads this file, not the app.
"""

import os

bind = os.environ.get("PARTNERMATCH_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("PARTNERMATCH_WORKERS", "2"))
# Threads share a worker's model and index; one torch thread each keeps latency flat.
threads = int(os.environ.get("PARTNERMATCH_THREADS", "4"))
worker_class = "gthread"
timeout = 60
graceful_timeout = 30
# Each worker loads the model itself on first use: forking a loaded torch is not safe.
preload_app = False
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("PARTNERMATCH_FORWARDED_ALLOW_IPS", "127.0.0.1")
