"""A counting TCP proxy for the benchmarks: LISTEN UPSTREAM COUNTS_FILE.

Forwards every connection to UPSTREAM and adds up the bytes clients send (requests, headers
included) and the HTTP requests they carry (request lines seen at the start of a client's
message); after each chunk it rewrites COUNTS_FILE as "bytes requests". Counting request lines by
a method prefix is enough here: blob bodies are random bytes and manifests are JSON, so a chunk
starting with a method name and " /v2/" is a request line.
"""
import asyncio
import sys

listen, upstream, counts_file = sys.argv[1], sys.argv[2], sys.argv[3]
sent = 0
requests = 0
METHODS = tuple(m.encode() + b" /v2/" for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"))


def write_counts():
    with open(counts_file, "w") as f:
        f.write(f"{sent} {requests}\n")


async def pipe(reader, writer, count):
    global sent, requests
    try:
        while data := await reader.read(1 << 16):
            if count:
                sent += len(data)
                # Several pipelined or small requests can share a chunk; count each line start.
                requests += sum(data.count(b"\r\n" + m) for m in METHODS)
                requests += 1 if data.startswith(METHODS) else 0
                write_counts()
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer):
    host, port = upstream.rsplit(":", 1)
    up_reader, up_writer = await asyncio.open_connection(host, int(port))
    await asyncio.gather(
        pipe(client_reader, up_writer, True), pipe(up_reader, client_writer, False)
    )


async def main():
    write_counts()
    host, port = listen.rsplit(":", 1)
    server = await asyncio.start_server(handle, host, int(port))
    async with server:
        await server.serve_forever()


asyncio.run(main())
