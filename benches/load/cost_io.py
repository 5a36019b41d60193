#!/usr/bin/env python3
"""The two ends of benches/load/instructions.sh, outside the process under callgrind.

  cost_io.py upstream PORT               a keep-alive HTTP/1.1 upstream: a small JSON answer,
                                         and for /v1/cdoc/ a document with a field to strip
  cost_io.py client PORT N PATH STATUS [HEADER: VALUE]...
                                         N requests on one keep-alive connection (a new one
                                         when the server closes), each must answer STATUS
"""
import asyncio
import http.client
import sys

SMALL = b'{"id":42,"title":"quarterly report","status":"published"}'
DOC = (
    b'{"id":42,"title":"quarterly report","sections":[{"heading":"summary",'
    b'"raw_report_text":"internal draft notes","body":"revenue grew"}],"status":"published"}'
)


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            body = DOC if b" /v1/cdoc/" in head.split(b"\r\n", 1)[0] else SMALL
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def upstream(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
    async with server:
        await server.serve_forever()


def client(port, n, path, status, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for i in range(n):
        conn.request("GET", path, headers=headers)
        rsp = conn.getresponse()
        rsp.read()
        if rsp.status != status:
            sys.exit(f"request {i}: {path} answered {rsp.status}, not {status}")
        if rsp.getheader("connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.close()


def main():
    if sys.argv[1] == "upstream":
        asyncio.run(upstream(int(sys.argv[2])))
    else:
        port, n, path, status = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
        headers = dict(h.split(": ", 1) for h in sys.argv[6:])
        client(port, n, path, status, headers)


if __name__ == "__main__":
    main()
