"""Benchmark: send one issue to 1,000 recipients through a local aiosmtpd server.

Compares the real delivery path (one SMTP connection reused for the batch) with a baseline that opens a
new connection per message, both through send_digest with every delivery recorded in SQLite. Each mode
runs in its own child process so its peak RSS is its own; the server runs in this process.

    python tests/bench/bench_send.py [--recipients 1000] [--stories 12] [--tls]

Prints messages per second, peak RSS per mode, and the reuse/per-message ratio. Never gates CI.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]


class CountingHandler:
    """Accepts everything and keeps only counts: the server must not be what we measure."""

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        if session.ssl is None:  # the first EHLO of a connection (STARTTLS repeats it inside TLS)
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages += len(envelope.rcpt_tos)
        self.bytes += len(envelope.content)
        return "250 OK"


def child(mode: str, port: int, home: str, n: int, stories: int, tls_ca: str | None) -> None:
    os.environ["DIGEST_HOME"] = home
    if tls_ca:
        os.environ["SSL_CERT_FILE"] = tls_ca
    from helpers_smtp import make_config, make_draft, recipients

    from digest.core import mail, smtp
    from digest.core.paths import get_paths
    from digest.core.store import Store

    paths = get_paths().ensure()
    store = Store(paths.db_file)
    make_draft(store, stories)
    cfg = make_config(port, recipients(n), security="starttls" if tls_ca else "none")
    if mode == "per-message":
        original = smtp.Connection.send

        def send_then_close(self, *a, **k):  # type: ignore[no-untyped-def]
            try:
                return original(self, *a, **k)
            finally:
                self.close()

        smtp.Connection.send = send_then_close  # type: ignore[method-assign]
    t0 = time.perf_counter()
    report = mail.send_digest(store, cfg, paths, retry_delays=())
    seconds = time.perf_counter() - t0
    assert len(report.sent) == n and not report.failed, report.summary_line()[:300]
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"mode": mode, "seconds": seconds, "sent": len(report.sent), "peak_rss_mb": rss_kb / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipients", type=int, default=1000)
    ap.add_argument("--stories", type=int, default=12)
    ap.add_argument("--tls", action="store_true", help="STARTTLS with a throwaway CA (handshake per connection)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    ap.add_argument("--ca", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.port, a.home, a.recipients, a.stories, a.ca)
        return

    from helpers_smtp import smtp_server, tls_pair

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        server_ctx, ca = tls_pair(Path(tmp)) if a.tls else (None, None)
        for mode in ("reuse", "per-message"):
            handler = CountingHandler()
            with smtp_server(handler, starttls=server_ctx) as (ctl, _):  # type: ignore[arg-type]
                home = Path(tmp) / mode
                cmd = [sys.executable, __file__, "--child", mode, "--port", str(ctl.port), "--home", str(home),
                       "--recipients", str(a.recipients), "--stories", str(a.stories)]
                if ca:
                    cmd += ["--ca", str(ca)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if out.returncode:
                    sys.exit(f"{mode} failed:\n{out.stderr}")
                r = json.loads(out.stdout.strip().splitlines()[-1])
                r["connections"] = handler.connections
                r["avg_kb"] = handler.bytes / max(handler.messages, 1) / 1024
                results[mode] = r
    print(f"{a.recipients} recipients, {a.stories} stories, {'STARTTLS' if a.tls else 'plain SMTP'} on 127.0.0.1"
          f" (aiosmtpd), every delivery recorded in SQLite")
    print(f"{'mode':<12} {'seconds':>8} {'msg/s':>8} {'conns':>6} {'peak RSS':>9} {'msg KB':>7}")
    for mode, r in results.items():
        print(f"{mode:<12} {r['seconds']:>8.2f} {r['sent'] / r['seconds']:>8.0f} {r['connections']:>6} "
              f"{r['peak_rss_mb']:>7.1f}MB {r['avg_kb']:>7.1f}")
    ratio = results["per-message"]["seconds"] / results["reuse"]["seconds"]
    print(f"reused connection is {ratio:.2f}x the throughput of a connection per message")


if __name__ == "__main__":
    main()
