"""The gateway's status page in a real headless browser (Debian's chromium, driven by Playwright).

Usage: status_page_test.py CERVELLA_BINARY REDIS_URL OUTPUT_DIR

Starts the provider simulator, a worker and a gateway (an API key and an admin key) on the
Redis given, and nginx in front of the gateway with the deployment's own config
(compose/nginx/cervella.conf, its upstream pointed at this gateway), so the page is used as
users reach it. Then, in the browser: the page asks for a key, shows the figures once given
the user key, answers a chat message with its tier and metadata (and takes a thumbs-up on it), refuses a tier switch
without the admin key and with the user key as admin key, switches tier 2 off with the admin
key (checked through /api/status too), and shows a tier the pool turned off by itself with
its reason. Any script error or Content-Security-Policy violation on the page fails the test.
A screenshot is kept in OUTPUT_DIR/status-page.png. Exits non-zero with a message on any
failure, and stops everything it started.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect, sync_playwright

USER_KEY = "status-page-user-key"
ADMIN_KEY = "status-page-admin-key"
CHROMIUM = os.environ.get("CERVELLA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


from scriptlib import ScriptFailure as Failure, free_port, wait_http  # noqa: E402 (scripts/ is on sys.path)


def get_json(url, key):
    request = urllib.request.Request(url, headers={"authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def nginx_config(directory, listen_port, gateway_port):
    """The deployment's nginx server block, listening on a free loopback port and proxying to
    this gateway; run in the foreground as one process so that it needs no root."""
    server = open("compose/nginx/cervella.conf").read()
    server = re.sub(r"(?m)^resolver .*$", "", server)  # compose's DNS; the upstream here is an address
    server = re.sub(r"(?m)^\s*listen \[::\]:80;$", "", server)
    server = server.replace("listen 80;", f"listen 127.0.0.1:{listen_port};")
    server = server.replace("http://gateway:8080", f"http://127.0.0.1:{gateway_port}")
    if f"127.0.0.1:{gateway_port}" not in server:
        raise Failure("compose/nginx/cervella.conf no longer has 'set $gateway http://gateway:8080'; update this test")
    path = os.path.join(directory, "nginx.conf")
    with open(path, "w") as f:
        f.write(f"""daemon off;
