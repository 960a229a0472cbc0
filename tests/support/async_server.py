"""A minimal asyncio OpenAI-compatible server, for benches that need many parallel replies.

The threaded :mod:`openai_server` records and scripts everything but spends a thread per
connection; this one answers ``POST .../chat/completions`` with a fixed reply after a
fixed latency, on one event loop, keep-alive, so that 100 parallel 50 ms requests cost
the server almost nothing.  Run it in its own process:

    python tests/support/async_server.py --latency 0.05    # prints its URL
"""

from __future__ import annotations

import argparse
import asyncio
import json


async def handle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    latency: float,
    reply: str,
    stats: dict,
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = json.loads(await reader.readexactly(length) or b"{}")
            stats["in_flight"] += 1
            stats["high_water"] = max(stats["high_water"], stats["in_flight"])
            await asyncio.sleep(latency)
            stats["in_flight"] -= 1
            stats["requests"] += 1
            payload = json.dumps(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", ""),
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": reply},
                        }
                    ],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
                }
                if head.startswith(b"POST")
                else stats
            ).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(latency: float, reply: str) -> None:
    stats = {"requests": 0, "in_flight": 0, "high_water": 0}
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, latency, reply, stats), "127.0.0.1", 0, backlog=1024
    )
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}/v1", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--reply", default="ok")
    args = ap.parse_args()
    try:
        asyncio.run(serve(args.latency, args.reply))
    except KeyboardInterrupt:
        pass
