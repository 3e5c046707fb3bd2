"""Reachability prober that runs ON a source host, sent as ``python3 -I -c SCRIPT``.

This file is a resource, not a module the control plane imports: its text is
sent to each verify source once per verify (and run locally for the control
plane's own probes). It reads one JSON request on stdin::

    {"version": 1, "timeout": 1.0, "checks": [["10.198.40.41", "tcp", 443], ["10.198.40.41", "icmp", null]]}

and prints one JSON document: ``{"version": 1, "results": [[observed, ms], ...]}``
in the order of the checks, observed being ``open``, ``refused``, ``timeout``,
``unreachable`` or ``error:<reason>``.

Rules this script keeps, because it runs as root on managed hosts:

* Python 3.11 standard library only; no shell; nothing written anywhere.
* It only opens connections and sends echo requests to the addresses it is
  given, each at most once, and closes them: no payload is ever sent.
* TCP connects are non-blocking and all in flight at once (one selector, one
  thread), so a whole row of the matrix costs one timeout, not one per port.
* ICMP echo uses one raw socket (root has CAP_NET_RAW, also in the lab); when
  raw sockets are refused, an unprivileged ICMP socket, then ``ping -c1 -W1``.
"""

import errno
import json
import os
import selectors
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

VERSION = 1
MAX_CHECKS = 20000
BATCH = 400  # sockets in flight at once (file descriptors stay well under the usual 1024)
UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


def classify(code):
    """The observed word for a connect()'s errno (0: the handshake completed)."""
    if code == 0:
        return "open"
    if code == errno.ECONNREFUSED:
        return "refused"
    if code in UNREACHABLE:
        return "unreachable"
    if code in (errno.ETIMEDOUT, errno.EINPROGRESS):
        return "timeout"
    return "error:" + errno.errorcode.get(code, str(code))


def tcp_batch(items, timeout, results):
    """Connect to every (index, address, port) at once; fill results[index] as each settles or the time runs out."""
    selector = selectors.DefaultSelector()
    started = {}
    try:
        for index, address, port in items:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            started[index] = time.monotonic()
            code = sock.connect_ex((address, port))
            if code in (0, errno.EINPROGRESS):
                selector.register(sock, selectors.EVENT_WRITE, index)
            else:
                results[index] = [classify(code), 0]
                sock.close()
        deadline = time.monotonic() + timeout
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for key, _ in selector.select(left):
                sock, index = key.fileobj, key.data
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                results[index] = [classify(code), round((time.monotonic() - started[index]) * 1000)]
                selector.unregister(sock)
                sock.close()
        for key in list(selector.get_map().values()):
            results[key.data] = ["timeout", round(timeout * 1000)]
            selector.unregister(key.fileobj)
            key.fileobj.close()
    finally:
        selector.close()


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_packet(ident, seq):
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    payload = b"egov-verify"
    return struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq) + payload


def icmp_socket(items, timeout, results, raw):
    """Echo every (index, address) through one socket; replies are matched by sender and sequence.

    ``raw``: a raw socket (root, CAP_NET_RAW), which also sees every other
    echo reply of the host, so the identifier is checked too. Otherwise an
    unprivileged ICMP datagram socket (``net.ipv4.ping_group_range``, open to
    every group on systemd's Debian defaults): the kernel sets the identifier
    and hands it only this socket's replies, without their IP header.
    """
    kind_of_socket = socket.SOCK_RAW if raw else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind_of_socket, socket.IPPROTO_ICMP)
    ident = (os.getpid() ^ int(time.time() * 1000)) & 0xFFFF
    pending, sent = {}, {}
    try:
        for seq, (index, address) in enumerate(items):
            pending[(address, seq & 0xFFFF)] = index
            sent[index] = time.monotonic()
            try:
                sock.sendto(echo_packet(ident, seq & 0xFFFF), (address, 0))
            except OSError as error:
                results[index] = [classify(error.errno or 0), 0]
                pending.pop((address, seq & 0xFFFF), None)
        deadline = time.monotonic() + timeout
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                packet, (sender, _) = sock.recvfrom(2048)
            except TimeoutError:
                break
            header = (packet[0] & 0x0F) * 4 if raw else 0
            if len(packet) < header + 8:
                continue
            kind, _code, _sum, got_ident, got_seq = struct.unpack("!BBHHH", packet[header : header + 8])
            if kind == 0 and (got_ident == ident or not raw) and (sender, got_seq) in pending:
                index = pending.pop((sender, got_seq))
                results[index] = ["open", round((time.monotonic() - sent[index]) * 1000)]
            elif kind == 3 and len(packet) >= header + 8 + 28:
                # Destination unreachable: the original IP header and echo header follow; match on them.
                inner = packet[header + 8 :]
                inner_header = (inner[0] & 0x0F) * 4
                target = socket.inet_ntoa(inner[16:20])
                _t, _c, _s, inner_ident, inner_seq = struct.unpack("!BBHHH", inner[inner_header : inner_header + 8])
                if (inner_ident == ident or not raw) and (target, inner_seq) in pending:
                    results[pending.pop((target, inner_seq))] = ["unreachable", 0]
        for index in pending.values():
            results[index] = ["timeout", round(timeout * 1000)]
    finally:
        sock.close()


def icmp_ping(items, timeout, results):
    """``ping -c1 -W1`` per address, in threads: for hosts where a raw socket is refused."""
    program = shutil.which("ping", path="/usr/bin:/bin:/usr/sbin:/sbin")

    def one(index, address):
        if program is None:
            results[index] = ["error:no-icmp", 0]
            return
        begun = time.monotonic()
        wait = str(max(1, round(timeout)))
        done = subprocess.run(  # noqa: S603 - fixed program, argv list
            [program, "-n", "-c1", "-W" + wait, address], capture_output=True, timeout=timeout + 5, check=False
        )
        observed = "open" if done.returncode == 0 else "timeout"
        results[index] = [observed, round((time.monotonic() - begun) * 1000)]

    threads = [threading.Thread(target=one, args=item) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def icmp_all(items, timeout, results):
    """Raw socket, else an unprivileged ICMP socket, else ``ping`` per address."""
    for raw in (True, False):
        try:
            icmp_socket(items, timeout, results, raw)
            return
        except PermissionError:
            continue
    icmp_ping(items, timeout, results)


def main():
    request = json.loads(sys.stdin.read() or "{}")
    timeout = min(max(float(request.get("timeout", 1.0)), 0.05), 10.0)
    checks = request.get("checks", [])[:MAX_CHECKS]
    results = [["error:not-run", 0] for _ in checks]
    tcp, icmp = [], []
    for index, check in enumerate(checks):
        address, protocol, port = check
        socket.inet_aton(address)  # an IPv4 address or ValueError: nothing else is ever contacted
        if protocol == "tcp" and isinstance(port, int) and 0 < port < 65536:
            tcp.append((index, address, port))
        elif protocol == "icmp":
            icmp.append((index, address))
        else:
            results[index] = ["error:bad-check", 0]
    worker = threading.Thread(target=icmp_all, args=(icmp, timeout, results)) if icmp else None
    if worker is not None:
        worker.start()
    for first in range(0, len(tcp), BATCH):
        tcp_batch(tcp[first : first + BATCH], timeout, results)
    if worker is not None:
        worker.join()
    sys.stdout.write(json.dumps({"version": VERSION, "results": results}))


main()
