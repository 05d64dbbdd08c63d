"""Workshop serving: nginx's generated configuration (checked by nginx itself), the supervisor's
decisions, serve.py's command line, and the forward cache every session of a worker shares."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

import serve
from explorer.forward_cache import ForwardCache, is_frozen
from explorer.serving import proxy, workers

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is installed by `make setup-dev`")


def nginx_accepts(conf: str, prefix: Path) -> subprocess.CompletedProcess:
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "temp" / name).mkdir(parents=True, exist_ok=True)
    (prefix / "nginx.conf").write_text(conf)
    return subprocess.run(
        [NGINX, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")],
        capture_output=True,
        text=True,
    )


def groups(conf: str) -> dict[str, list[str]]:
    """upstream name -> its server lines."""
    return {
        name: [line.strip() for line in body.splitlines() if line.strip().startswith("server ")]
        for name, body in re.findall(r"upstream (\S+) \{(.*?)\n    \}", conf, re.S)
    }


# --------------------------------------------------------------------------- configuration


@needs_nginx
@pytest.mark.parametrize("downs", [[False], [False, False], [False, True, False], [True, True]])
def test_nginx_accepts_the_generated_configuration(tmp_path, downs):
    ups = [proxy.Upstream(9100 + i, down=d) for i, d in enumerate(downs)]
    done = nginx_accepts(proxy.config(ups, address="127.0.0.1", port=9099, prefix=tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr


def test_new_browsers_go_to_the_least_busy_worker_and_known_cookies_to_their_own():
    conf = proxy.config(
        [proxy.Upstream(9101), proxy.Upstream(9102), proxy.Upstream(9103)],
        address="0.0.0.0",
        port=8501,
        prefix=Path("/tmp/x"),
    )
    g = groups(conf)
    assert set(g) == {"sslx_fresh", "sslx_w0", "sslx_w1", "sslx_w2"}
    assert "least_conn;" in conf.split("upstream sslx_fresh")[1].split("}")[0]
    assert [s.split()[1] for s in g["sslx_fresh"]] == ["127.0.0.1:9101", "127.0.0.1:9102", "127.0.0.1:9103"]
    # each worker's own group: itself first, every other worker as a backup for when it is dead
    assert g["sslx_w1"] == [
        "server 127.0.0.1:9102 max_fails=2 fail_timeout=5s;",
        "server 127.0.0.1:9101 backup;",
        "server 127.0.0.1:9103 backup;",
    ]
    # the cookie can only name a group (w0..w2); any other value, an address included, is a new browser
    cookie_map = conf.split("map $cookie_sslx_worker $sslx_group {")[1].split("}")[0]
    assert re.findall(r"^\s+(\S+) (\S+);", cookie_map, re.M) == [
        ("default", "sslx_fresh"),
        ("w0", "sslx_w0"),
        ("w1", "sslx_w1"),
        ("w2", "sslx_w2"),
    ]
    assert "proxy_pass http://$sslx_group;" in conf
    # websockets upgraded and kept through long talks; uploads bounded just above the app's own limit
    assert "proxy_set_header Upgrade $http_upgrade;" in conf and "proxy_read_timeout 24h;" in conf
    assert "client_max_body_size 6m;" in conf
    assert "ip_hash" not in conf  # a room behind one NAT address must not land on one worker


def test_the_cookie_names_the_worker_that_really_served_the_response():
    conf = proxy.config([proxy.Upstream(9101), proxy.Upstream(9102)], address="::", port=8501, prefix=Path("/tmp/x"))
    served = dict(re.findall(r'"~\(\^\|, \)(\S+)\$" "sslx_worker=(w\d);', conf))
    assert served == {r"127\.0\.0\.1:9101": "w0", r"127\.0\.0\.1:9102": "w1"}
    # after a retry $upstream_addr is "dead, live": the last address decides
    pattern = re.compile(r"(^|, )127\.0\.0\.1:9101$")
    assert pattern.search("127.0.0.1:9102, 127.0.0.1:9101") and not pattern.search("127.0.0.1:9101, 127.0.0.1:9102")
    assert "listen [::]:8501;" in conf


def test_the_proxy_in_front_of_replicas_keeps_a_cookie_of_its_own(tmp_path, monkeypatch):
    """Two levels of sticky sessions (the compose proxy over replicas, each replica's nginx over its workers)
    with one cookie name: the browser kept the outer value, and a third replica met `w2`, which its own nginx
    does not know. The outer proxy (`python -m explorer.serving.proxy`) names its cookie `sslx_replica`."""
    written = {}
    monkeypatch.setattr(proxy, "_parse_upstream", lambda item: [proxy.Upstream(8501, f"10.0.0.{i}") for i in (1, 2, 3)])
    monkeypatch.setattr(proxy.Nginx, "write", lambda self, text: written.setdefault("conf", text))
    monkeypatch.setattr(proxy.os, "execv", lambda *a: written.setdefault("exec", a))
    proxy.main(["--upstream", "app:8501", "--prefix", str(tmp_path)])
    outer = written["conf"]
    inner = proxy.config([proxy.Upstream(9101), proxy.Upstream(9102)], address="::", port=8501, prefix=tmp_path)
    assert "map $cookie_sslx_replica $sslx_group" in outer and '"sslx_replica=w2; Path=/' in outer
    assert "sslx_worker" not in outer
    assert "map $cookie_sslx_worker $sslx_group" in inner and "sslx_replica" not in inner
    assert nginx_accepts(outer, tmp_path).returncode == 0


def test_a_down_worker_leaves_every_group_but_its_own():
    conf = proxy.config(
        [proxy.Upstream(9101), proxy.Upstream(9102, down=True)], address="0.0.0.0", port=8501, prefix=Path("/tmp/x")
    )
    g = groups(conf)
    assert "server 127.0.0.1:9102 down;" in g["sslx_fresh"]
    assert g["sslx_w0"] == ["server 127.0.0.1:9101 max_fails=2 fail_timeout=5s;"]
    assert g["sslx_w1"] == ["server 127.0.0.1:9102 down;", "server 127.0.0.1:9101 backup;"]


def test_every_path_nginx_writes_lies_under_the_prefix(tmp_path):
    conf = proxy.config([proxy.Upstream(9101)], address="127.0.0.1", port=8501, prefix=tmp_path)
    paths = re.findall(r"^\s*(?:pid|error_log|\w+_temp_path) (\S+?)[ ;]", conf, re.M)
    assert len(paths) == 7 and all(p.startswith(str(tmp_path.resolve())) for p in paths)
    with pytest.raises(ValueError):
        proxy.config([], address="127.0.0.1", port=8501, prefix=tmp_path)


def test_a_compose_service_name_becomes_one_worker_per_address(monkeypatch):
    import socket

    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *a, **k: [
            (None, None, None, "", ("10.0.0.3", 0)),
            (None, None, None, "", ("10.0.0.2", 0)),
            (None, None, None, "", ("10.0.0.3", 0)),
        ],
    )
    assert [u.address for u in proxy._parse_upstream("app:8501")] == ["10.0.0.2:8501", "10.0.0.3:8501"]
    with pytest.raises(proxy.ProxyError, match="HOST:PORT"):
        proxy._parse_upstream("app")


# --------------------------------------------------------------------------- serve.py's command line


def test_serve_splits_its_own_options_from_streamlits():
    assert serve.split_args(
        ["--server.port", "8600", "--workers", "3", "--server.address=0.0.0.0", "--theme.base", "dark"]
    ) == (3, True, "0.0.0.0", 8600, ["--theme.base", "dark"])
    # one worker: Streamlit gets its address and port back, as before
    assert serve.split_args(["--server.port", "8600", "--server.address", "127.0.0.1"]) == (
        1,
        False,
        "127.0.0.1",
        8600,
        ["--server.port", "8600", "--server.address", "127.0.0.1"],
    )
    assert serve.split_args(["--workers=1", "--proxy"])[:2] == (1, True)
    for bad, said in (
        (["--workers", "0"], "at least 1"),
        (["--workers", "two"], "at least 1"),
        (["--server.port", "99999"], "port number"),
    ):
        with pytest.raises(SystemExit, match=said):
            serve.split_args(bad)


# --------------------------------------------------------------------------- the supervisor


class FakeProc:
    def __init__(self):
        self.returncode = None
        self.pid = 4242
        self.signals = []

    def poll(self):
        return self.returncode

    def send_signal(self, sig):
        self.signals.append(sig)
        self.returncode = -sig

    def wait(self, timeout=None):
        return self.returncode

    def terminate(self):
        self.send_signal(15)

    def kill(self):
        self.send_signal(9)


class FakeNginx:
    def __init__(self):
        self.configs = []

    def alive(self):
        return True

    def reload(self, text):
        self.configs.append(text)


@pytest.fixture
def pool(tmp_path, monkeypatch):
    """A Workshop of 2 workers whose processes, health checks and nginx are fakes."""
    started = []

    def fake_start(self):
        self.proc = FakeProc()
        self.state = "starting"
        self.started_at = self.last_ok = 0.0
        started.append(self.index)

    monkeypatch.setattr(workers.Worker, "start", fake_start)
    answers = {}
    monkeypatch.setattr(workers, "health", lambda port, timeout=5.0: answers.get(port, True))
    p = workers.Workshop(2, port=9300, run_dir=tmp_path, hang_after_s=30)
    for w in p.workers:
        w.start()
        w.state = "up"
    p.nginx = FakeNginx()
    started.clear()
    p.answers, p.started = answers, started
    return p


def test_a_worker_that_exits_is_taken_out_restarted_and_put_back(pool):
    w0, w1 = pool.workers
    w0.proc.returncode = -9
    pool.check(now=10)
    assert pool.started == [0] and w0.state == "starting" and w0.restarts == 1
    assert f"server 127.0.0.1:{w0.port} down;" in pool.nginx.configs[-1]
    assert f"server 127.0.0.1:{w1.port} max_fails" in pool.nginx.configs[-1]
    pool.check(now=11)  # its health check answers: back in nginx
    assert w0.state == "up" and f"server 127.0.0.1:{w0.port} max_fails" in pool.nginx.configs[-1]
    assert "exited with code -9" in pool.events[0] and "is back" in pool.events[-1]
    assert (pool.run_dir / "workers.json").read_text().count('"up"') == 2


def test_a_slow_worker_is_left_alone_and_a_hung_one_restarted(pool):
    w0 = pool.workers[0]
    pool.answers[w0.port] = False
    hung = w0.proc
    pool.check(now=20)  # 20 s without an answer: busy, not dead
    assert w0.state == "up" and not pool.started and not pool.nginx.configs
    pool.check(now=31)
    assert hung.signals == [15] and w0.proc is not hung and pool.started == [0] and "has not answered" in pool.events[0]
    assert f"server 127.0.0.1:{w0.port} down;" in pool.nginx.configs[-1]


def test_a_worker_that_keeps_crashing_at_start_waits_longer_each_time(pool):
    w0 = pool.workers[0]
    w0.proc.returncode = 1
    pool.check(now=0)  # exited while up: restarted at once
    tries = []
    for now in range(1, 40):
        if w0.state == "starting":
            w0.proc.returncode = 1  # dies again while starting
        pool.check(now=float(now))
        if pool.started and (not tries or tries[-1] != len(pool.started)):
            tries.append(len(pool.started))
    gaps = [e for e in pool.events if "next try in" in e]
    assert [re.search(r"next try in (\d+)", e).group(1) for e in gaps[:4]] == ["1", "2", "4", "8"]


# --------------------------------------------------------------------------- the shared forward cache


class Model:
    """Stands in for a model: weakly referable, with parameters that may or may not train."""

    def __init__(self, trains=False):
        import torch

        self.p = torch.nn.Parameter(torch.zeros(1), requires_grad=trains)

    def parameters(self):
        return [self.p]


def test_sessions_asking_at_once_for_the_same_pass_share_one():
    cache, model, calls = ForwardCache(4), Model(), []
    gate = threading.Event()

    def compute():
        calls.append(1)
        gate.wait(5)
        return "logits"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(model, ("ids",), compute))) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(5)
    assert results == ["logits"] * 8 and len(calls) == 1 and cache.misses == 1 and cache.hits == 7


def test_a_failed_pass_is_not_remembered_and_the_oldest_entry_goes_first():
    cache, model = ForwardCache(2), Model()
    with pytest.raises(RuntimeError):
        cache.get(model, ("a",), lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert cache.get(model, ("a",), lambda: 1) == 1
    cache.get(model, ("b",), lambda: 2)
    cache.get(model, ("c",), lambda: 3)
    assert cache.get(model, ("a",), lambda: "again") == "again"
    assert is_frozen(Model()) and not is_frozen(Model(trains=True))


def test_benchmarks_can_turn_the_cache_off_and_clear_every_cache(monkeypatch):
    from explorer import clm
    from explorer.forward_cache import ForwardCache

    cache, model = ForwardCache(4), Model()
    cache.get(model, ("a",), lambda: 1)
    clm.clear_cache()  # every forward cache of the process, this one included
    assert cache.get(model, ("a",), lambda: 2) == 2
    monkeypatch.setenv("SSL_EXPLORER_FORWARD_CACHE", "0")
    assert cache.get(model, ("a",), lambda: 3) == 3 and cache.misses == 2  # computed, not looked up


def test_fill_mask_computes_a_repeated_blank_once_and_a_model_in_training_every_time(tiny_mlm_dir):
    import explorer
    from explorer import mlm
    from explorer.mlm.predictions import prediction_passes

    tiny_mlm_lm = explorer.load("mlm", str(tiny_mlm_dir))
    enc = mlm.encode_text(tiny_mlm_lm, "the cat sat on the mat")
    before = prediction_passes()
    first = mlm.fill_mask(tiny_mlm_lm, enc, [2], k=5)
    again = mlm.fill_mask(tiny_mlm_lm, enc, [2], k=5)
    assert prediction_passes() == before + 1 and first.predictions == again.predictions
    mlm.fill_mask(tiny_mlm_lm, enc, [3], k=5)
    assert prediction_passes() == before + 2
    tiny_mlm_lm.model.requires_grad_(True)
    try:
        mlm.fill_mask(tiny_mlm_lm, enc, [2], k=5)
        assert prediction_passes() == before + 2  # computed, not looked up nor stored
    finally:
        tiny_mlm_lm.model.requires_grad_(False)


# --------------------------------------------------------------------------- weights shared between workers


def file_backed_share(model) -> float:
    """The share of a model's parameter bytes that lie in file mappings of its safetensors files: pages
    the operating system shares between every worker that maps the same file (buffers such as rotary
    frequencies are computed at load, not read)."""
    maps = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[5].endswith(".safetensors"):
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                maps.append((lo, hi))
    total = shared = 0
    for t in model.parameters():
        size = t.numel() * t.element_size()
        total += size
        shared += size if any(lo <= t.data_ptr() < hi for lo, hi in maps) else 0
    return shared / total


@pytest.mark.slow
def test_the_packaged_models_weights_are_mapped_from_their_files_not_copied(smollm2, minilm):
    import explorer

    assert file_backed_share(smollm2.model) == 1.0
    assert file_backed_share(minilm.model) == 1.0
    mlm = explorer.load("mlm")  # the causal LM's own tensors, plus its LoRA updates
    assert file_backed_share(mlm.model) > 0.95


@needs_nginx
def test_the_proxy_alone_fronts_workers_elsewhere_as_the_compose_file_runs_it(tmp_path):
    """`python -m explorer.serving.proxy --upstream HOST:PORT` (the compose file's proxy service) in front
    of a plain HTTP server standing in for a replica: requests pass, the cookie names the replica."""
    import sys
    import urllib.request

    from tests.browser import free_port

    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "hello.txt").write_text("from the replica")
    up, front = free_port(), free_port()
    replica = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(up), "--bind", "127.0.0.1"],
        cwd=tmp_path / "www",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    nginx = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "explorer.serving.proxy",
            "--upstream",
            f"127.0.0.1:{up}",
            "--address",
            "127.0.0.1",
            "--port",
            str(front),
            "--prefix",
            str(tmp_path / "px"),
        ],
        cwd=Path(__file__).resolve().parents[3],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{front}/hello.txt", timeout=2) as r:
                    body, cookies = r.read(), r.headers.get_all("Set-Cookie")
                break
            except OSError:
                assert time.time() < deadline and nginx.poll() is None, nginx.stdout.read().decode()
                time.sleep(0.2)
        assert body == b"from the replica"
        assert cookies == ["sslx_replica=w0; Path=/; HttpOnly; SameSite=Lax"]  # the proxy's own cookie
    finally:
        for p in (nginx, replica):
            p.terminate()
            p.wait(10)
