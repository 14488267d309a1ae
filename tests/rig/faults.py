"""Fault hosts for the pgdeploy rig: SSH addresses that misbehave for real.

* HangingHost: accepts TCP on addr:port and never sends a byte (an sshd that
  is stuck, or a firewall that proxies but never answers); with a greeting, it
  sends that (say an SSH banner) and then stalls, past any connect timeout.
* BlackholeHost: a listener whose accept queue is full and is never drained,
  so the kernel drops new SYNs and a connect() times out (a host that vanished
  without sending RST).
* A "down" host needs no helper: an address where nothing listens refuses.

Both live in the calling process (a thread or plain sockets), so they go away
with it; close() releases them earlier.
"""

import select
import socket
import threading


class HangingHost:
    """Accepts every connection on addr:port, reads nothing, says nothing but greeting."""

    def __init__(self, addr, port=22, greeting=b''):
        self.addr, self.port, self.greeting = addr, port, greeting
        self._listener = socket.create_server((addr, port), backlog=128)
        self._held = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name=f'hanging-{addr}')
        self._thread.start()

    def _accept_loop(self):
        while not self._closed.is_set():
            ready, _, _ = select.select([self._listener], [], [], 0.2)
            if ready and not self._closed.is_set():
                conn, _ = self._listener.accept()
                if self.greeting:
                    conn.sendall(self.greeting)
                self._held.append(conn)

    @property
    def accepted(self):
        """How many connections were accepted (and are being held)."""
        return len(self._held)

    def close(self):
        self._closed.set()
        self._thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self._listener.close()


class BlackholeHost:
    """A listener on addr:port whose accept queue is full: connects time out."""

    def __init__(self, addr, port=22):
        self.addr, self.port = addr, port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((addr, port))
        self._listener.listen(0)
        self._fillers = []
        self._fill_accept_queue()

    def _fill_accept_queue(self):
        # With backlog 0 Linux queues one connection; connect until one does
        # not complete, which proves the queue is full.
        for _ in range(16):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex((self.addr, self.port))
            _, writable, _ = select.select([], [client], [], 0.3)
            if writable and client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                self._fillers.append(client)
                continue
            client.close()
            return
        raise RuntimeError(f'could not fill the accept queue of {self.addr}:{self.port}')

    def close(self):
        for client in self._fillers:
            client.close()
        self._listener.close()
