"""Hot-reload measurement: time from a Consul KV write to the first request the new route answers, with failures counted under load."""

import http.client
import statistics
import sys
import threading
import time

from .peers import HOST, MEASURED_PATH

MEASURED_URL_KEY = "traefik/http/services/measured/loadBalancer/servers/0/url"


def answering_backend(connection):
    """The name the whoami backend behind the measured route reports (None if not 200), and the status."""
    connection.request("GET", MEASURED_PATH, headers={"Host": HOST})
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        return None, response.status
    first = body.split(b"\n", 1)[0].decode(errors="replace")
    return (first[len("Name: "):] if first.startswith("Name: ") else None), response.status


class Load(threading.Thread):
    """Keeps sending requests to the measured route over keep-alive until stopped; counts answers and failures."""

    def __init__(self, port, deadline, names):
        super().__init__(daemon=True)
        self.port, self.deadline, self.names = port, deadline, names
        self.stop = threading.Event()
        self.ok = 0
        self.failures = []

    def run(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        while not self.stop.is_set() and time.monotonic() < self.deadline and self.ok < 5_000_000:
            try:
                name, status = answering_backend(connection)
                if name in self.names:
                    self.ok += 1
                else:
                    self.failures.append(f"status {status}")
            except (OSError, http.client.HTTPException) as error:
                self.failures.append(repr(error))
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def measure(put, port, backends, reloads, pause, switch_timeout=10):
    """Switches the measured route between `backends` ({name: url}) `reloads` times with `put(key, value)`.

    Returns p50/p90/p99/max milliseconds from each write to the first answer from the new backend,
    and the requests that failed meanwhile on a separate keep-alive connection.
    """
    names = list(backends)
    probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    load = Load(port, time.monotonic() + reloads * (pause + switch_timeout) + 30, set(names))
    load.start()
    latencies = []
    current = answering_backend(probe)[0]
    try:
        for i in range(reloads):
            target = names[(names.index(current) + 1) % len(names)] if current in names else names[0]
            started = time.monotonic()
            put(MEASURED_URL_KEY, backends[target])
            while answering_backend(probe)[0] != target:
                if time.monotonic() - started > switch_timeout:
                    raise RuntimeError(f"reload {i + 1}: the route did not switch to {target} within {switch_timeout} s")
            latencies.append((time.monotonic() - started) * 1000)
            current = target
            time.sleep(pause)
    finally:
        load.stop.set()
        load.join()
    if load.failures:
        print(f"  failed requests during reloads, first ones: {load.failures[:3]}", file=sys.stderr)
    return {"p50_ms": statistics.median(latencies), "p90_ms": percentile(latencies, 90),
            "p99_ms": percentile(latencies, 99), "max_ms": max(latencies), "reloads": len(latencies),
            "errors": len(load.failures), "requests_ok": load.ok}
