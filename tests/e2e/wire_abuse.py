#!/usr/bin/python3
"""A hostile SSH client for the wire-level abuse test (issue 12, item 7).

Each attack logs in to portcullisd on a connection of its own (public key), sends one kind of
hostile message, then asks the daemon a question it must answer (a keepalive global request).
It prints one JSON line per attack: what was sent and what came back. The verdict belongs to
tests/e2e/abuse_test.cpp, which watches the daemon's pid, memory and audit log meanwhile.

The daemon may refuse anything here or end the hostile connection: both are fine. What is not
fine is a daemon that dies, stops answering ("hung": true), or lets one connection hurt another.

Paramiko builds only well-formed packets; a hostile one is a paramiko.message.Message filled by
hand and sent with Transport._send_user_message (see /work/shared/NOTES-libs.md). Message.add_string
takes bytes, so invalid UTF-8 goes out as is.

Exit status: 0 when every attack ran (whatever the daemon did), 1 on an error in this script.
Run with /usr/bin/python3: Debian's python3-paramiko is not on a pyenv python's path.
"""

import argparse
import json
import logging
import socket
import sys
import threading
import time
import traceback

import paramiko
from paramiko.common import (
    cMSG_CHANNEL_CLOSE,
    cMSG_CHANNEL_DATA,
    cMSG_CHANNEL_EOF,
    cMSG_CHANNEL_EXTENDED_DATA,
    cMSG_CHANNEL_OPEN,
    cMSG_CHANNEL_REQUEST,
    cMSG_CHANNEL_WINDOW_ADJUST,
    cMSG_GLOBAL_REQUEST,
    cMSG_SERVICE_REQUEST,
)
from paramiko.message import Message

UINT32_MAX = 2**32 - 1
BAD_UTF8 = b"\xff\xfe\xc0\x80\xed\xa0\x80"  # never valid: 0xff, overlong NUL, a surrogate
# Terminal escapes that would act on an operator's screen if printed raw (OSC 52 sets the
# clipboard, CSI 2J clears the screen).
ESCAPES = b"\x1b]52;c;cm0gLXJmIC8K\x07\x1b[2J\x9b"
ONE_MB = 1024 * 1024
WAIT = 30.0  # seconds a healthy daemon needs at most for one answer (ASan builds are slow)
ATTACK_LIMIT = 60  # seconds for a whole attack

ATTACKS = []


def attack(login):
    """Registers an attack; `login` says which login it uses: "target" (alice:db01),
    "control" (alice) or "none" (the attack logs in itself)."""

    def register(function):
        ATTACKS.append((function.__name__, login, function))
        return function

    return register


class Suspicious(Exception):
    """The daemon stayed connected but did not answer in time: a hang."""


class Refused(Exception):
    """The daemon refused a step the attack needed (a session channel, an exec): allowed, and
    reported, but the rest of that attack cannot run."""


# ---------------------------------------------------------------------------------- wire helpers


def message(kind, *fields):
    """An SSH message of type `kind` with fields: bool -> boolean, int -> uint32, bytes or str ->
    string. (bool is tested first: it is an int in Python.)"""
    m = Message()
    m.add_byte(kind)
    for field in fields:
        if isinstance(field, bool):
            m.add_boolean(field)
        elif isinstance(field, int):
            m.add_int(field)
        else:
            m.add_string(field)
    return m


def send(transport, kind, *fields):
    transport._send_user_message(message(kind, *fields))


def channel_request(channel, request, want_reply, *fields):
    """Sends a channel request; with want_reply, waits for the answer and returns
    "success" or "refused" (paramiko closes a channel whose request failed)."""
    if want_reply:
        channel._event_pending()
    send(channel.get_transport(), cMSG_CHANNEL_REQUEST, channel.remote_chanid, request,
         want_reply, *fields)
    if not want_reply:
        return None
    return wait_for_answer(channel)


def wait_for_answer(channel):
    deadline = time.monotonic() + WAIT
    while not channel.event.wait(0.1):
        if not channel.get_transport().is_active():
            return "connection closed"
        if time.monotonic() > deadline:
            raise Suspicious("no answer to a channel request")
    if channel.event_ready:
        return "success"
    return "refused" if channel.get_transport().is_active() else "connection closed"


