"""``python -m emulator --host 127.0.0.1 --port 8089``: run the emulator until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading

from emulator.server import start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    running = start(args.host, args.port)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(f"emulator ready on {running.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
