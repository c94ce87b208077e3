#!/usr/bin/env python3
"""boot_unsure_test.py BUILD: the admin token's bootstrap when etcd applies
the write but its answer is lost (issue 13, the ha_readme_test flake).

svcfleetd on an empty etcd creates user "admin", writes its token to
<data-dir>/admin.token and says "created user" in its log: the README's HA
section finds the replica holding the token by that line. On a just-formed
etcd the bootstrap transaction could be applied while every answer to it
(and to the store's retries) was lost: the start attempt failed with
UNAVAILABLE, svcfleetd started again, found the binding stored and said
nothing, so nobody knew the token file was the working one.

Here a proxy between svcfleetd and etcd forwards the bootstrap transaction
(the one putting the binding "admin"), drops etcd's answer and then cuts
every connection until svcfleetd gives the start attempt up ("cannot
start" in its log). Then it heals. The test checks, with no timing
assumption, that the next attempt says the token was created ("etcd
confirmed it on a retry"), that the file's token works, and that exactly
one binding "admin" exists. Exit 77 (skipped) without etcd.
"""
import base64
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ADMIN_KEY = b"/svcfleet/bind/admin\x00"
DEADLINE = 90  # seconds for the whole test, a busy machine included


def free_port():
    """A free loopback port below the kernel's ephemeral range (32768 and
    up on Debian): one the kernel handed out and released here could be
    handed out again (another test's listener, an outgoing connection)
    before etcd binds it."""
    while True:
        p = random.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
            return p


def fail(msg, logs=()):
    print("FAIL: " + msg)
    for name in logs:
        try:
            with open(name, errors="replace") as f:
                print("== " + name)
                print("".join(f.readlines()[-30:]))
        except OSError:
            pass
    sys.exit(1)


class Proxy:
    """A TCP proxy to etcd's HTTP/1.1 JSON gateway that reads each request
    (svcfleetd's libcurl sends Content-Length bodies) and, for the first
    transaction putting ADMIN_KEY, forwards it but never its answer."""

    def __init__(self, target):
        self.target = target
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.state = "pass"  # pass -> hold (after the drop) -> healed
        self.dropped = threading.Event()
        self.conns = []
        threading.Thread(target=self.accept, daemon=True).start()

    def heal(self):
        with self.lock:
            self.state = "healed"

    def accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                hold = self.state == "hold"
            if hold:  # etcd is "unreachable": the connection ends at once
                c.close()
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            conn = {"c": c, "u": u, "drop": False}
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self.up, args=(conn,), daemon=True).start()
            threading.Thread(target=self.down, args=(conn,), daemon=True).start()

    @staticmethod
    def close(conn):
        for k in ("c", "u"):
            try:
                conn[k].shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def is_admin_txn(self, head, body):
        if b"/v3/kv/txn" not in head.split(b"\r\n", 1)[0]:
            return False
        try:
            req = json.loads(body)
        except ValueError:
            return False
        for op in req.get("success", []):
            put = op.get("request_put")
            if put and base64.b64decode(put.get("key", "")) == ADMIN_KEY:
                return True
        return False

    def up(self, conn):
        """Client to etcd, one request at a time."""
        c, u = conn["c"], conn["u"]
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        raise OSError("client closed")
                    buf += d
                head, rest = buf.split(b"\r\n\r\n", 1)
                n = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        n = int(v.strip())
                while len(rest) < n:
                    d = c.recv(65536)
                    if not d:
                        raise OSError("client closed")
                    rest += d
                body, buf = rest[:n], rest[n:]
                with self.lock:
                    state = self.state
                if state == "hold":
                    raise OSError("holding")
                if state == "pass" and self.is_admin_txn(head, body):
                    # Dropped before it is sent: not a byte of the
                    # answer reaches svcfleetd.
                    conn["drop"] = True
                    with self.lock:
                        self.state = "hold"
                    u.sendall(head + b"\r\n\r\n" + body)
                    self.dropped.set()
                    # etcd answers (the write is applied); then every
                    # connection ends, as if etcd had gone away.
                    return
                u.sendall(head + b"\r\n\r\n" + body)
        except OSError:
            pass
        finally:
            if not conn["drop"]:
                self.close(conn)

    def down(self, conn):
        """etcd to client; nothing once the connection drops."""
        c, u = conn["c"], conn["u"]
        try:
            while True:
                d = u.recv(65536)
                if not d:
                    break
                if conn["drop"]:
                    # The answer arrived at the proxy: the transaction
                    # was applied. Cut this and every other connection.
                    with self.lock:
                        others = list(self.conns)
                    for o in others:
                        self.close(o)
                    break
                c.sendall(d)
        except OSError:
            pass
        self.close(conn)