def pty_request(channel, term, cols, rows, px_width, px_height, modes=b"\x00"):
    return channel_request(channel, "pty-req", True, term, cols, rows, px_width, px_height,
                           modes)


def probe(transport):
    """Asks for a keepalive (a global request with want_reply): "answered" when the daemon
    still serves this connection, "connection closed" when it ended it."""
    transport.completion_event = threading.Event()
    send(transport, cMSG_GLOBAL_REQUEST, "keepalive@openssh.com", True)
    deadline = time.monotonic() + WAIT
    while not transport.completion_event.wait(0.1):
        if not transport.is_active():
            return "connection closed"
        if time.monotonic() > deadline:
            raise Suspicious("no answer to a keepalive")
    return "answered"


def open_channel(transport, kind="session", **kwargs):
    """Opens a channel; returns (channel or None, what the daemon said). Window and packet
    sizes go out as given: paramiko's clamping is switched off for this transport."""
    transport._sanitize_window_size = lambda size: transport.default_window_size \
        if size is None else size
    transport._sanitize_packet_size = lambda size: transport.default_max_packet_size \
        if size is None else size
    try:
        return transport.open_channel(kind, timeout=WAIT, **kwargs), "opened"
    except paramiko.ChannelException as refusal:
        return None, "refused: code %d %s" % (refusal.code, refusal.text)
    except paramiko.SSHException as error:
        if transport.is_active():
            raise Suspicious("channel open: %s" % error)
        return None, "connection closed"


def session(transport):
    """A session channel, which the daemon must grant a logged-in user."""
    channel, answer = open_channel(transport)
    if channel is None:
        raise Refused("session channel: %s" % answer)
    return channel


def collect(channel, stdin=b"", close_stdin=True):
    """Sends stdin, then reads stdout, stderr and the exit status until the daemon closes the
    channel or WAIT passes (then raises Suspicious)."""
    if stdin:
        channel.sendall(stdin)
    if close_stdin:
        channel.shutdown_write()
    out, err = b"", b""
    channel.settimeout(0.1)
    deadline = time.monotonic() + WAIT
    while True:
        for reader, into in ((channel.recv, "out"), (channel.recv_stderr, "err")):
            try:
                chunk = reader(65536)
            except socket.timeout:
                continue
            if into == "out":
                out += chunk
            else:
                err += chunk
        finished = channel.closed or (channel.eof_received and channel.exit_status_ready())
        if finished and not channel.recv_ready() and not channel.recv_stderr_ready():
            break
        if not channel.get_transport().is_active():
            break
        if time.monotonic() > deadline:
            raise Suspicious("the channel never finished")
    return {
        "exit_status": channel.exit_status if channel.exit_status_ready() else None,
        "stdout": shown(out),
        "stdout_bytes": len(out),
        "stderr": shown(err),
    }


def shown(data, limit=300):
    """Bytes as JSON-safe text, escapes visible, cut to `limit` characters."""
    text = repr(data)[2:-1]
    return text if len(text) <= limit else text[:limit] + "...(%d bytes)" % len(data)


def session_with(transport, command):
    """A session channel running `command` (bytes allowed); returns (channel, answer)."""
    channel = session(transport)
    return channel, channel_request(channel, "exec", True, command)


# ---------------------------------------------------------------------------------- logging in


def load_key(path):
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key_file(path)
        except paramiko.SSHException:
            continue
    raise ValueError("cannot read private key %s" % path)


def connect(options, username=None):
    """A transport after key exchange, logged in as `username` unless it is None."""
    sock = socket.create_connection((options.host, options.port), timeout=WAIT)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = WAIT
    transport.auth_timeout = WAIT
    transport.start_client(timeout=WAIT)
    if username is not None:
        transport.auth_publickey(username, options.key)
    return transport


# ---------------------------------------------------------------------------------- attacks:
# logging in and the connection layer


