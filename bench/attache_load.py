#!/usr/bin/env python3
"""Closed-loop gRPC load against attache, written like the serving peer's load.py (grpcio,
asyncio, one call in flight per caller), so attache and MLServer are driven by the same kind
of client: what it costs in CPU on a shared machine is the same on both sides.

Usage (a venv with grpcio and grpcio-tools; bench/run.sh uses the MLServer one):
  python attache_load.py --addr 127.0.0.1:50051 --corpus CORPUS_DIR [--concurrency 16]
                         [--requests 5000] [--seconds 30] [--batch 1] [--stream]
                         [--top-k 1] [--wait-ready 30] [--json]

The stubs are generated at run time from proto/attache/v1/classifier.proto (this repository)
with grpcio-tools into a temporary directory: no generated code is committed.

Documents come from CORPUS_DIR/test.jsonl.gz (or --data FILE) in order, cycling. With
--batch B > 1 each request is one ClassifyBatch of B documents; with --stream each caller
keeps one ClassifyStream open and sends one document at a time, waiting for its answer.
The run stops after N requests or S seconds. Prints req/s, docs/s, p50/p90/p99 latency (ms,
statistics.quantiles as in load.py), errors by status code, and accuracy of the top label
against the first gold label. Refuses any address that is not loopback.
"""
import argparse, asyncio, gzip, importlib, ipaddress, json, os, statistics, sys, tempfile, time

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "..", "proto")
PROTO = "attache/v1/classifier.proto"


def stubs():
    """Generates and imports classifier_pb2 / classifier_pb2_grpc in a temporary directory."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="attache-stubs-")
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={out}",
                      f"--grpc_python_out={out}", PROTO])
    if rc != 0:
        sys.exit(f"protoc failed on {PROTO} ({rc})")
    sys.path.insert(0, out)
    pb = importlib.import_module("attache.v1.classifier_pb2")
    pbg = importlib.import_module("attache.v1.classifier_pb2_grpc")
    return pb, pbg


def loopback(addr):
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit():
        sys.exit(f"{addr!r} is not HOST:PORT")
    if host.lower() == "localhost":
        return f"127.0.0.1:{port}"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return addr
    except ValueError:
        pass
    sys.exit(f"{addr}: not a loopback address; this load generator only drives servers on this machine")


def read_docs(path):
    with gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8") as f:
        rows = [json.loads(l) for l in f if l.strip()]
    docs = []
    for r in rows:
        labels = r.get("labels") or ([r["label"]] if r.get("label") else [])
        docs.append((r["text"], labels[0] if labels else None))
    return docs


async def wait_ready(stub, pb, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            await stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=2)
            return True
        except grpc.RpcError:
            await asyncio.sleep(0.2)
    return False


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--corpus", help="directory holding test.jsonl.gz")
    src.add_argument("--data", help="a JSON Lines file (gzip or not) with a text field")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--top-k", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--wait-ready", type=float, default=0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.stream and a.batch != 1:
        sys.exit("--stream sends one document per message; drop --batch")
    addr = loopback(a.addr)
    docs = read_docs(a.data or os.path.join(a.corpus, "test.jsonl.gz"))
    pb, pbg = stubs()
    opts = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    async with grpc.aio.insecure_channel(addr, options=opts) as ch:
        stub = pbg.ClassifierStub(ch)
        if a.wait_ready and not await wait_ready(stub, pb, a.wait_ready):
            sys.exit("server not ready")
        lat, errors, correct, checked, docs_done = [], {}, 0, 0, 0
        next_i, sent = 0, 0
        stop = time.perf_counter() + a.seconds

        def take(n):
            nonlocal next_i, sent
            if sent >= a.requests or time.perf_counter() >= stop:
                return None
            sent += 1
            first = next_i
            next_i += n
            return [(first + k) % len(docs) for k in range(n)]

        def request(i):
            return pb.ClassifyRequest(id=str(i), text=docs[i][0], top_k=a.top_k)

        def check(results, idx):
            nonlocal correct, checked, docs_done
            docs_done += len(idx)
            for r, i in zip(results, idx):
                gold = docs[i][1]
                if gold is not None:
                    checked += 1
                    correct += bool(r.labels) and r.labels[0].label == gold

        def error(e, n=1):
            code = e.code().name if isinstance(e, grpc.RpcError) and e.code() else "UNKNOWN"
            errors[code] = errors.get(code, 0) + n

        async def unary():
            while (idx := take(a.batch)) is not None:
                t0 = time.perf_counter()
                try:
                    if a.batch == 1:
                        results = [await stub.Classify(request(idx[0]), timeout=a.timeout)]
                    else:
                        resp = await stub.ClassifyBatch(
                            pb.ClassifyBatchRequest(documents=[request(i) for i in idx]), timeout=a.timeout)
                        results = list(resp.results)
                    lat.append(time.perf_counter() - t0)
                    check(results, idx)
                except grpc.RpcError as e:
                    error(e)

        async def stream():
            while (idx := take(1)) is not None:
                call = stub.ClassifyStream(timeout=a.seconds + a.timeout)
                try:
                    while idx is not None:
                        t0 = time.perf_counter()
                        await call.write(request(idx[0]))
                        r = await call.read()
                        if r is grpc.aio.EOF:
                            errors["INVALID_RESPONSE"] = errors.get("INVALID_RESPONSE", 0) + 1
                            call.cancel()
                            break
                        lat.append(time.perf_counter() - t0)
                        check([r], idx)
                        idx = take(1)
                    else:
                        await call.done_writing()
                        while await call.read() is not grpc.aio.EOF:
                            errors["INVALID_RESPONSE"] = errors.get("INVALID_RESPONSE", 0) + 1
                        code = await call.code()
                        if code != grpc.StatusCode.OK:
                            errors[code.name] = errors.get(code.name, 0) + 1
                except grpc.RpcError as e:
                    error(e)

        t0 = time.perf_counter()
        await asyncio.gather(*((stream if a.stream else unary)() for _ in range(a.concurrency)))
        wall = time.perf_counter() - t0
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [float("nan")] * 99
    r = dict(peer="attache", client="python", mode="stream" if a.stream else ("batch" if a.batch > 1 else "unary"),
             concurrency=a.concurrency, batch=a.batch, requests=len(lat), errors=sum(errors.values()),
             error_codes=errors, wall_s=wall, req_s=len(lat) / wall, docs_s=docs_done / wall,
             p50_ms=q[49] * 1e3, p90_ms=q[89] * 1e3, p99_ms=q[98] * 1e3,
             max_ms=max(lat) * 1e3 if lat else float("nan"),
             accuracy=correct / checked if checked else None)
    if a.json:
        print(json.dumps(r))
    else:
        acc = f", accuracy {r['accuracy']:.4f}" if r["accuracy"] is not None else ""
        print(f"{r['mode']} c={a.concurrency} b={a.batch}: {r['req_s']:.0f} req/s, {r['docs_s']:.0f} docs/s, "
              f"p50 {r['p50_ms']:.2f} ms, p90 {r['p90_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
              f"errors {r['errors']} {errors or ''}{acc}")


if __name__ == "__main__":
    asyncio.run(main())
