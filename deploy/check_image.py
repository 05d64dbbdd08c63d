"""`make image-check`: the image run for real with podman, the way deploy/compose.yaml runs it, and a real
browser session through its proxy.

1. A network of its own, two `app` replicas on it (the compose file's environment, CPU and memory limits
   and health check; both answer to the name `app`), each waited for until its health check passes; then
   the `proxy` service (the compose file's command: nginx with sticky sessions in front of `app:8501`)
   published on a port of 127.0.0.1.
2. Chromium (Debian's, through Playwright) opens the app through the proxy, opens the Masked LM page from
   the menu and waits for its prediction chart to be drawn.
3. The session stuck to one replica: every HTTP response and the websocket handshake carry the proxy's
   `X-Upstream` header, which names the replica that served them, and all name the same one; the
   browser's `sslx_replica` cookie is the proxy's name for that replica (read from the proxy's generated
   nginx.conf) and its `sslx_worker` cookie one of that replica's own workers (the two levels keep a cookie
   each); in the replicas' own connection tables, only that replica has connections from the proxy.
   A second browser (no cookie) is then sent to the other replica (least connections), so both serve.
4. The containers and the network are removed (`--keep` leaves them running).

Prints the figures and PASS or FAIL, writes them to build/image/check.json; exit status 0 on PASS.
Usage: python deploy/check_image.py [--image ssl-explorer:latest] [--replicas 2] [--port 0]
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browser import ARGS, CHARTS, CHROMIUM, free_port, wait_idle  # noqa: E402

COMPOSE = ROOT / "deploy" / "compose.yaml"
OUT = ROOT / "build" / "image" / "check.json"
PROJECT = "ssl-explorer-check"  # not the compose project's own name: a deployment on this host is left alone
NETWORK = f"{PROJECT}_default"
PAGE = "Masked LM (cloze)"
COOKIE = "sslx_replica"  # the proxy's (explorer.serving.proxy.REPLICA_COOKIE)
WORKER_COOKIE = "sslx_worker"  # each replica's own nginx (explorer.serving.proxy.COOKIE)
ENV = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(ROOT / "deploy" / "containers.conf"))}


class CheckFailed(RuntimeError):
    pass


def podman(*args: str, check: bool = True, timeout: float = 120) -> str:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, env=ENV, timeout=timeout)
    if check and done.returncode != 0:
        raise CheckFailed(f"podman {shlex.join(args)}: {(done.stderr or done.stdout).strip()[-600:]}")
    return done.stdout.strip()


def health_flags(check: dict) -> list[str]:
    test = check["test"]
    cmd = json.dumps(test[1:]) if test[0] == "CMD" else test[1]
    flags = ["--health-cmd", cmd]
    for key, flag in (("interval", "interval"), ("timeout", "timeout"), ("retries", "retries")):
        if key in check:
            flags += [f"--health-{flag}", str(check[key])]
    if "start_period" in check:
        flags += ["--health-start-period", str(check["start_period"])]
    return flags


def service_flags(service: dict) -> list[str]:
    """podman run flags for what a compose service sets: environment, restart policy, limits, health check."""
    flags = ["--network", NETWORK]
    for key, value in (service.get("environment") or {}).items():
        flags += ["-e", f"{key}={value}"]
    if service.get("restart"):
        flags += ["--restart", service["restart"]]
    limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    if "cpus" in limits:
        flags += ["--cpus", str(limits["cpus"])]
    if "memory" in limits:
        flags += ["--memory", str(limits["memory"])]
    if service.get("healthcheck"):
        flags += health_flags(service["healthcheck"])
    return flags


def remove_all(names: list[str]) -> None:
    for name in names:
        podman("rm", "-f", "-t", "10", name, check=False, timeout=60)
    podman("network", "rm", "-f", NETWORK, check=False)


def wait_healthy(name: str, timeout: float) -> float:
    """Seconds until `podman healthcheck run` (the container's own health check) passes."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        state = podman("inspect", "--format", "{{.State.Status}}", name, check=False)
        if state not in ("running", "created", "configured"):
            raise CheckFailed(f"{name} is {state}: {podman('logs', '--tail', '20', name, check=False)}")
        if subprocess.run(["podman", "healthcheck", "run", name], capture_output=True, env=ENV).returncode == 0:
            return time.perf_counter() - start
        time.sleep(2)
    raise CheckFailed(
        f"{name} was not healthy after {timeout:.0f} s: {podman('logs', '--tail', '20', name, check=False)}"
    )


def wait_listening(port: int, timeout: float) -> float:
    """Seconds until the proxy accepts connections on 127.0.0.1:port. No HTTP request: any request through
    the proxy would open a connection to one of the replicas before the browser's first."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            return time.perf_counter() - start
        time.sleep(0.2)
    raise CheckFailed(f"the proxy did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def address_of(name: str) -> str:
    return podman("inspect", "--format", f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}', name)


def proxy_cookies(proxy: str) -> dict[str, str]:
    """{replica address "IP:PORT": cookie value} from the proxy's generated nginx.conf."""
    conf = podman("exec", proxy, "cat", "/tmp/ssl-explorer-proxy/nginx.conf")
    found = re.findall(r'"~\(\^\|, \)(\S+?)\$" "' + COOKIE + r"=(w\d+);", conf)
    return {address.replace("\\", ""): value for address, value in found}


def connections_from(replica: str, peer: str, port: int) -> int:
    """Established TCP connections to `port` in `replica` whose other end is `peer` (its /proc/net/tcp)."""
    table = podman("exec", replica, "cat", "/proc/net/tcp")
    count = 0
    for line in table.splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if state != "01" or int(local.split(":")[1], 16) != port:
            continue
        ip = str(ipaddress.IPv4Address(bytes(reversed(bytes.fromhex(remote.split(":")[0])))))
        count += ip == peer
    return count


def upstreams(values: list[str], replicas: set[str]) -> list[str]:
    """The replica addresses among X-Upstream values (the proxy's; a replica's own nginx adds its worker's)."""
    out = []
    for value in values:
        out += [a.strip() for a in value.replace("\n", ",").split(",") if a.strip() in replicas]
    return out


def workers_inside(values: list[str]) -> list[str]:
    """The worker inside a replica, from the X-Upstream header its own nginx adds (127.0.0.1:PORT)."""
    return [a.strip() for v in values for a in v.replace("\n", ",").split(",") if a.strip().startswith("127.0.0.1:")]


def x_upstream(response) -> list[str]:
    return [h["value"] for h in response.headers_array() if h["name"].lower() == "x-upstream"]


class Browser:
    """Debian's Chromium through Playwright; each session a context of its own (its own cookies)."""

    def __init__(self, timeout_s: float):
        from playwright.sync_api import sync_playwright

        self.timeout_ms = timeout_s * 1000
        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.browser.close()
        self.playwright.stop()

    def session(self, url: str, replicas: set[str]) -> dict:
        """The app, then the Masked LM page from the menu until its chart is drawn; the replica named by each
        response and by the websocket handshake, and the cookie. The page stays open (its websocket too)."""
        context = self.browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(self.timeout_ms)
        seen: dict[str, list] = {"http": [], "ws": [], "inner": [], "external": [], "unnamed": []}

        def on_response(response) -> None:
            if not response.url.startswith(url):  # blob: and data: URLs are the page's own
                return
            values = x_upstream(response)
            found = upstreams(values, replicas)
            seen["http"].append(found)
            seen["inner"].append(workers_inside(values))
            if not found:
                seen["unnamed"].append(f"{response.status} {response.url}")

        def on_request(request) -> None:
            if not request.url.startswith((url, url.replace("http:", "ws:"), "data:", "blob:", "about:")):
                seen["external"].append(request.url)

        page.on("response", on_response)
        page.on("request", on_request)
        cdp = context.new_cdp_session(page)  # the websocket handshake's response headers
        cdp.send("Network.enable")

        def on_handshake(event) -> None:
            values = [v for k, v in event["response"]["headers"].items() if k.lower() == "x-upstream"]
            seen["ws"].append(upstreams(values, replicas))
            seen["inner"].append(workers_inside(values))

        cdp.on("Network.webSocketHandshakeResponseReceived", on_handshake)
        t = time.perf_counter()
        page.goto(url)
        wait_idle(page, self.timeout_ms)
        opened = time.perf_counter() - t
        t = time.perf_counter()
        page.locator('[data-testid="stSidebarNav"]').get_by_text(PAGE, exact=True).click()
        page.locator(f":is({CHARTS}) .main-svg").first.wait_for()
        page.locator(f":is({CHARTS})").filter(has_text="capital").first.wait_for()
        drawn = time.perf_counter() - t
        wait_idle(page, self.timeout_ms)
        page.screenshot(path=str(OUT.parent / "check-masked-lm.png"), full_page=True)
        return {
            "seen": seen,
            "cookie": next((c["value"] for c in context.cookies() if c["name"] == COOKIE), None),
            "worker_cookie": next((c["value"] for c in context.cookies() if c["name"] == WORKER_COOKIE), None),
            "page_s": opened,
            "chart_s": drawn,
            "errors": page.locator('[data-testid="stException"]').count(),
        }

    def first_page(self, url: str, replicas: set[str]) -> list[str]:
        """Another browser session, no cookie yet: the replicas that served the app's first page."""
        context = self.browser.new_context()
        page = context.new_page()
        page.set_default_timeout(self.timeout_ms)
        found: list[str] = []
        page.on("response", lambda r: found.extend(upstreams(x_upstream(r), replicas)))
        page.goto(url)
        wait_idle(page, self.timeout_ms)
        context.close()
        return found


def image_size(image: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", image))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", default="ssl-explorer:latest")
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--port", type=int, default=0, help="the proxy's port on 127.0.0.1 (0: a free one)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds for each replica to become healthy")
    ap.add_argument("--keep", action="store_true", help="leave the containers running")
    args = ap.parse_args()

    compose = yaml.safe_load(COMPOSE.read_text())
    app, proxy = compose["services"]["app"], compose["services"]["proxy"]
    inner_port = int((app.get("environment") or {}).get("PORT", 8501))
    proxy_port = int(str(proxy["ports"][0]).rsplit(":", 1)[1])
    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}"
    names = [f"{PROJECT}_app_{i + 1}" for i in range(args.replicas)] + [f"{PROJECT}_proxy_1"]
    apps, proxy_name = names[:-1], names[-1]
    result: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "image": args.image, "replicas": args.replicas}
    checks: dict[str, bool] = {}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    browser = None
    started = time.perf_counter()
    remove_all(names)  # what an interrupted run left
    try:
        result["image_mb"] = round(image_size(args.image) / 1e6)
        podman("network", "create", NETWORK)
        t = time.perf_counter()
        for name in apps:
            podman("run", "-d", "--name", name, "--network-alias", "app", *service_flags(app), args.image)
        for name in apps:
            wait_healthy(name, args.timeout)
        result["replicas_healthy_s"] = round(time.perf_counter() - t, 1)
        replicas = {f"{address_of(name)}:{inner_port}": name for name in apps}
        podman(
            "run", "-d", "--name", proxy_name, *service_flags(proxy), "-p", f"127.0.0.1:{port}:{proxy_port}",
            args.image, *proxy["command"],
        )  # fmt: skip
        result["proxy_up_s"] = round(wait_listening(port, 60), 1)
        cookies = proxy_cookies(proxy_name)
        checks["the proxy lists every replica"] = set(cookies) == set(replicas)
        result["proxy_upstreams"] = {replicas.get(a, a): w for a, w in cookies.items()}
        proxy_ip = address_of(proxy_name)
        result["connections_before"] = {name: connections_from(name, proxy_ip, inner_port) for name in apps}

        browser = Browser(timeout_s=120)
        session = browser.session(url, set(replicas))
        seen = session["seen"]
        one = sorted({a for found in seen["http"] + seen["ws"] for a in found})
        result.update(
            app_open_s=round(session["page_s"], 1),
            masked_lm_chart_s=round(session["chart_s"], 1),
            http_responses=len(seen["http"]),
            websockets=len(seen["ws"]),
            session_replicas=[replicas[a] for a in one],
            cookie=session["cookie"],
            worker_cookie=session["worker_cookie"],
            # inside the replica: the first page may come from another of its workers than the session
            workers_inside=sorted({w for found in seen["inner"][1:] for w in found}),
            unnamed=seen["unnamed"][:5],
        )
        checks["the Masked LM chart is drawn, no error shown"] = session["errors"] == 0
        checks["every response names its replica"] = all(seen["http"]) and all(seen["ws"])
        checks["a websocket was opened"] = len(seen["ws"]) >= 1
        checks["all of the session's requests went to one replica"] = len(one) == 1
        checks["the cookie names that replica"] = len(one) == 1 and cookies.get(one[0]) == session["cookie"]
        workers = int(compose["services"]["app"].get("environment", {}).get("WORKERS", 2))
        checks["the replica's own cookie names one of its workers"] = session["worker_cookie"] in {
            f"w{i}" for i in range(workers)
        }
        checks["inside the replica, the session stayed on one worker (after the first page)"] = (
            len(result["workers_inside"]) == 1
        )
        checks["nothing was fetched from outside the app"] = not seen["external"]
        conns = {name: connections_from(name, proxy_ip, inner_port) for name in apps}
        result["connections_from_proxy"] = conns
        checks["only that replica has connections from the proxy"] = len(one) == 1 and all(
            (n > 0) == (name == replicas[one[0]]) for name, n in conns.items()
        )
        other = browser.first_page(url, set(replicas))
        result["second_browser_replicas"] = sorted({replicas[a] for a in other})
        checks["a second browser is served by another replica"] = bool(other) and set(other).isdisjoint(one)
    except (CheckFailed, subprocess.TimeoutExpired) as exc:
        checks["the containers ran"] = False
        result["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - a browser step that failed is the check's result
        checks["the browser session ran"] = False
        result["error"] = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"
    finally:
        if browser:
            browser.close()
        if not all(checks.values()):
            for name in names:
                tail = podman("logs", "--tail", "15", name, check=False)
                if tail:
                    print(f"--- {name} (last lines of its log)\n{tail}", file=sys.stderr)
        if args.keep:
            print(f"left running: {', '.join(names)}; the app at {url}")
        else:
            remove_all(names)

    passed = bool(checks) and all(checks.values())
    result["total_s"] = round(time.perf_counter() - started, 1)
    result["checks"] = checks
    result["result"] = "PASS" if passed else "FAIL"
    OUT.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(
        f"{result['date']}  image {args.image}: {result.get('image_mb', '?')} MB, {args.replicas} replicas;"
        f" the check took {result['total_s']} s (containers started and removed)"
    )
    for key in ("replicas_healthy_s", "proxy_up_s", "app_open_s", "masked_lm_chart_s"):
        if key in result:
            print(f"  {key.replace('_s', '').replace('_', ' ')}: {result[key]} s")
    for key in (
        "session_replicas",
        "cookie",
        "worker_cookie",
        "workers_inside",
        "connections_from_proxy",
        "second_browser_replicas",
        "unnamed",
        "error",
    ):
        if key in result:
            print(f"  {key.replace('_', ' ')}: {result[key]}")
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAILED'}] {name}")
    print(f"{result['result']} (figures in {OUT.relative_to(ROOT)})")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