@attack("none")
def user_name_invalid_utf8(options, _):
    """Login names that are not UTF-8, past the daemon's attempt limit (its audit path)."""
    transport = connect(options)
    answers = []
    names = [BAD_UTF8, b"alice:" + BAD_UTF8, BAD_UTF8 + b":db01", ESCAPES + b":db01",
             b"alice:db01:" + BAD_UTF8, b"x" * 100000, BAD_UTF8 * 9]
    for name in names:
        if not transport.is_active():
            break
        try:
            transport.auth_publickey(name, options.key)
            answers.append("accepted")
        except paramiko.AuthenticationException:
            answers.append("refused")
        except paramiko.SSHException as error:
            answers.append("error: %s" % error)
    # No keepalive probe: before a login succeeds the daemon need not answer global requests.
    still_open = transport.is_active()
    transport.close()
    return None, {"sent": "%d public-key logins with hostile names" % len(names),
                  "answers": answers, "connection_open_after": still_open}


@attack("target")
def service_request_invalid_utf8(options, transport):
    send(transport, cMSG_SERVICE_REQUEST, b"ssh-" + BAD_UTF8)
    return transport, {"sent": "SERVICE_REQUEST ssh-<invalid UTF-8> after login"}


@attack("target")
def global_request_invalid_utf8_name(options, transport):
    for want_reply in (True, False):
        send(transport, cMSG_GLOBAL_REQUEST, BAD_UTF8 + b"@openssh.com", want_reply)
    return transport, {"sent": "global requests named with invalid UTF-8"}


@attack("target")
def tcpip_forward_hostile(options, transport):
    for request in ("tcpip-forward", "cancel-tcpip-forward"):
        for address, port in ((BAD_UTF8, 0), (b"127.0.0.1", UINT32_MAX),
                              (ESCAPES, 22), (b"a" * 200000, 80)):
            send(transport, cMSG_GLOBAL_REQUEST, request, True, address, port)
    return transport, {"sent": "tcpip-forward and cancel-tcpip-forward with bad addresses and "
                               "port 2^32-1"}


@attack("target")
def messages_for_unknown_channels(options, transport):
    for channel_id in (0, 42, 43, 1000, UINT32_MAX):
        send(transport, cMSG_CHANNEL_DATA, channel_id, b"nobody's data")
        send(transport, cMSG_CHANNEL_EXTENDED_DATA, channel_id, 1, b"nobody's stderr")
        send(transport, cMSG_CHANNEL_WINDOW_ADJUST, channel_id, UINT32_MAX)
        send(transport, cMSG_CHANNEL_REQUEST, channel_id, "exec", True, b"id")
        send(transport, cMSG_CHANNEL_EOF, channel_id)
        send(transport, cMSG_CHANNEL_CLOSE, channel_id)
    return transport, {"sent": "data, window-adjust, exec, EOF and close for channels never "
                               "opened (ids 0, 42, 43, 1000, 2^32-1)"}


@attack("none")
def user_name_with_nul(options, _):
    """A login name with a NUL inside. libssh 0.10 drops such a request before the daemon sees
    it and never answers: that stalls only this client's login, so it is reported, not a hang."""
    transport = connect(options)
    transport.auth_timeout = 3
    try:
        transport.auth_publickey(b"alice\x00:db01", options.key)
        answer = "accepted"
    except paramiko.AuthenticationException as error:
        answer = "timeout: no answer" if "timeout" in str(error) else "refused"
    still_open = transport.is_active()
    transport.close()
    return None, {"sent": "public-key login as alice<NUL>:db01", "answer": answer,
                  "connection_open_after": still_open}


# ---------------------------------------------------------------------------------- attacks:
# opening channels


def forwarding_report(sent, answers):
    """What the test needs to check the audit: how many port-forwarding opens the daemon
    answered with a refusal on this connection (it must audit those exactly once)."""
    return {"sent": sent, "answers": answers,
            "forwarding_refused": sum(n for a, n in answers.items() if a.startswith("refused"))}


@attack("target")
def direct_tcpip_invalid_utf8_host(options, transport):
    """Today this single packet ends portcullisd (issue 12)."""
    _, answer = open_channel(transport, "direct-tcpip", dest_addr=(BAD_UTF8 + b".example", 22),
                             src_addr=(b"\xc0\x80", 4000))
    return transport, forwarding_report("direct-tcpip to a host that is not UTF-8", {answer: 1})


@attack("target")
def direct_tcpip_huge_port(options, transport):
    _, answer = open_channel(transport, "direct-tcpip", dest_addr=("127.0.0.1", UINT32_MAX),
                             src_addr=(ESCAPES, UINT32_MAX))
    return transport, forwarding_report(
        "direct-tcpip to port 2^32-1 from an originator full of escapes", {answer: 1})


