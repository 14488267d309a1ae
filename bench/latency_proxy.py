#!/usr/bin/python3
"""A TCP proxy that delays each direction by a fixed time (pgdeploy benchmark).

    latency_proxy.py --delay-ms 25 --map 127.0.5.1:22=127.0.1.1:22 [--map ...]

Each --map LISTEN=TARGET listens on LISTEN and forwards every connection to
TARGET. Every chunk read from one side is written to the other side `delay`
after it was read, in order (a FIFO per direction), so a request/response
exchange costs 2 x delay: one round trip of a link whose RTT is 2 x delay.
Bandwidth is not limited. The TCP handshake itself is not delayed (the kernel
completes it before the proxy sees the connection), so a real link would add
one more round trip per connection, for OpenSSH and the agent alike.

Prints "ready" on stdout once every listener is up; runs until SIGTERM/SIGINT.
Loopback only: LISTEN and TARGET must be 127.0.0.0/8 addresses.
"""

import argparse
import asyncio
import ipaddress
import signal
import socket
import sys


def loopback(hostport):
    host, _, port = hostport.rpartition(':')
    if not ipaddress.ip_address(host) in ipaddress.ip_network('127.0.0.0/8'):
        raise argparse.ArgumentTypeError(f'{host} is not a loopback address')
    return host, int(port)


def nodelay(writer):
    sock = writer.get_extra_info('socket')
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def forward(reader, writer, delay):
    """Copy reader -> writer, each chunk `delay` seconds after it was read."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def pump():
        try:
            while True:
                data = await reader.read(65536)
                queue.put_nowait((loop.time() + delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            queue.put_nowait((loop.time() + delay, b''))

    async def deliver():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    pumping = asyncio.ensure_future(pump())
    try:
        await deliver()
    except (ConnectionError, OSError):
        pass
    finally:
        pumping.cancel()


async def handle(client_reader, client_writer, target, delay):
    try:
        server_reader, server_writer = await asyncio.open_connection(*target)
    except OSError:
        client_writer.close()
        return
    nodelay(client_writer)
    nodelay(server_writer)
    try:
        await asyncio.gather(forward(client_reader, server_writer, delay),
                             forward(server_reader, client_writer, delay))
    finally:
        for w in (client_writer, server_writer):
            w.close()


async def main_async(args):
    delay = args.delay_ms / 1000.0
    servers = []
    for listen, target in args.map:
        servers.append(await asyncio.start_server(
            lambda r, w, t=target: handle(r, w, t, delay), *listen, reuse_address=True, backlog=512))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print('ready', flush=True)
    await stop.wait()
    for s in servers:
        s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--delay-ms', type=float, required=True, help='delay each direction by this')
    p.add_argument('--map', action='append', required=True, metavar='LISTEN=TARGET',
                   type=lambda s: tuple(loopback(x) for x in s.split('=', 1)))
    args = p.parse_args()
    asyncio.run(main_async(args))
    return 0


if __name__ == '__main__':
    sys.exit(main())
