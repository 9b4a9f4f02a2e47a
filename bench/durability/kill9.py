#!/usr/bin/env python3
"""Request-log loss on kill -9: concurrent chat requests through `modelgate serve` to a stub upstream, SIGKILL mid-load,
then the client-confirmed successes (their x-modelgate-request-id) compared with the rows in the SQLite file.

Each run starts the built binary on a fresh data directory, so the figures are independent. Needs only Python 3 and a
built ModelGate (`dotnet build`); run from the repository root:

    python3 bench/durability/kill9.py                       # 10 kills, 16 connections, 3 s of load each
    python3 bench/durability/kill9.py --runs 20 --connections 32 --server-arg=--Gateway:RequestLogFlushInterval=00:00:00.5

--server-arg passes configuration to `modelgate serve` (repeatable); the loopback egress allowance for the stub upstream is always passed.
"""
import argparse, glob, http.client, http.server, json, os, re, signal, sqlite3, subprocess, sys, tempfile, threading, time, urllib.request

ANSWER = json.dumps({"id": "chatcmpl-stub", "object": "chat.completion", "model": "stub",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}).encode()


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, *args):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the gateway's connections are reset at every kill


def find_binary():
    candidates = sorted(glob.glob("src/ModelGate/bin/*/net10.0/modelgate.dll") + glob.glob("tests/ModelGate.Tests/bin/*/net10.0/modelgate.dll"),
                        key=os.path.getmtime, reverse=True)
    if not candidates:
        sys.exit("no modelgate.dll: run `dotnet build` first, or pass --binary")
    return candidates[0]


def start_server(binary, data, extra):
    process = subprocess.Popen(["dotnet", binary, "serve", "--data", data, "--urls", "http://127.0.0.1:0", *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    key = url = None
    for line in process.stdout:
        if m := re.match(r"^admin key: (mg_\S+)$", line.strip()):
            key = m.group(1)
        if m := re.search(r"ModelGate listening on (http://[^\s,]+)", line):
            url = m.group(1).rstrip("/")
            break
    if url is None or key is None:
        process.kill()
        sys.exit("modelgate serve did not start")
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # keep its pipe drained
    return process, url, key


def call(url, key, method, path, body=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url + path, data=data, method=method, headers={
        "authorization": f"Bearer {key}", "content-type": "application/octet-stream" if raw is not None else "application/json"})
    with urllib.request.urlopen(request) as response:
        return response.read()


def set_up(url, key, upstream):
    import hashlib
    call(url, key, "POST", "/api/v1/models", {"name": "durable", "owner": "bench", "riskTier": "low", "task": "llm-chat"})
    config = b'{"serving":"durability bench"}'
    sha = hashlib.sha256(config).hexdigest()
    call(url, key, "PUT", f"/api/v1/artifacts/{sha}", raw=config)
    call(url, key, "POST", "/api/v1/models/durable/versions", {"version": "1.0.0", "artifacts": [{"sha256": sha, "fileName": "serving.json"}],
                                                                 "attestation": {"architecture": "upstream", "trainer": "bench"}})
    call(url, key, "POST", "/api/v1/deployments", {"name": "durable", "environment": "development", "model": "durable", "routing": {
        "stable": "1.0.0", "backend": "upstream", "upstreams": {"1.0.0": {"url": upstream, "model": "stub"}}}})


def client(host, port, key, stop, confirmed):
    body = json.dumps({"model": "durable", "messages": [{"role": "user", "content": "hello"}]})
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    connection = http.client.HTTPConnection(host, port, timeout=10)
    while not stop.is_set():
        try:
            connection.request("POST", "/v1/chat/completions", body, headers)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                confirmed.append((response.getheader("x-modelgate-request-id"), time.monotonic()))
        except (OSError, http.client.HTTPException):
            return  # the server is gone


def run_once(binary, extra, connections, duration, upstream):
    data = tempfile.mkdtemp(prefix="modelgate-kill9-")
    process, url, key = start_server(binary, data, extra)
    set_up(url, key, upstream)
    host, port = url.removeprefix("http://").split(":")
    stop, confirmed = threading.Event(), []
    threads = [threading.Thread(target=client, args=(host, int(port), key, stop, confirmed)) for _ in range(connections)]
    for t in threads:
        t.start()
    time.sleep(duration)
    killed = time.monotonic()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    stop.set()
    for t in threads:
        t.join()
    with sqlite3.connect(os.path.join(data, "modelgate.db")) as db:
        stored = {row[0] for row in db.execute("SELECT RequestId FROM request_logs")}
    lost = [at for request_id, at in confirmed if request_id not in stored]
    subprocess.run(["rm", "-rf", data])
    # How long before the kill the oldest lost record was confirmed to its client: the window the kill erased.
    oldest = max((killed - at for at in lost), default=0.0)
    return len(confirmed), len(lost), oldest


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of load before the kill")
    parser.add_argument("--flush-interval-ms", type=float, default=200, help="the server's Gateway:RequestLogFlushInterval, for the bound column")
    parser.add_argument("--binary", default=None)
    parser.add_argument("--server-arg", action="append", default=[])
    args = parser.parse_args()
    binary = args.binary or find_binary()
    stub = QuietServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    upstream = f"http://127.0.0.1:{stub.server_address[1]}/v1"

    print(f"binary {binary}; {args.runs} kills; {args.connections} connections; {args.duration} s of load each; "
          f"flush interval {args.flush_interval_ms:g} ms; server args {args.server_arg or 'none'}\n")
    print("| run | confirmed | rate (req/s) | lost | one flush interval at that rate | oldest lost, ms before the kill |")
    print("|---:|---:|---:|---:|---:|---:|")
    total_confirmed = total_lost = worst = 0
    worst_ratio = worst_age = 0.0
    for run in range(1, args.runs + 1):
        # The stub upstream is on loopback, which the egress policy refuses unless allowed.
        confirmed, lost, oldest = run_once(binary, ["--Security:AllowedEgress:0=127.0.0.0/8", *args.server_arg], args.connections,
                                           args.duration, upstream)
        rate = confirmed / args.duration
        interval = rate * args.flush_interval_ms / 1000
        print(f"| {run} | {confirmed} | {rate:.0f} | {lost} | {interval:.0f} | {oldest * 1000:.0f} |", flush=True)
        worst_age = max(worst_age, oldest)
        total_confirmed += confirmed
        total_lost += lost
        worst = max(worst, lost)
        worst_ratio = max(worst_ratio, lost / interval if interval else 0)
    print(f"\n{args.runs} kills: {total_lost} of {total_confirmed} confirmed requests lost from the request log "
          f"({100 * total_lost / max(total_confirmed, 1):.2f} %), at most {worst} per kill, "
          f"at most {worst_ratio:.2f} flush intervals' worth at the run's mean rate; "
          f"no lost record was confirmed more than {worst_age * 1000:.0f} ms before its kill")


if __name__ == "__main__":
    main()