@attack("target")
def forwarded_tcpip_invalid_utf8(options, transport):
    _, answer = open_channel(transport, "forwarded-tcpip", dest_addr=(BAD_UTF8, 0),
                             src_addr=(BAD_UTF8, UINT32_MAX))
    return transport, forwarding_report(
        "forwarded-tcpip nobody asked for, with invalid UTF-8", {answer: 1})


@attack("target")
def forwarding_flood(options, transport):
    """Many refused opens on one connection: one audit row, not one per packet."""
    count = 300
    answers = {}
    for n in range(count):
        _, answer = open_channel(transport, "direct-tcpip", dest_addr=("127.0.0.1", 22 + n),
                                 src_addr=("127.0.0.1", 5000))
        answers[answer] = answers.get(answer, 0) + 1
        if answer == "connection closed":
            break
    return transport, forwarding_report("%d direct-tcpip opens" % count, answers)


@attack("target")
def x11_channel(options, transport):
    _, answer = open_channel(transport, "x11", src_addr=(BAD_UTF8, UINT32_MAX))
    return transport, {"sent": "x11 channel open from an originator that is not UTF-8",
                       "open": answer}


@attack("target")
def agent_channel(options, transport):
    _, answer = open_channel(transport, "auth-agent@openssh.com")
    return transport, {"sent": "auth-agent@openssh.com channel open", "open": answer}


@attack("target")
def channel_type_invalid_utf8(options, transport):
    _, answer = open_channel(transport, b"sess" + BAD_UTF8 + b"ion")
    return transport, {"sent": "a channel type that is not UTF-8", "open": answer}


@attack("target")
def second_session_channel(options, transport):
    first, first_answer = open_channel(transport)
    _, second_answer = open_channel(transport)
    result = {"sent": "two session channels", "first": first_answer, "second": second_answer}
    if first is not None and channel_request(first, "exec", True, "echo first") == "success":
        result["first_exec"] = collect(first)
    return transport, result


@attack("target")
def session_window_zero_packet_zero(options, transport):
    """A session whose window and maximum packet are 0: the daemon can send the client nothing
    and must neither spin nor buffer without bound."""
    channel, answer = open_channel(transport, window_size=0, max_packet_size=0)
    result = {"sent": "session with window 0 and max packet 0, then exec yes", "open": answer}
    if channel is not None:
        result["exec"] = channel_request(channel, "exec", True, "yes | head -c 64M")
        time.sleep(1)  # give a spinning or buffering daemon time to show it (RSS, CPU)
        send(transport, cMSG_CHANNEL_CLOSE, channel.remote_chanid)
    return transport, result


@attack("target")
def session_window_huge_packet_huge(options, transport):
    channel, answer = open_channel(transport, window_size=UINT32_MAX, max_packet_size=UINT32_MAX)
    result = {"sent": "session with window and max packet 2^32-1, then exec head -c 4M",
              "open": answer}
    if channel is not None and channel_request(channel, "exec", True,
                                               "head -c 4M /dev/zero") == "success":
        result["exec"] = collect(channel)
    return transport, result


@attack("target")
def close_before_open_confirmation(options, transport):
    """CHANNEL_OPEN then at once CHANNEL_CLOSE for the ids the daemon is likely to pick
    (libssh numbers its channels from 43), then a close for our own id."""
    send(transport, cMSG_CHANNEL_OPEN, "session", 77, 65536, 32768)
    for guessed in (43, 44, 0, 77):
        send(transport, cMSG_CHANNEL_CLOSE, guessed)
    return transport, {"sent": "session open followed at once by closes for guessed ids"}


@attack("none")
def disconnect_before_open_confirmation(options, _):
    transport = connect(options, options.target_login)
    send(transport, cMSG_CHANNEL_OPEN, "session", 5, 65536, 32768)
    transport.close()
    return None, {"sent": "session open, then the TCP connection closed at once"}