master_process off;
pid {directory}/nginx.pid;
error_log {directory}/nginx-error.log warn;
events {{}}
http {{
    access_log off;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    {server}
}}
""")
    return path


def start_processes(binary, redis_url, work):
    sim_port, worker_port, gateway_port, nginx_port = free_port(), free_port(), free_port(), free_port()
    sim = f"http://127.0.0.1:{sim_port}"
    env = dict(os.environ, REDIS_URL=redis_url, QWEN3_ENDPOINT=sim, DEEPSEEK_ENDPOINT=sim, CLAUDE_ENDPOINT=sim,
               CLAUDE_API_KEY="sim-key", TIER_2_ENABLED="true", CERVELLA_API_KEYS=USER_KEY, CERVELLA_ADMIN_KEY=ADMIN_KEY,
               CERVELLA_KEY_PREFIX=f"statuspage{os.getpid()}")
    processes = []

    def start(name, arguments):
        log = open(os.path.join(work, f"{name}.log"), "w")
        processes.append((name, subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT, env=env)))

    start("sim", [binary, "sim", "--port", str(sim_port)])
    start("worker", [binary, "worker", "--metrics-port", str(worker_port)])
    start("gateway", [binary, "gateway", "--port", str(gateway_port)])
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    start("nginx", [nginx, "-e", os.path.join(work, "nginx-error.log"), "-p", work, "-c", nginx_config(work, nginx_port, gateway_port)])
    return processes, gateway_port, nginx_port


def stop_processes(processes):
    for _, process in processes:
        if process.poll() is None:
            process.terminate()
    for _, process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def check_page(base, output, redis_url, gateway_port):
    problems = []
    with sync_playwright() as playwright:
        # --no-sandbox: chromium's sandbox cannot start as root in a container (CI runs as root);
        # --disable-dev-shm-usage: a container's /dev/shm may be too small for its renderer.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(20_000)
            expect.set_options(timeout=20_000)
            page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
            page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
                    if message.type == "error" and "401" not in message.text and "403" not in message.text else None)

            print(f"status page: opening {base}/ in {CHROMIUM} (headless)")
            response = page.goto(base + "/")
            if response is None or response.status != 200:
                raise Failure(f"GET / answered {response.status if response else 'nothing'}")
            if "script-src 'sha256-" not in (response.headers.get("content-security-policy") or ""):
                raise Failure("GET / has no Content-Security-Policy with the script's hash")
            expect(page.locator("#connection")).to_have_text(re.compile("API key is needed"))

            # The user key: the figures appear.
            page.fill("#api-key", USER_KEY)
            page.click("#save-api-key")
            expect(page.locator("#connection")).to_have_attribute("data-state", "ok")
            expect(page.locator("#workers-alive")).to_have_text("1")
            expect(page.locator("#tier-1-model")).to_have_text("qwen3-4b")
            expect(page.locator("#tier-2-state")).to_have_text("on")
            expect(page.locator("#queue-rows tr[data-queue=tier1_bulk]")).to_have_count(1)
            print("status page: figures shown with the user key")

            # A chat message: the answer and its tier appear; markup in it stays text.
            page.fill("#chat-message", "Summarize: the status page <b id=injected>works</b>.")
            page.click("#chat-send")
            answer = page.locator("#chat-log li.answer").first
            expect(answer.locator(".answer-text")).not_to_be_empty(timeout=60_000)
            expect(answer.locator("[data-field=tier]")).to_have_text("1")
            expect(answer.locator("[data-field=model]")).to_have_text("qwen3-4b")
            expect(answer.locator("[data-field=fallback]")).to_have_text("no")
            for name in ("confidence", "latency", "cost"):
                expect(answer.locator(f"[data-field={name}]")).not_to_have_text("\u2013")
            if page.locator("#injected").count() != 0:
                raise Failure("markup in a chat message became part of the page")
            expect(page.locator("#requests-total")).not_to_have_text(re.compile(r"^(0|\u2013)$"))
            expect(page.locator("#tier-1-p50")).to_have_text(re.compile(r"ms$"))
            print(f"status page: chat answered by tier {answer.locator('[data-field=tier]').text_content()}, "
                  f"{page.locator('#requests-total').text_content()} request(s) counted")

            # Thumbs up on the answer: recorded once, then both buttons are spent.
            answer.locator(".feedback button[data-rating=up]").click()
            expect(answer.locator(".feedback-state")).to_have_text("Thanks: rated good.")
            expect(answer.locator(".feedback button[data-rating=down]")).to_be_disabled()
            print("status page: the answer was rated with the thumbs-up button")

            # Tier switches: refused without the admin key, and with the user key as admin key.
            page.click("#toggle-tier-2")
            expect(page.locator("#switch-message")).to_have_text(re.compile("admin key is needed"))
            page.fill("#admin-key", USER_KEY)
            page.click("#save-admin-key")
            page.click("#toggle-tier-2")
            expect(page.locator("#switch-message")).to_have_text(re.compile("Admin key refused"))
            expect(page.locator("#tier-2-state")).to_have_text("on")
            print("status page: tier switch refused without the admin key")

            # With the admin key, tier 2 goes off, on the page and in /api/status.
            page.fill("#admin-key", ADMIN_KEY)
            page.click("#save-admin-key")
            page.click("#toggle-tier-2")
            expect(page.locator("#switch-message")).to_have_text("Tier 2 turned off.")
            expect(page.locator("#tier-2-state")).to_have_text("off (turned off by an operator)")
            expect(page.locator("#toggle-tier-2")).to_have_text("Turn on")
            tier2 = get_json(f"http://127.0.0.1:{gateway_port}/api/status", USER_KEY)["tiers"]["2"]
            if tier2["enabled"] is not False or tier2["switched_off_by"] != "operator":
                raise Failure(f"/api/status after the switch: tier 2 is {tier2}")
            print("status page: tier 2 switched off with the admin key (and /api/status agrees)")

            # A tier the pool turned off by itself shows its reason.
            turn_off_automatically(redis_url, tier=1, reason="every tier1 endpoint down for 61 s")
            expect(page.locator("#tier-1-state")).to_have_text("off: turned off automatically: every tier1 endpoint down for 61 s")
            print("status page: an automatic switch shows its reason")

            os.makedirs(output, exist_ok=True)
            screenshot = os.path.abspath(os.path.join(output, "status-page.png"))
            page.screenshot(path=screenshot, full_page=True)
            print(f"status page: screenshot {screenshot}")
        except (PlaywrightError, AssertionError) as error:
            try:
                os.makedirs(output, exist_ok=True)
                page.screenshot(path=os.path.join(output, "status-page-failure.png"), full_page=True)
            except Exception:
                pass
            raise Failure(f"{str(error).strip()}\n(page at the failure: {os.path.join(output, 'status-page-failure.png')})") from None
        finally:
            browser.close()
    if problems:
        raise Failure("the page reported problems:\n  " + "\n  ".join(problems))


def turn_off_automatically(redis_url, tier, reason):
    """What TierGuard writes when every endpoint of a tier is down (Sources/ControlPlane/TierGuard.swift)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    prefix = f"statuspage{os.getpid()}"
    client.hset(f"{prefix}:config", mapping={f"tier{tier}_enabled": "false", "updated_by": "auto"})
    client.hset(f"{prefix}:auto_switch", mapping={f"tier{tier}": json.dumps({"reason": reason, "at": time.time()}),
                                                  f"tier{tier}_previous": "", f"tier{tier}_down_since": str(time.time() - 61)})
    # The tier was down until now: the pool counts its 120 s up from the next look, as it would.
    client.hdel(f"{prefix}:auto_switch", f"tier{tier}_up_since")
    client.publish(f"{prefix}:config", f"tier{tier}_enabled=false")


def main():
    binary, redis_url, output = sys.argv[1], sys.argv[2], sys.argv[3]
    started = time.time()
    work = tempfile.mkdtemp(prefix="cervella-status-page.")
    processes = []
    failure = None
    try:
        processes, gateway_port, nginx_port = start_processes(binary, redis_url, work)
        wait_http(f"http://127.0.0.1:{gateway_port}/healthz")
        wait_http(f"http://127.0.0.1:{nginx_port}/healthz")
        check_page(f"http://127.0.0.1:{nginx_port}", output, redis_url, gateway_port)
    except Failure as error:
        failure = str(error)
    except Exception as error:  # anything unexpected fails the test too, with everything stopped
        failure = f"{type(error).__name__}: {error}"
    finally:
        exited = [f"{name} exited with {process.returncode}" for name, process in processes if process.poll() is not None]
        stop_processes(processes)
    if failure:
        for line in exited:
            print(f"status page: {line}", file=sys.stderr)
        print(f"status page test FAILED: {failure}\n(process logs in {work})", file=sys.stderr)
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)
    print(f"status page test passed in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
