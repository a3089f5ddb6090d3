"""Serving the champion: the HTTP scoring service and the batch scores' database writer.

- ``app``: ``mlgate serve``, the champion's ONNX twin behind FastAPI (POST /score,
  /health, /reload, Prometheus /metrics), hot-swapped when ``champion`` moves;
- ``guard``: what every request passes first: the bearer token, JSON only, the body limit;
- ``batch``: a day's batch scores written to a database table, one transaction a day.

May import the core, ``mlgate.registry`` and ``mlgate.export``; never Spark or Airflow.
"""