@attack("target")
def close_while_target_is_reached(options, transport):
    """exec, then close the channel before the daemon has answered it (it is connecting to the
    target meanwhile)."""
    channel = session(transport)
    send(transport, cMSG_CHANNEL_REQUEST, channel.remote_chanid, "exec", True, b"echo late")
    send(transport, cMSG_CHANNEL_EOF, channel.remote_chanid)
    send(transport, cMSG_CHANNEL_CLOSE, channel.remote_chanid)
    return transport, {"sent": "exec, EOF and close without waiting for the exec's answer"}


@attack("none")
def disconnect_while_target_is_reached(options, _):
    transport = connect(options, options.target_login)
    channel = session(transport)
    send(transport, cMSG_CHANNEL_REQUEST, channel.remote_chanid, "exec", True, b"echo late")
    transport.close()
    return None, {"sent": "exec, then the TCP connection closed at once"}


# ---------------------------------------------------------------------------------- attacks:
# requests on a session channel, before it starts


@attack("target")
def pty_term_invalid_utf8(options, transport):
    channel = session(transport)
    answer = pty_request(channel, b"xterm" + BAD_UTF8 + ESCAPES, 80, 24, 0, 0)
    result = {"sent": "pty-req with a terminal name that is not UTF-8", "pty": answer}
    if answer == "success" and channel_request(channel, "exec", True, "echo $TERM") == "success":
        result["exec"] = collect(channel)
    return transport, result


def pty_with_size(transport, cols, rows, px_width, px_height):
    channel = session(transport)
    answer = pty_request(channel, "xterm", cols, rows, px_width, px_height)
    result = {"sent": "pty-req %dx%d (%dx%d px), then exec stty size" %
                      (cols, rows, px_width, px_height), "pty": answer}
    if answer == "success" and channel_request(channel, "exec", True, "stty size") == "success":
        result["exec"] = collect(channel)
    return result


@attack("target")
def pty_zero_size(options, transport):
    return transport, pty_with_size(transport, 0, 0, 0, 0)


@attack("target")
def pty_huge_size(options, transport):
    return transport, pty_with_size(transport, 65535, 65535, 65535, 65535)


@attack("target")
def pty_uint32_max_size(options, transport):
    return transport, pty_with_size(transport, UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX)


@attack("target")
def pty_hostile_modes(options, transport):
    """Terminal modes: unknown opcodes, a value cut short, no TTY_OP_END, 100 KiB of them."""
    channel = session(transport)
    modes = (b"\x35\xff\xff\xff\xff" + b"\xa0\x00" + b"\x01") * 20000 + b"\x80\x00"
    answer = pty_request(channel, "xterm", 80, 24, 0, 0, modes)
    result = {"sent": "pty-req with %d bytes of malformed modes" % len(modes), "pty": answer}
    if answer == "success" and channel_request(channel, "exec", True, "echo modes") == "success":
        result["exec"] = collect(channel)
    return transport, result


@attack("target")
def env_invalid_utf8(options, transport):
    channel = session(transport)
    pairs = [(b"LC_" + BAD_UTF8, b"x"), (b"LANG", BAD_UTF8 + ESCAPES), (BAD_UTF8, BAD_UTF8),
             (b"LC_BIG", b"v" * 200000), (b"", b""), (b"LC_NUL\x00X", b"a\x00b")]
    answers = [channel_request(channel, "env", False, name, value) for name, value in pairs]
    result = {"sent": "env requests with invalid UTF-8, NUL, a 200 KB value, an empty name",
              "answers": answers}
    if channel_request(channel, "exec", True, "echo env-done") == "success":
        result["exec"] = collect(channel)
    return transport, result


@attack("target")
def env_flood(options, transport):
    channel = session(transport)
    count = 10000
    for n in range(count):
        channel_request(channel, "env", False, "LC_ABUSE_%d" % n, "v%d" % n)
    result = {"sent": "%d env requests (LC_*, allowed names), then exec" % count}
    result["exec_answer"] = channel_request(channel, "exec", True, "echo env-flood-done")
    if result["exec_answer"] == "success":
        result["exec"] = collect(channel)
    return transport, result


def exec_or_subsystem(transport, request, argument, description):
    channel = session(transport)
    answer = channel_request(channel, request, True, argument)
    result = {"sent": description, "answer": answer}
    if answer == "success":
        result["run"] = collect(channel)
    return result


@attack("target")
def exec_invalid_utf8(options, transport):
    return transport, exec_or_subsystem(transport, "exec", b"echo " + BAD_UTF8 + ESCAPES,
                                        "exec with a command line that is not UTF-8")


