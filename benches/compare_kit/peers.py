"""The compared peers (direct, gateway, gateway-pingora, nginx, HAProxy, Traefik) and the shared backend, each configured with the same routes."""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import urllib.request

from . import system

HOST = "bench.test"
HOST_ROUTES = 10_000
BODY_PATH = "/1mib"
MEASURED_PATH = "/measured"
# The `middlewares` scenario: a typical chain (client IP allow list, rate limit far above the load, request and response
# headers, prefix stripping, basic auth) on every peer that can express it, in front of the same backend.
CHAIN_PREFIX = "/mw"
CHAIN_PATH = CHAIN_PREFIX + "/x"
CHAIN_USER, CHAIN_PASSWORD = "bench", "bench"
# {SHA}: the one password hash nginx, Traefik and the gateway all read (HAProxy has no {SHA}: it gets the same password
# as an insecure-password, a plain comparison).
CHAIN_HTPASSWD = CHAIN_USER + ":{SHA}" + base64.b64encode(hashlib.sha1(CHAIN_PASSWORD.encode()).digest()).decode()
CHAIN_AUTHORIZATION = "Basic " + base64.b64encode(f"{CHAIN_USER}:{CHAIN_PASSWORD}".encode()).decode()
# Far above any load the run sends: the limit is checked on every request and never refuses one.
CHAIN_RATE = 100_000_000
# The gateway's switch forcing every request through Pingora's HttpProxy (unset: the lean HTTP/1 path where it applies).
HTTP1_PATH_VARIABLE = "GATEWAY_HTTP1_PATH"


def route_host(i):
    return f"r{i}.{HOST}"


class Setup:
    """What every peer shares: the work folder, tool paths, backend ports, the TLS certificate."""

    def __init__(self, workdir, tools):
        self.workdir = workdir
        self.tools = tools
        os.chmod(workdir, 0o755)  # nginx workers run as nobody and serve a file from here
        self.consul = None  # the Consul agent the KV peers read, once it runs
        self.backend_http = system.free_port()
        self.backend_https = system.free_port()
        self.cert, self.key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
        self.cert_and_key = os.path.join(workdir, "cert-and-key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "2", "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST},DNS:*.{HOST}",
                        "-keyout", self.key, "-out", self.cert], check=True, capture_output=True)
        with open(self.cert_and_key, "w") as out:
            out.write(open(self.cert).read() + open(self.key).read())
        with open(os.path.join(workdir, "1mib"), "wb") as f:
            f.write(os.urandom(1 << 20))

    def path(self, name):
        return os.path.join(self.workdir, name)


def nginx_preamble(setup, name, workers):
    """The top of an nginx configuration: workers, foreground, pid and error log in the work folder."""
    return f"""worker_processes {workers};
daemon off;
pid {setup.path(name + '.pid')};
error_log {setup.path(name + '.error.log')} error;
events {{ worker_connections 8192; }}
"""


class Backend:
    """The upstream every peer forwards to: an nginx answering a short body, and 1 MiB at BODY_PATH."""

    def __init__(self, setup):
        self.setup = setup
        config = setup.path("backend.conf")
        os.makedirs(setup.path("backend-temp"), exist_ok=True)
        with open(config, "w") as f:
            f.write(nginx_preamble(setup, "backend", 2) + f"""http {{
  access_log off;
  client_body_temp_path {setup.path('backend-temp')};
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  server {{
    listen 127.0.0.1:{setup.backend_http};
    listen 127.0.0.1:{setup.backend_https} ssl http2;
    ssl_certificate {setup.cert};
    ssl_certificate_key {setup.key};
    location / {{ default_type text/plain; return 200 "hello from the benchmark backend\\n"; }}
    location = {BODY_PATH} {{ default_type application/octet-stream; alias {setup.path('1mib')}; }}
  }}
}}
""")
        self.process = system.launch([setup.tools["nginx"], "-c", config, "-p", setup.workdir], setup.path("backend.log"))
        system.wait_for(lambda: system.port_open(setup.backend_http), 10, "the nginx backend")

    def pids(self):
        return system.process_tree(self.process.pid)

    def stop(self):
        system.stop(self.process)


