"""The Python example app: the Gantry app contract over plain HTTP, standard library only.

POST / with {"name": "Ada"} answers {"message": "Hello, Ada!"}; an optional "delay_ms" (0-600000)
waits first. GET /health answers 503 while setup() runs and 200 once it is done. Lines printed for a
request start with "[gantry:req=<id>] " so Gantry files them under that request's logs.

Run alone:   PORT=3000 python3 examples/python/app.py
Under Gantry: the command ["python3", "examples/python/app.py"]; the runner sets PORT.
"""

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_DELAY_MS = 600_000

ready = threading.Event()
greeting = {"template": None}


def setup() -> None:
    """Loads the "model" (here, a template); health turns 200 once this returns."""
    print("loading model…", flush=True)
    time.sleep(0.2)  # stands in for loading weights
    greeting["template"] = "Hello, {name}!"
    print("model ready", flush=True)
    ready.set()


def log(request_id: str, message: str) -> None:
    """Prints a line attributed to a request (the app log prefix of the contract)."""
    for line in message.split("\n"):
        print(f"[gantry:req={request_id}] {line}", flush=True)


def hello(payload: object, request_id: str) -> tuple[int, dict]:
    if not isinstance(payload, dict):
        return 422, {"detail": 'input must be a JSON object like {"name": "Ada"}'}
    name = payload.get("name")
    if not isinstance(name, str) or not name.strip():
        return 422, {"detail": "name is required and must be a non-empty string"}
    delay = payload.get("delay_ms", 0)
    if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= MAX_DELAY_MS:
        return 422, {"detail": f"delay_ms must be a whole number from 0 to {MAX_DELAY_MS}"}
    log(request_id, f"greeting {name}")
    if delay:
        time.sleep(delay / 1000)
    return 200, {"message": greeting["template"].format(name=name)}


ENDPOINTS = {"/": hello}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/health":
            if ready.is_set():
                self.answer(200, {"status": "READY"})
            else:
                self.answer(503, {"status": "SETUP"})
            return
        self.answer(404, {"detail": f"no endpoint GET {self.path}"})

    def do_POST(self) -> None:
        request_id = self.headers.get("x-fal-request-id", "")
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not ready.is_set():
            # 503 is retried by Gantry: the request waits for a runner that is ready.
            self.answer(503, {"detail": "the app is still loading"}, request_id)
            return
        endpoint = ENDPOINTS.get(self.path.split("?")[0])
        if endpoint is None:
            self.answer(404, {"detail": f"no endpoint POST {self.path}"}, request_id)
            return
        try:
            payload = json.loads(raw or b"null")
        except json.JSONDecodeError as err:
            self.answer(422, {"detail": f"the body is not JSON: {err}"}, request_id)
            return
        try:
            status, body = endpoint(payload, request_id)
        except Exception as err:  # an unexpected failure is a 500 the caller sees, not a dead server
            log(request_id, f"failed: {err!r}")
            status, body = 500, {"detail": str(err)}
        self.answer(status, body, request_id)

    def answer(self, status: int, body: dict, request_id: str = "") -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        if request_id:
            self.send_header("x-fal-request-id", request_id)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would drown the request logs


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    host = os.environ.get("HOST", "127.0.0.1")
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    # Health answers (503) from the first moment; setup runs beside the server.
    threading.Thread(target=setup, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"listening on {host}:{port}", flush=True)
    server.serve_forever()
    print("stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
