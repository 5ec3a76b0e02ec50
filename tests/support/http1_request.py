"""Reads one HTTP/1.1 request off an asyncio stream, for the scripted upstreams
(next_upstream.py, react_server_upstream.py). Test code: trusts skewgate to have
sent a well-formed request (skewgate's own checks are tested elsewhere)."""

import asyncio


async def read_request(reader):
    """(method, target, headers, body), or None when the peer closed between
    requests. Headers are lower-cased, first value wins; a chunked body is
    de-chunked (trailers dropped)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head[:-4].decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    body = b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    elif int(headers.get("content-length", "0")):
        body = await reader.readexactly(int(headers["content-length"]))
    return method, target, headers, body