class Peer:
    """A proxy under test. `start` launches it for a route set ("small" or "large"); `stop` ends it."""

    name = ""
    reads_consul = False
    # The peer this one is a build setting of (its reload is not timed again), or None.
    variant_of = None

    def __init__(self, setup):
        self.setup = setup
        self.process = None
        self.http_port = self.https_port = None

    def version(self):
        return ""

    def command(self, routes):
        raise NotImplementedError

    def environment(self):
        """The environment the peer runs with: this process's, without the gateway's path switch."""
        return {k: v for k, v in os.environ.items() if k != HTTP1_PATH_VARIABLE}

    def start(self, routes, cpus, quota):
        self.http_port, self.https_port = system.free_port(), system.free_port()
        args = self.command(routes)
        self.process = system.launch(args, self.setup.path(f"{self.name}.log"), cpus=cpus, quota=quota,
                                     env=self.environment())

    def pids(self):
        return system.process_tree(self.process.pid) if self.process else []

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines=5):
        try:
            with open(self.setup.path(f"{self.name}.log"), errors="replace") as f:
                return " | ".join(f.read().strip().splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        if self.process:
            system.stop(self.process)
            self.process = None


class Direct(Peer):
    """No proxy: the load goes straight to the backend, moved onto the proxies' CPU while it is measured."""

    name = "direct"

    def __init__(self, setup, backend=None):
        super().__init__(setup)
        self.backend = backend

    def start(self, routes, cpus, quota):
        self.http_port, self.https_port = self.setup.backend_http, self.setup.backend_https
        system.set_affinity(self.backend.pids(), cpus or system.all_cpus())

    def pids(self):
        return self.backend.pids()

    def alive(self):
        return True

    def stop(self):
        system.set_affinity(self.backend.pids(), system.LOAD_CPUS)

    def version(self):
        return "the nginx backend itself"


class Nginx(Peer):
    name = "nginx"

    def version(self):
        return subprocess.run([self.setup.tools["nginx"], "-v"], capture_output=True, text=True).stderr.strip()

    def command(self, routes):
        s = self.setup
        temp = s.path("nginx-temp")
        os.makedirs(temp, exist_ok=True)
        location = "location / { proxy_pass http://backend; }"
        htpasswd = s.path("nginx-htpasswd")
        with open(htpasswd, "w") as f:
            f.write(CHAIN_HTPASSWD + "\n")
        # proxy_set_header in a location replaces every inherited one: the forwarded headers are repeated.
        chain = f"""location {CHAIN_PREFIX}/ {{
      allow 127.0.0.1; deny all;
      limit_req zone=chain burst={CHAIN_RATE} nodelay;
      auth_basic "traefik"; auth_basic_user_file {htpasswd};
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Real-Ip $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Port $server_port;
      proxy_set_header X-Forwarded-Prefix {CHAIN_PREFIX};
      proxy_set_header X-Bench 1;
      add_header X-Served bench;
      proxy_pass http://backend/;
    }}"""
        hosts = "".join(f"  server {{ listen 127.0.0.1:{self.http_port}; server_name {route_host(i)}; {location} }}\n"
                        for i in range(HOST_ROUTES)) if routes == "large" else ""
        config = s.path(f"nginx-{routes}.conf")
        with open(config, "w") as f:
            f.write(nginx_preamble(s, "nginx", "auto") + f"""http {{
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path {temp}; proxy_temp_path {temp};
  server_names_hash_max_size 32768;
  server_names_hash_bucket_size 64;
  upstream backend {{ server 127.0.0.1:{s.backend_http}; keepalive 256; keepalive_requests 10000000; }}
  proxy_http_version 1.1;
  proxy_max_temp_file_size 0;
  proxy_set_header Connection "";
  proxy_set_header Host $http_host;
  proxy_set_header X-Real-Ip $remote_addr;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  proxy_set_header X-Forwarded-Proto $scheme;
  proxy_set_header X-Forwarded-Host $http_host;
  proxy_set_header X-Forwarded-Port $server_port;
  ssl_certificate {s.cert};
  ssl_certificate_key {s.key};
  server {{ listen 127.0.0.1:{self.http_port} default_server; listen 127.0.0.1:{self.https_port} ssl http2 default_server; return 404; }}
  limit_req_zone $binary_remote_addr zone=chain:10m rate={CHAIN_RATE}r/s;
  server {{ listen 127.0.0.1:{self.http_port}; listen 127.0.0.1:{self.https_port} ssl http2; server_name {HOST}; {location} {chain} }}
{hosts}}}
""")
        return [s.tools["nginx"], "-c", config, "-p", s.workdir]


class Haproxy(Peer):
    name = "haproxy"

    def version(self):
        return subprocess.run([self.setup.tools["haproxy"], "-v"], capture_output=True, text=True).stdout.splitlines()[0]

    def command(self, routes):
        s = self.setup
        hosts_map = s.path("haproxy-hosts.map")
        with open(hosts_map, "w") as f:
            f.write(f"{HOST} bench\n")
            if routes == "large":
                f.writelines(f"{route_host(i)} bench\n" for i in range(HOST_ROUTES))
        config = s.path(f"haproxy-{routes}.cfg")
        with open(config, "w") as f:
            f.write(f"""global
  maxconn 8000
  tune.ssl.default-dh-param 2048

defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option forwardfor
  http-reuse safe

userlist chain_users
  user {CHAIN_USER} insecure-password {CHAIN_PASSWORD}

frontend web
  bind 127.0.0.1:{self.http_port}
  bind 127.0.0.1:{self.https_port} ssl crt {s.cert_and_key} alpn h2,http/1.1
  http-request set-header X-Real-Ip %[src]
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header X-Forwarded-Port %[dst_port]
  http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}
  http-request set-header X-Forwarded-Proto http if !{{ ssl_fc }}
  acl chain path_beg {CHAIN_PREFIX}/
  stick-table type ip size 100k expire 10s store http_req_rate(1s)
  http-request deny if chain !{{ src 127.0.0.1 }}
  http-request track-sc0 src if chain
  http-request deny deny_status 429 if chain {{ sc_http_req_rate(0) gt {CHAIN_RATE} }}
  http-request auth realm traefik if chain !{{ http_auth(chain_users) }}
  http-request set-header X-Bench 1 if chain
  http-request set-header X-Forwarded-Prefix {CHAIN_PREFIX} if chain
  http-request set-var(txn.chain) bool(true) if chain
  http-request replace-path ^{CHAIN_PREFIX}(/.*)$ \\1 if chain
  http-response set-header X-Served bench if {{ var(txn.chain) -m bool }}
  use_backend %[req.hdr(host),field(1,:),lower,map({hosts_map},not_found)]

backend bench
  server backend 127.0.0.1:{s.backend_http}

backend not_found
  http-request return status 404
""")
        return [s.tools["haproxy"], "-db", "-f", config]


class KvPeer(Peer):
    """A peer that reads Traefik's dynamic configuration from Consul KV (traefik/...)."""

    reads_consul = True

    def consul_flags(self):
        return [f"--entryPoints.web.address=127.0.0.1:{self.http_port}",
                f"--entryPoints.websecure.address=127.0.0.1:{self.https_port}",
                f"--providers.consul.endpoints=127.0.0.1:{self.setup.consul.port}",
                "--providers.consul.rootKey=traefik", "--log.level=ERROR"]


class Gateway(KvPeer):
    name = "gateway"

    def version(self):
        return "gateway " + subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                           cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__)))).stdout.strip()

    def command(self, routes):
        return [self.setup.tools["gateway"]] + self.consul_flags()


