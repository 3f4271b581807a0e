"""Serving the API with several processes.

uvicorn's own `--workers` shares one listening socket: keep-alive clients that connect at once
all land on whichever process accepts first, leaving the others idle. Here every worker binds its
own socket with SO_REUSEPORT and the kernel spreads connections across them.

`python -m api.serve --workers N` (the bench uses it; `hibachi run` with WEB_WORKERS > 1 too).
Workers wire the app from the environment (`api.main.create_app_from_settings`).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import signal
import socket
import sys
from types import FrameType

APP = "api.main:create_app_from_settings"


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _worker(host: str, port: int, log_level: str, access_log: bool) -> None:
    import uvicorn

    config = uvicorn.Config(APP, factory=True, log_level=log_level, access_log=access_log)
    uvicorn.Server(config).run(sockets=[_listen(host, port)])


def serve(host: str, port: int, workers: int, *, log_level: str = "info", access_log: bool = True) -> None:
    """Run `workers` API processes until interrupted or terminated; stops them all on the way out."""
    context = mp.get_context("spawn")
    processes = [
        context.Process(target=_worker, args=(host, port, log_level, access_log), name=f"api-{i}")
        for i in range(workers)
    ]
    for process in processes:
        process.start()

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the API with several SO_REUSEPORT worker processes.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--no-access-log", action="store_true")
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.workers, log_level=args.log_level, access_log=not args.no_access_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
