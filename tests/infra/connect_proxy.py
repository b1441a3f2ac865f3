#!/usr/bin/env python3
"""A minimal HTTP CONNECT proxy for tests of kubeconfig `proxy-url`: stdlib only.

    python connect_proxy.py LOGFILE

Listens on a free loopback port, prints "READY http://127.0.0.1:PORT", and for each
`CONNECT host:port` request appends "CONNECT host:port" to LOGFILE, answers 200 and relays bytes
both ways. Anything else gets 405. It connects only to loopback addresses.
"""
import asyncio
import sys


async def relay(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(reader, writer, log):
    head = await reader.readuntil(b"\r\n\r\n")
    method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
    host, _, port = target.rpartition(":")
    if method != "CONNECT" or host not in ("127.0.0.1", "localhost", "[::1]"):
        writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()
        return
    with open(log, "a") as f:
        f.write(f"CONNECT {target}\n")
    upstream_reader, upstream_writer = await asyncio.open_connection(host.strip("[]"), int(port))
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await writer.drain()
    await asyncio.gather(relay(reader, upstream_writer), relay(upstream_reader, writer))


async def main():
    log = sys.argv[1]
    server = await asyncio.start_server(lambda r, w: handle(r, w, log), "127.0.0.1", 0)
    print(f"READY http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
