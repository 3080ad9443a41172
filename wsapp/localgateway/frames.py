"""A WebSocket response that also enforces API Gateway's per-frame size limit.

aiohttp bounds whole messages (``max_msg_size``) but not single frames. API
Gateway accepts messages up to 128 KB split into frames of at most 32 KB and
closes the socket with 1009 on a bigger frame, so the raw byte stream from the
client is scanned for frame headers before aiohttp's own parser sees it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import WSCloseCode, web_ws
from aiohttp.http_websocket import WebSocketError

_DATA_OPCODES = frozenset({0x0, 0x1, 0x2})  # continuation, text, binary
_MAX_HEADER = 14  # 2 + 8 (64-bit length) + 4 (mask)


def _parse_header(head: bytes) -> tuple[int, int, int] | None:
    """(header length, opcode, payload length) of a frame header, or None if incomplete."""
    if len(head) < 2:
        return None
    opcode = head[0] & 0x0F
    masked = head[1] & 0x80
    length = head[1] & 0x7F
    size = 2
    if length == 126:
        size = 4
        if len(head) < size:
            return None
        length = int.from_bytes(head[2:4], "big")
    elif length == 127:
        size = 10
        if len(head) < size:
            return None
        length = int.from_bytes(head[2:10], "big")
    if masked:
        size += 4
    if len(head) < size:
        return None
    return size, opcode, length


class FrameSizeGuard:
    """Sits in front of aiohttp's WebSocket parser and rejects oversized data frames."""

    def __init__(self, parser: Any, queue: Any, max_frame_bytes: int) -> None:
        self._parser = parser
        self._queue = queue
        self._max = max_frame_bytes
        self._payload_left = 0
        self._partial_header = b""
        self._failed = False

    def feed_eof(self) -> None:
        self._parser.feed_eof()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._failed:
            return True, b""
        if self._oversized(bytes(data)):
            self._failed = True
            # What aiohttp's parser does on a protocol error: the reader raises it,
            # and WebSocketResponse.receive() closes the socket with its code.
            self._queue.set_exception(
                WebSocketError(
                    WSCloseCode.MESSAGE_TOO_BIG,
                    f"Frame exceeds the {self._max} byte limit",
                )
            )
            return True, b""
        return self._parser.feed_data(data)

    def _oversized(self, data: bytes) -> bool:
        position = 0
        end = len(data)
        while position < end:
            if self._payload_left:
                step = min(self._payload_left, end - position)
                self._payload_left -= step
                position += step
                continue
            stashed = len(self._partial_header)
            head = self._partial_header + data[position : position + _MAX_HEADER - stashed]
            parsed = _parse_header(head)
            if parsed is None:
                self._partial_header = head
                return False
            size, opcode, length = parsed
            self._partial_header = b""
            position += size - stashed
            if opcode in _DATA_OPCODES and length > self._max:
                return True
            self._payload_left = length
        return False


class GatewayWebSocketResponse(web_ws.WebSocketResponse):
    """``WebSocketResponse`` with a frame size limit on what the client sends."""

    def __init__(self, *, max_frame_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_frame_bytes = max_frame_bytes

    def _post_start(self, request: Any, protocol: Any, writer: Any) -> None:
        # Mirrors aiohttp's own _post_start (aiohttp is pinned), with the guard
        # installed before the parser is handed to the protocol so that no byte
        # reaches the parser unchecked.
        self._ws_protocol = protocol
        self._writer = writer
        self._reset_heartbeat()
        loop = self._loop
        assert loop is not None
        self._reader = web_ws.WebSocketDataQueue(
            request._protocol, web_ws.DEFAULT_CHUNK_SIZE, loop=loop
        )
        self._parser = web_ws.WebSocketReader(
            self._reader,
            self._max_msg_size,
            compress=bool(self._compress),
            decode_text=self._decode_text,
        )
        guard = FrameSizeGuard(self._parser, self._reader, self._max_frame_bytes)
        callback = None if self._heartbeat is None else self._on_data_received
        request.protocol.set_parser(guard, data_received_cb=callback)
        request.protocol.keep_alive(False)
