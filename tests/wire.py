"""Raw HTTP/1.1 over real sockets: exact bytes on the wire, and real disconnects."""

from __future__ import annotations

import socket
import struct
import time


class RawResponse:
    """A response read off a socket: status line, headers, de-chunked body."""

    def __init__(self, head: bytes, body: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        self.body = body


def open_request(port: int, path: str, headers: dict[str, str] | None = None) -> socket.socket:
    """Connect and send a GET; the caller reads with ``read_head``/``read_lines``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n".encode())
    return sock


def fetch(port: int, path: str, headers: dict[str, str] | None = None) -> RawResponse:
    """A whole request with ``Connection: close``; the body is de-chunked."""
    return read_response(open_request(port, path, {"Connection": "close", **(headers or {})}))


def send_request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> RawResponse:
    """Any method with a body, ``Connection: close``; the whole response, de-chunked."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    fields = {"Host": "localhost", "Connection": "close", **(headers or {})}
    if body:
        fields["Content-Length"] = str(len(body))
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    sock.sendall(f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode() + body)
    return read_response(sock)


def read_response(sock: socket.socket) -> RawResponse:
    """Read until the server closes, then split and de-chunk the response."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    response = RawResponse(head, b"")
    chunked = response.headers.get("transfer-encoding") == "chunked"
    response.body = dechunk(rest) if chunked else rest
    return response


def dechunk(data: bytes) -> bytes:
    """Decode a complete chunked body, checking its framing."""
    return b"".join(chunks(data))


def chunks(data: bytes) -> list[bytes]:
    """The chunks of a complete chunked body, in order."""
    found = []
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return found
        assert data[size : size + 2] == b"\r\n", "bad chunk framing"
        found.append(data[:size])
        data = data[size + 2 :]


class StreamReader:
    """Reads the head, then the chunked body incrementally, line by line."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.body = b""
        head = self._until(b"\r\n\r\n")
        self.response = RawResponse(head, b"")

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed before {marker!r}")
            self.buffer += chunk
        found, _, self.buffer = self.buffer.partition(marker)
        return found

    def next_line(self) -> bytes:
        """The next complete JSON line of the body (chunk boundaries are irrelevant)."""
        while b"\n" not in self.body:
            self.body += self.next_chunk()
        line, _, self.body = self.body.partition(b"\n")
        return line + b"\n"

    def next_chunk(self) -> bytes:
        """The next chunk of the chunked body, as it was sent."""
        size = int(self._until(b"\r\n"), 16)
        if size == 0:
            raise EOFError("stream ended")
        while len(self.buffer) < size + 2:
            received = self.sock.recv(65536)
            if not received:
                raise EOFError("connection closed mid-chunk")
            self.buffer += received
        chunk = self.buffer[:size]
        self.buffer = self.buffer[size + 2 :]
        return chunk


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer sees a TCP reset, not a clean FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def timed(fn: object) -> float:
    """Seconds a zero-argument callable takes."""
    began = time.monotonic()
    fn()  # type: ignore[operator]
    return time.monotonic() - began
