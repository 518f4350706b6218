#!/usr/bin/python3
"""Warren interop test with Apache Qpid Proton (Debian's python3-qpid-proton).

Run by actors/interop_test.go (go test -tags interop -run Interop ./actors/) against a broker it starts:

    WARREN_ADDR=host:port /usr/bin/python3 proton_test.py all
    WARREN_ADDR=host:port /usr/bin/python3 proton_test.py recv-from-go QUEUE
    WARREN_ADDR=host:port /usr/bin/python3 proton_test.py send-to-go QUEUE

Prints every difference it finds and exits 1 on any mismatch, 2 on a timeout or an unexpected error.
It stops by itself: every blocking call has a timeout and the whole run is bounded by an alarm.
"""

import os
import signal
import sys
import traceback
import uuid

from proton import Delivery, Message, Timeout, int32, symbol, ulong
from proton.utils import BlockingConnection, SendException

RUN_LIMIT_S = 90  # the whole script
CALL_TIMEOUT_S = 10  # each blocking call
BIG_SIZE = 300 * 1024  # multi-frame: the broker's max-frame-size in the interop test is 64 KiB

failures = []


def check(what, got, want):
    """Records a failure unless got == want, with equal types (so int32 stays int32)."""
    if got != want or type(got) is not type(want):
        failures.append("%s: got %r (%s), want %r (%s)" % (what, got, type(got).__name__, want, type(want).__name__))


def finish(label):
    if failures:
        print("FAIL %s: %d mismatch(es)" % (label, len(failures)))
        for f in failures:
            print("  - " + f)
        sys.exit(1)
    print("ok %s" % label)


def on_alarm(_signum, _frame):
    print("FAIL: timed out after %d s" % RUN_LIMIT_S, flush=True)
    os._exit(2)


def connect(**kwargs):
    addr = os.environ.get("WARREN_ADDR")
    if not addr:
        print("WARREN_ADDR (host:port of the broker) is not set")
        sys.exit(2)
    # max_frame_size 16 KiB: the broker must split what it sends us over several frames.
    return BlockingConnection("amqp://" + addr, timeout=CALL_TIMEOUT_S, max_frame_size=16384, **kwargs)