@attack("target")
def exec_200k(options, transport):
    return transport, exec_or_subsystem(transport, "exec", b"echo " + b"a" * 200000,
                                        "exec with a 200 KB command line")


@attack("target")
def exec_1mb(options, transport):
    return transport, exec_or_subsystem(transport, "exec", b"echo " + b"a" * ONE_MB,
                                        "exec with a 1 MB command line")


@attack("target")
def subsystem_invalid_utf8(options, transport):
    return transport, exec_or_subsystem(transport, "subsystem", b"sftp" + BAD_UTF8,
                                        "subsystem named with invalid UTF-8")


@attack("target")
def subsystem_200k(options, transport):
    return transport, exec_or_subsystem(transport, "subsystem", b"s" * 200000,
                                        "subsystem with a 200 KB name")


@attack("target")
def subsystem_1mb(options, transport):
    return transport, exec_or_subsystem(transport, "subsystem", b"s" * ONE_MB,
                                        "subsystem with a 1 MB name")


@attack("control")
def control_exec_invalid_utf8(options, transport):
    return transport, exec_or_subsystem(
        transport, "exec",
        b"request db01 --for 10m --ticket CHG-1 --reason '" + BAD_UTF8 + ESCAPES + b"'",
        "control command: a grant request whose reason is not UTF-8 and holds escapes")


@attack("control")
def control_request_huge_ticket(options, transport):
    """A 60,000-character ticket against the policy's ticket_pattern (std::regex recursion)."""
    return transport, exec_or_subsystem(
        transport, "exec", b"request db01 --for 10m --reason r --ticket CHG-" + b"1" * 60000,
        "control command: a grant request with a 60,000-character ticket")


@attack("control")
def control_exec_200k(options, transport):
    return transport, exec_or_subsystem(transport, "exec", b"grants " + b"a" * 200000,
                                        "control command of 200 KB")


@attack("control")
def control_exec_1mb(options, transport):
    return transport, exec_or_subsystem(transport, "exec", b"grants " + b"a" * ONE_MB,
                                        "control command of 1 MB")


@attack("control")
def control_pty_huge_and_subsystem(options, transport):
    channel = session(transport)
    result = {"sent": "control login: pty 2^32-1 with a bad term, subsystem not UTF-8",
              "pty": pty_request(channel, BAD_UTF8, UINT32_MAX, UINT32_MAX, 0, 0)}
    if result["pty"] == "success":
        result["subsystem"] = channel_request(channel, "subsystem", True, BAD_UTF8)
        if result["subsystem"] == "success":
            result["run"] = collect(channel)
    return transport, result


# ---------------------------------------------------------------------------------- attacks:
# requests and data on a running session


def running(transport, command="cat", with_pty=False):
    channel = session(transport)
    if with_pty:
        pty_request(channel, "xterm", 80, 24, 0, 0)
    answer = channel_request(channel, "exec", True, command)
    if answer != "success":
        raise Refused("exec %s: %s" % (command, answer))
    return channel


@attack("target")
def window_change_flood(options, transport):
    # Through a pty, EOF does not end `cat`: `head -n 1` ends after the line that follows.
    channel = running(transport, "head -n 1", with_pty=True)
    sizes = [(0, 0), (65535, 65535), (UINT32_MAX, UINT32_MAX), (80, 24)]
    count = 10000
    for n in range(count):
        cols, rows = sizes[n % len(sizes)]
        channel_request(channel, "window-change", False, cols, rows, cols, rows)
    result = {"sent": "%d window-changes cycling 0x0, 65535x65535, 2^32-1" % count}
    result["after"] = collect(channel, b"after-resizes\n")
    return transport, result


@attack("target")
def signal_flood(options, transport):
    channel = running(transport)
    names = [BAD_UTF8, b"KILL" + BAD_UTF8, b"x" * 10000, b"", ESCAPES, b"NOSUCHSIGNAL"]
    count = 10000
    for n in range(count):
        channel_request(channel, "signal", False, names[n % len(names)])
    result = {"sent": "%d signal requests with names that are no signal" % count}
    result["after"] = collect(channel, b"after-signals\n")
    return transport, result