def main():
    build = os.path.abspath(sys.argv[1])
    etcd = shutil.which("etcd")
    if etcd is None:
        print("skip: etcd is not installed")
        sys.exit(77)
    svcfleetd = os.path.join(build, "cmd/svcfleetd/svcfleetd")
    cli = os.path.join(build, "client/cli/svcfleet")
    tmp = tempfile.mkdtemp(prefix="sf-bootunsure-")
    procs = []
    ok = False
    try:
        cport, pport = free_port(), free_port()
        elog = os.path.join(tmp, "etcd.log")
        procs.append(subprocess.Popen(
            [etcd, "--name", "m1", "--data-dir", os.path.join(tmp, "etcd"),
             "--listen-client-urls", "http://127.0.0.1:%d" % cport,
             "--advertise-client-urls", "http://127.0.0.1:%d" % cport,
             "--listen-peer-urls", "http://127.0.0.1:%d" % pport,
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % pport,
             "--initial-cluster", "m1=http://127.0.0.1:%d" % pport],
            stdout=open(elog, "w"), stderr=subprocess.STDOUT))
        end = time.monotonic() + DEADLINE
        while True:
            try:
                with socket.create_connection(("127.0.0.1", cport), 1) as s:
                    s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
                    if b'"health":"true"' in s.recv(4096):
                        break
            except OSError:
                pass
            if time.monotonic() > end:
                fail("etcd did not become healthy", [elog])
            time.sleep(0.05)

        proxy = Proxy(cport)
        key = os.path.join(tmp, "secret.key")
        with open(key, "w") as f:
            f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
        os.chmod(key, 0o600)
        data = os.path.join(tmp, "data")
        rpc = "ipc://" + os.path.join(tmp, "svcfleet.sock")
        slog = os.path.join(tmp, "svcfleetd.log")
        procs.append(subprocess.Popen(
            [svcfleetd, "--store", "etcd",
             "--etcd-endpoints", "http://127.0.0.1:%d" % proxy.port,
             "--secret-key-file", key, "--data-dir", data, "--listen", rpc,
             "--http", "127.0.0.1:0", "--no-reconciler"],
            stdout=open(slog, "w"), stderr=subprocess.STDOUT))

        def log():
            with open(slog, errors="replace") as f:
                return f.read()

        # Wait for the drop, then for svcfleetd to give up that attempt.
        while "cannot start" not in log():
            if procs[-1].poll() is not None:
                fail("svcfleetd exited (%d)" % procs[-1].returncode, [slog])
            if time.monotonic() > end:
                fail("svcfleetd never gave the start attempt up "
                     "(dropped: %s)" % proxy.dropped.is_set(), [slog])
            time.sleep(0.05)
        if not proxy.dropped.is_set():
            fail("svcfleetd gave a start attempt up before the bootstrap "
                 "transaction was sent", [slog])
        if "created user" in log():
            fail("svcfleetd said it created the token before etcd "
                 "confirmed it", [slog])
        proxy.heal()
        while "created user" not in log():
            if procs[-1].poll() is not None:
                fail("svcfleetd exited (%d)" % procs[-1].returncode, [slog])
            if time.monotonic() > end:
                fail("no \"created user\" line after etcd came back",
                     [slog])
            time.sleep(0.05)
        if "confirmed it on a retry" not in log():
            fail("the line does not say the token was confirmed on a "
                 "retry", [slog])
        tok = os.path.join(data, "admin.token")
        if not os.path.exists(tok):
            fail("admin.token is missing", [slog])
        env = dict(os.environ, SVCFLEET_SERVER=rpc, SVCFLEET_TOKEN_FILE=tok)
        while True:
            r = subprocess.run([cli, "rbac", "list", "-o", "json"],
                               env=env, capture_output=True, text=True)
            if r.returncode == 0:
                break
            if time.monotonic() > end:
                fail("the token in admin.token does not work: " + r.stderr,
                     [slog])
            time.sleep(0.05)
        items = json.loads(r.stdout)
        if isinstance(items, dict):
            items = items.get("items", [])
        ids = [b.get("metadata", {}).get("name", b.get("id")) for b in items]
        if ids.count("admin") != 1:
            fail("want one binding \"admin\", the list has: %s" % ids)
        print("boot_unsure_test: passed")
        ok = True
    finally:
        for p in procs:
            p.kill()
            p.wait()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept " + tmp)


if __name__ == "__main__":
    main()