class GatewayPingora(Gateway):
    """The same gateway binary with every request forced through Pingora's HttpProxy: the lean path's gain, side by side."""

    name = "gateway-pingora"
    variant_of = "gateway"

    def version(self):
        return f"{super().version()} with {HTTP1_PATH_VARIABLE}=pingora"

    def environment(self):
        return {**super().environment(), HTTP1_PATH_VARIABLE: "pingora"}


class Traefik(KvPeer):
    name = "traefik"

    def version(self):
        out = subprocess.run([self.setup.tools["traefik"], "version"], capture_output=True, text=True).stdout
        return "traefik " + next((line.split()[-1] for line in out.splitlines() if line.startswith("Version")), "?")

    def command(self, routes):
        return [self.setup.tools["traefik"], "--global.checkNewVersion=false",
                "--global.sendAnonymousUsage=false"] + self.consul_flags()


PEERS = [Direct, Gateway, Nginx, Haproxy, Traefik]
# Every peer in the order they run and are reported; those not in PEERS run only when asked for.
ALL_PEERS = [Direct, Gateway, GatewayPingora, Nginx, Haproxy, Traefik]


def select(names, gateway_pingora=False):
    """The peer names to run, in ALL_PEERS order: `names` (comma-separated), plus gateway-pingora when
    `gateway_pingora`; ValueError on a name that is no peer."""
    wanted = set(names.split(","))
    known = {p.name for p in ALL_PEERS}
    if wanted - known:
        raise ValueError(f"--peers: no such peer {', '.join(sorted(wanted - known))} (peers: {', '.join(p.name for p in ALL_PEERS)})")
    if gateway_pingora:
        wanted.add(GatewayPingora.name)
    return [p.name for p in ALL_PEERS if p.name in wanted]