@attack("target")
def requests_after_start(options, transport):
    """Every other request a client can make, on a running channel, hostile where possible."""
    channel = running(transport)
    requests = [
        ("x11-req", False, BAD_UTF8, BAD_UTF8, UINT32_MAX),
        ("auth-agent-req@openssh.com",),
        # Not keepalive@openssh.com: libssh answers it with a failure even without want_reply,
        # and paramiko closes a channel whose request failed.
        ("xon-xoff", True),
        ("break", UINT32_MAX),
        ("exit-status", UINT32_MAX),
        ("exit-signal", BAD_UTF8, True, BAD_UTF8, BAD_UTF8),
        ("shell",),
        ("exec", b"echo second exec"),
        ("subsystem", b"sftp"),
        ("pty-req", b"xterm", 80, 24, 0, 0, b"\x00"),
        ("env", b"LANG", b"C"),
        (BAD_UTF8,),
        ("window-change",),  # its fields missing
        ("pty-req", b"xterm"),  # cut short
    ]
    for request in requests:
        channel_request(channel, request[0], False, *request[1:])
    result = {"sent": "%d channel requests on a running cat, several malformed" % len(requests)}
    result["after"] = collect(channel, b"after-requests\n")
    return transport, result


@attack("target")
def data_after_eof(options, transport):
    channel = running(transport)
    channel.sendall(b"before-eof\n")
    send(transport, cMSG_CHANNEL_EOF, channel.remote_chanid)
    send(transport, cMSG_CHANNEL_DATA, channel.remote_chanid, b"after-eof\n")
    send(transport, cMSG_CHANNEL_EXTENDED_DATA, channel.remote_chanid, 1, b"stderr-after-eof\n")
    send(transport, cMSG_CHANNEL_EXTENDED_DATA, channel.remote_chanid, UINT32_MAX, b"?")
    send(transport, cMSG_CHANNEL_EOF, channel.remote_chanid)
    channel.eof_sent = True  # so paramiko does not send a third one
    return transport, {"sent": "data, EOF, data, extended data (types 1 and 2^32-1), EOF",
                       "run": collect(channel, close_stdin=False)}


@attack("target")
def data_after_close(options, transport):
    channel = running(transport)
    send(transport, cMSG_CHANNEL_CLOSE, channel.remote_chanid)
    for _ in range(100):
        send(transport, cMSG_CHANNEL_DATA, channel.remote_chanid, b"after-close\n")
    send(transport, cMSG_CHANNEL_REQUEST, channel.remote_chanid, "window-change", False,
         UINT32_MAX, UINT32_MAX, 0, 0)
    send(transport, cMSG_CHANNEL_CLOSE, channel.remote_chanid)
    return transport, {"sent": "close, then 100 data packets, a window-change and a second close"}


@attack("target")
def window_adjust_overflow(options, transport):
    """Two window adjusts of 2^32-1: the daemon's view of our window must not wrap."""
    channel = session(transport)
    channel_request(channel, "exec", True, "head -c 3M /dev/zero")
    send(transport, cMSG_CHANNEL_WINDOW_ADJUST, channel.remote_chanid, UINT32_MAX)
    send(transport, cMSG_CHANNEL_WINDOW_ADJUST, channel.remote_chanid, UINT32_MAX)
    return transport, {"sent": "exec head -c 3M, two window adjusts of 2^32-1",
                       "run": collect(channel)}


