"""Inside a sandbox: the model gateway's Unix socket as plain HTTP on loopback.

Agents written for the field (anything on the `openai` SDK, litellm,
mini-swe-agent) expect an `http://` base URL, not HTTP over a Unix socket.
This script is started by the sandbox itself (`sandbox.loopback`), as the
keeper's user, so the agent can neither kill nor replace it; it listens on
the sandbox's own loopback (the container has no other network) and
copies bytes both ways to the one socket the sandbox mounts. It reads
nothing it forwards: the caller's `Authorization` header (the evaluation's
token) reaches the gateway unchanged, which refuses a wrong one with 401.
Streamed answers pass through as they come.

Standard library only, run as `python3 -I -S -c SOURCE HOST PORT SOCKET`:
it binds first, then forks; the parent reports the bind and exits (the
sandbox waits for that), the child serves until the container ends.
"""

import asyncio
import json
import os
import socket
import sys

MAX_CLIENTS = 32  # the gateway bounds connections per process: leave it room to say no itself
CHUNK = 65536


def _unreachable(detail):
    body = json.dumps({"error": {"message": "the loopback relay could not reach the model gateway's socket: "
                                            + detail, "type": "api_error", "code": "gateway_unreachable",
                                 "param": None}}).encode()
    head = ("HTTP/1.1 502 Bad Gateway\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode() + body


async def _pipe(reader, writer):
    """Copy until end of file, then pass the half-close on (HTTP clients may close their side first)."""
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()


async def _serve(listener, target):
    slots = asyncio.Semaphore(MAX_CLIENTS)

    async def handle(client_reader, client_writer):
        async with slots:
            try:
                upstream_reader, upstream_writer = await asyncio.open_unix_connection(target)
            except OSError as exc:
                client_writer.write(_unreachable(exc.strerror or str(exc)))
                await client_writer.drain()
                client_writer.close()
                return
            await asyncio.gather(_pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer))
            upstream_writer.close()
            client_writer.close()

    server = await asyncio.start_server(handle, sock=listener)
    async with server:
        await server.serve_forever()


def main():
    host, port, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(128)
    except OSError as exc:
        print(f"cannot listen on {host}:{port}: {exc}", flush=True)
        sys.exit(1)
    if os.fork():
        print(f"listening on {host}:{port}", flush=True)
        os._exit(0)
    os.setsid()
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the exec that started this ends only once nothing holds its output
        os.dup2(quiet, fd)
    asyncio.run(_serve(listener, target))


if __name__ == "__main__":
    main()