def big_body():
    return bytes((i * 7 + i // 1024) % 251 for i in range(BIG_SIZE))


def roundtrip_messages():
    """The messages sent to the broker and expected back unchanged, field by field."""
    app = {"str": "héllo wörld", "int": 42, "int32": int32(-7), "bool": True, "false": False, "double": 3.25}
    return [
        Message(id="py-1", correlation_id="corr-1", subject="orders.created", content_type="application/json",
                reply_to="/queues/replies", properties=app,
                body={"k": "v", "n": 7, "nested": {"list": [1, "two", 3.5, None, True]}}),
        Message(id=uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e"), correlation_id=ulong(99),
                subject="list", properties={"i": 1}, body=[1, "two", 3.0, True, None, {"m": "x"}]),
        Message(id=ulong(12345), content_type="application/octet-stream", body=b"\x00\x01\x02binary\xff",
                inferred=True),
        Message(id="py-binary-value", body=b"amqp-value binary", inferred=False),
        Message(id="py-string", body="plain string value"),
        Message(id="py-big", subject="big", properties={"size": BIG_SIZE}, body=big_body(), inferred=True),
    ]


def compare(label, got, want):
    for field in ("id", "correlation_id", "subject", "content_type", "reply_to", "inferred"):
        check("%s %s" % (label, field), getattr(got, field), getattr(want, field))
    check("%s application-properties" % label, got.properties, want.properties)
    if want.properties:
        for k, v in want.properties.items():
            check("%s application-properties[%s]" % (label, k), got.properties.get(k), v)
    gb, wb = got.body, want.body
    if isinstance(gb, memoryview):
        gb = bytes(gb)
    if isinstance(wb, bytes) and isinstance(gb, bytes) and gb != wb:
        failures.append("%s body: %d bytes differ from the %d sent (first difference at %d)" % (
            label, len(gb), len(wb), next((i for i, (a, b) in enumerate(zip(gb, wb)) if a != b), min(len(gb), len(wb)))))
    else:
        check("%s body" % label, gb, wb)


def send_all(snd, msgs, label):
    for m in msgs:
        try:
            snd.send(m)  # blocks until settled; raises SendException unless accepted
        except SendException as e:
            failures.append("%s: message %r settled %s, want accepted" % (label, m.id, e.state))


def receive(rcv, label):
    try:
        return rcv.receive(timeout=CALL_TIMEOUT_S)
    except Timeout:
        failures.append("%s: no message within %d s" % (label, CALL_TIMEOUT_S))
        raise


def test_roundtrip(conn, q):
    # A bare-name attach declares the queue (DESIGN.md §3); /queues/{q} then addresses it.
    conn.create_sender(q).close()
    snd = conn.create_sender("/queues/" + q)
    want = roundtrip_messages()
    send_all(snd, want, "roundtrip send")
    snd.close()
    rcv = conn.create_receiver("/queues/" + q)
    for w in want:
        got = receive(rcv, "roundtrip")
        compare("roundtrip %r" % (w.id,), got, w)
        check("roundtrip %r delivery-count" % (w.id,), got.delivery_count, 0)
        check("roundtrip %r x-routing-key" % (w.id,), got.annotations.get(symbol("x-routing-key")), q)
        rcv.accept()
    rcv.close()


def test_outcomes(conn, q):
    conn.create_sender(q).close()
    snd = conn.create_sender("/queues/" + q)
    send_all(snd, [Message(id="rel-1", body="released"), Message(id="mod-1", body="modified"),
                   Message(id="rej-1", body="rejected"), Message(id="after", body="after the reject")], "outcomes send")
    snd.close()
    rcv = conn.create_receiver("/queues/" + q)

    # released (spec 3.4.4): back to the queue head, delivery-count unchanged (DESIGN.md §4).
    m = receive(rcv, "released, first")
    check("released first id", m.id, "rel-1")
    rcv.release(delivered=False)
    m = receive(rcv, "released, again")
    check("released comes back", m.id, "rel-1")
    check("released delivery-count", m.delivery_count, 0)
    rcv.accept()

    # modified without delivery-failed: back to the queue like released.
    m = receive(rcv, "modified, first")
    check("modified first id", m.id, "mod-1")
    rcv.release(delivered=True)
    m = receive(rcv, "modified, again")
    check("modified comes back", m.id, "mod-1")
    rcv.accept()

    # rejected (spec 3.4.3): gone (no dead-letter exchange configured).
    m = receive(rcv, "rejected")
    check("rejected id", m.id, "rej-1")
    rcv.reject()
    m = receive(rcv, "after the reject")
    check("after the reject id", m.id, "after")
    rcv.accept()
    try:
        m = rcv.receive(timeout=0.5)
        failures.append("queue should be empty after the reject, got %r" % (m.id,))
    except Timeout:
        pass
    rcv.close()


def test_plain(q):
    """SASL PLAIN guest/guest (proton does ANONYMOUS unless a user is given)."""
    conn = connect(user="guest", password="guest", allowed_mechs="PLAIN")
    try:
        snd = conn.create_sender(q)
        snd.send(Message(id="plain-1", body="over SASL PLAIN"))
        rcv = conn.create_receiver(q)
        m = receive(rcv, "PLAIN")
        check("PLAIN body", m.body, "over SASL PLAIN")
        rcv.accept()
    finally:
        conn.close()


# --- go-amqp <-> proton: the values below are mirrored in actors/interop_test.go --------------------------

def go_expected():
    return [
        Message(id="go-1", correlation_id="go-corr-1", subject="go.subject", content_type="text/plain",
                reply_to="/queues/go-replies",
                properties={"str": "from go", "int": 42, "int32": int32(-7), "bool": True, "double": 2.5},
                body=b"hello from go-amqp", inferred=True),
        Message(id="go-2", body={"k": "v", "n": 1, "list": [1, "a", False]}),
        Message(id="go-big", body=big_body(), inferred=True),
    ]


def recv_from_go(conn, q):
    rcv = conn.create_receiver("/queues/" + q)
    for w in go_expected():
        got = receive(rcv, "from go-amqp")
        compare("from go-amqp %r" % (w.id,), got, w)
        rcv.accept()
    rcv.close()


def send_to_go(conn, q):
    snd = conn.create_sender("/queues/" + q)
    send_all(snd, [
        Message(id="py-1", correlation_id="py-corr-1", subject="py.subject", content_type="application/json",
                reply_to="/queues/py-replies",
                properties={"str": "from proton", "int": 42, "int32": int32(-7), "bool": True, "double": 1.25},
                body=b"hello from proton", inferred=True),
        Message(id="py-2", body={"a": [1, "x", True], "b": 2.5}),
        Message(id="py-big", body=big_body(), inferred=True),
    ], "send to go-amqp")
    snd.close()


def main():
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(RUN_LIMIT_S)
    mode = sys.argv[1] if len(sys.argv) > 1 else "all"
    if mode in ("recv-from-go", "send-to-go") and len(sys.argv) != 3:
        print("usage: proton_test.py %s QUEUE" % mode)
        sys.exit(2)
    try:
        if mode == "all":
            tag = "%d" % os.getpid()
            conn = connect()  # SASL ANONYMOUS
            try:
                test_roundtrip(conn, "interop-proton-roundtrip-" + tag)
                test_outcomes(conn, "interop-proton-outcomes-" + tag)
            finally:
                conn.close()
            test_plain("interop-proton-plain-" + tag)
        elif mode == "recv-from-go":
            conn = connect()
            try:
                recv_from_go(conn, sys.argv[2])
            finally:
                conn.close()
        elif mode == "send-to-go":
            conn = connect()
            try:
                send_to_go(conn, sys.argv[2])
            finally:
                conn.close()
        else:
            print("unknown mode %r" % mode)
            sys.exit(2)
    except SystemExit:
        raise
    except Exception:  # a protocol error, a closed connection, a timeout: report it and fail
        traceback.print_exc()
        if failures:
            finish(mode)
        sys.exit(2)
    finish(mode)


if __name__ == "__main__":
    main()
