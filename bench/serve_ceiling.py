"""The ceiling for bench/serve.py: the cheapest possible JSON endpoint.

A raw ASGI callable, no framework: it reads the whole request body (as a real
endpoint must) and answers a small fixed JSON object. Served by uvicorn with the
same stack as `shipyard serve` (httptools, uvloop, two workers), it measures what
the HTTP server alone costs on this machine, so the benchmark can say how close
the model server gets to it:

    .venv/bin/uvicorn bench.serve_ceiling:app --workers 2 --http httptools --loop uvloop \
        --no-access-log --log-level warning
"""

from __future__ import annotations

BODY = b'{"status":"ok"}'
HEADERS = [(b"content-type", b"application/json"),
           (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        # Answer the lifespan protocol so uvicorn does not log that it is unsupported.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    # Drain the body: a model server has to receive every byte before it can answer.
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