class Consul:
    """A Consul dev agent holding the KV configuration the gateway and Traefik read."""

    def __init__(self, setup, cpus=None):
        self.setup = setup
        self.port = system.free_port()
        self.process = system.launch(
            [setup.tools["consul"], "agent", "-dev", "-bind=127.0.0.1", "-client=127.0.0.1", "-log-level=warn",
             f"-http-port={self.port}", "-dns-port=-1", "-grpc-port=-1", "-grpc-tls-port=-1",
             f"-serf-lan-port={system.free_port()}", f"-serf-wan-port={system.free_port()}",
             f"-server-port={system.free_port()}"], setup.path("consul.log"), cpus=cpus)
        system.wait_for(lambda: urllib.request.urlopen(f"{self.url}/v1/status/leader").read().strip() not in (b"", b'""'),
                        30, "Consul's leader")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def put_all(self, pairs):
        """Sets keys in transactions of 64 operations (Consul's limit)."""
        for start in range(0, len(pairs), 64):
            body = [{"KV": {"Verb": "set", "Key": k, "Value": base64.b64encode(v.encode()).decode()}}
                    for k, v in pairs[start:start + 64]]
            request = urllib.request.Request(f"{self.url}/v1/txn", data=json.dumps(body).encode(), method="PUT")
            urllib.request.urlopen(request).read()

    def put(self, key, value):
        request = urllib.request.Request(f"{self.url}/v1/kv/{key}", data=value.encode(), method="PUT")
        urllib.request.urlopen(request).read()

    def delete_tree(self, prefix):
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/v1/kv/{prefix}?recurse", method="DELETE")).read()

    def stop(self):
        system.stop(self.process)