@attack("target")
def data_beyond_window(options, transport):
    """32 MiB sent without regard to the daemon's window, to a command that reads nothing.
    libssh 0.10 only logs a window overrun and buffers the data, and the daemon does not cut
    such a client off yet (docs/security.md, "Not covered yet"): 256 MiB grew it by 258 MiB.
    This checks that it survives the flood and gives the memory back; the RSS bound of the
    test holds for this size. A daemon that stops reading the socket or ends the connection is
    right too, so the sending stops after a while and the connection is dropped."""
    channel, _ = session_with(transport, "sleep 60")
    chunk = b"z" * 32768
    sent = [0]

    def flood():
        try:
            while sent[0] < 32 * ONE_MB and transport.is_active():
                send(transport, cMSG_CHANNEL_DATA, channel.remote_chanid, chunk)
                sent[0] += len(chunk)
        except (EOFError, OSError, paramiko.SSHException):
            pass

    sender = threading.Thread(target=flood, daemon=True)
    sender.start()
    sender.join(10)
    report = {"sent": "%d MiB of channel data ignoring the window" % (sent[0] // ONE_MB),
              "daemon_kept_reading": not sender.is_alive()}
    transport.close()
    return None, report


# ---------------------------------------------------------------------------------- running


def run_attack(options, name, login, function):
    """Runs one attack under a watchdog: an attack that has not finished after ATTACK_LIMIT
    seconds (paramiko blocked on a daemon that stopped reading, say) counts as a hang."""
    started = time.monotonic()
    result = {"attack": name}
    transport = None
    if login != "none":
        username = options.target_login if login == "target" else options.control_login
        transport = connect(options, username)
        result["client"] = "%s:%d" % transport.sock.getsockname()[:2]
    outcome = {}
    worker = threading.Thread(target=attack_body, args=(options, transport, function, outcome),
                              daemon=True)
    worker.start()
    worker.join(ATTACK_LIMIT)
    if worker.is_alive():
        outcome.update({"probe": "no answer", "hung": True,
                        "why": "the attack did not finish in %d s" % ATTACK_LIMIT})
    if "script_error" in outcome:
        raise ScriptError(outcome["script_error"])
    for used in (transport, outcome.pop("transport", None)):
        if used is not None:
            note_transport_error(used, result)
            used.close()
    result.update(outcome)
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def attack_body(options, transport, function, outcome):
    try:
        transport, report = function(options, transport)
        outcome["transport"] = transport
        outcome.update(report)
        outcome["probe"] = probe(transport) if transport is not None else "not needed"
        outcome["hung"] = False
    except Suspicious as silence:
        outcome.update({"probe": "no answer", "hung": True, "why": str(silence)})
    except Refused as refusal:
        outcome.update({"probe": "not run", "hung": False, "refused": str(refusal)})
    except (paramiko.SSHException, EOFError, OSError) as error:
        # The daemon ended the connection mid-attack (allowed), or it died (the test sees that).
        outcome.update({"probe": "connection closed", "hung": False,
                        "error": "%s: %s" % (type(error).__name__, error)})
    except Exception:  # a bug in this script, not in the daemon
        outcome["script_error"] = traceback.format_exc()


def note_transport_error(transport, result):
    """What ended paramiko's side of the connection, if anything did (a message from the
    daemon it could not parse, say)."""
    error = transport.get_exception() if not transport.is_active() else None
    if error is not None:
        result["transport_error"] = "%s: %s" % (type(error).__name__, error)


class ScriptError(Exception):
    pass


def parse_options():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True, help="the user's private key file")
    parser.add_argument("--target-login", required=True, help="e.g. alice:db01")
    parser.add_argument("--control-login", required=True, help="e.g. alice")
    parser.add_argument("--only", action="append", default=[],
                        help="run just these attacks (names separated by commas)")
    parser.add_argument("--list", action="store_true", help="print the attack names and exit")
    parser.add_argument("--paramiko-log", help="write paramiko's debug log to this file")
    options = parser.parse_args()
    if options.only == [""]:
        options.only = []
    options.only = [name for names in options.only for name in names.split(",")]
    if options.paramiko_log:
        paramiko.util.log_to_file(options.paramiko_log)
    else:
        # Refusals are the expected answers here, not news for stderr.
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    if not options.list:
        options.key = load_key(options.key)
    return options


def main():
    options = parse_options()
    chosen = [a for a in ATTACKS if not options.only or a[0] in options.only]
    if options.list:
        for name, _, _ in chosen:
            print(name)
        return 0
    if options.only and len(chosen) != len(options.only):
        print("unknown attack in --only: %s" % options.only, file=sys.stderr)
        return 1
    failed = False
    for name, login, function in chosen:
        try:
            result = run_attack(options, name, login, function)
        except ScriptError as error:
            result = {"attack": name, "script_error": str(error)}
            failed = True
        except (paramiko.SSHException, EOFError, OSError) as error:
            # Logging in failed: the daemon is down or refused a normal login.
            result = {"attack": name, "probe": "no login", "hung": False,
                      "error": "%s: %s" % (type(error).__name__, error)}
        print(json.dumps(result), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