def kv_pairs(setup, routes, measured_backend):
    """The Traefik KV configuration both KV peers read: the same routes nginx and HAProxy get."""
    backend = f"http://127.0.0.1:{setup.backend_http}"
    pairs = [
        ("traefik/http/routers/bench/rule", f"Host(`{HOST}`)"),
        ("traefik/http/routers/bench/entryPoints/0", "web"),
        ("traefik/http/routers/bench/service", "bench"),
        ("traefik/http/routers/bench-tls/rule", f"Host(`{HOST}`)"),
        ("traefik/http/routers/bench-tls/entryPoints/0", "websecure"),
        ("traefik/http/routers/bench-tls/service", "bench"),
        ("traefik/http/routers/bench-tls/tls", "true"),
        ("traefik/http/services/bench/loadBalancer/servers/0/url", backend),
        ("traefik/tls/certificates/0/certFile", setup.cert),
        ("traefik/tls/certificates/0/keyFile", setup.key),
        ("traefik/tls/stores/default/defaultCertificate/certFile", setup.cert),
        ("traefik/tls/stores/default/defaultCertificate/keyFile", setup.key),
        ("traefik/http/routers/measured/rule", f"Host(`{HOST}`) && Path(`{MEASURED_PATH}`)"),
        ("traefik/http/routers/measured/entryPoints/0", "web"),
        ("traefik/http/routers/measured/service", "measured"),
        ("traefik/http/services/measured/loadBalancer/servers/0/url", measured_backend),
        ("traefik/http/routers/chain/rule", f"Host(`{HOST}`) && PathPrefix(`{CHAIN_PREFIX}/`)"),
        ("traefik/http/routers/chain/entryPoints/0", "web"),
        ("traefik/http/routers/chain/service", "bench"),
        ("traefik/http/routers/chain/middlewares/0", "chain-ip"),
        ("traefik/http/routers/chain/middlewares/1", "chain-rate"),
        ("traefik/http/routers/chain/middlewares/2", "chain-headers"),
        ("traefik/http/routers/chain/middlewares/3", "chain-strip"),
        ("traefik/http/routers/chain/middlewares/4", "chain-auth"),
        ("traefik/http/middlewares/chain-ip/ipAllowList/sourceRange/0", "127.0.0.1/32"),
        ("traefik/http/middlewares/chain-rate/rateLimit/average", str(CHAIN_RATE)),
        ("traefik/http/middlewares/chain-rate/rateLimit/burst", str(CHAIN_RATE)),
        ("traefik/http/middlewares/chain-headers/headers/customRequestHeaders/X-Bench", "1"),
        ("traefik/http/middlewares/chain-headers/headers/customResponseHeaders/X-Served", "bench"),
        ("traefik/http/middlewares/chain-strip/stripPrefix/prefixes/0", CHAIN_PREFIX),
        ("traefik/http/middlewares/chain-auth/basicAuth/users/0", CHAIN_HTPASSWD),
    ]
    if routes == "large":
        for i in range(HOST_ROUTES):
            pairs += [(f"traefik/http/routers/r{i}/rule", f"Host(`{route_host(i)}`)"),
                      (f"traefik/http/routers/r{i}/entryPoints/0", "web"),
                      (f"traefik/http/routers/r{i}/service", "bench")]
    return pairs


def find_tools(root):
    """Paths of every program the comparison runs; installs or builds what is missing (cached)."""
    scripts = os.path.join(root, "scripts")
    tools = {"oha": subprocess.run([os.path.join(scripts, "install-bench-tools")], check=True,
                                   capture_output=True, text=True).stdout.strip()}
    for name in ("nginx", "haproxy", "wrk", "h2load"):
        tools[name] = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    for name in ("consul", "traefik"):
        result = subprocess.run([os.path.join(scripts, f"install-{name}")], capture_output=True, text=True)
        tools[name] = result.stdout.strip() if result.returncode == 0 else None
        if result.returncode != 0:
            print(f"compare: {name} could not be built: {result.stderr.strip()[-300:]}")
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "gateway"], cwd=root, check=True)
    tools["gateway"] = os.path.join(root, "target", "release", "gateway")
    return tools
