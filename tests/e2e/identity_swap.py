#!/usr/bin/python3
"""A client that tries to change who it is while the bastion accepts its key.

It logs in as USER with USER's key, which needs a TOTP code next. Just before sending the signed
key, it makes the bastion look up another name (OTHER) with a key query, so that lookup is still
running when USER's key is accepted. Then it answers the TOTP prompt with CODE, runs
`whoami --json` and prints the reply. A bastion that let the late lookup replace the accepted
identity would answer as OTHER (found in review, issue 13); tests/e2e/workflow_test.cpp checks
that the reply names USER.

Run with /usr/bin/python3: Debian's python3-paramiko is not on a pyenv python's path.
"""

import argparse
import queue
import socket
import sys

import paramiko
from paramiko.common import (
    MSG_SERVICE_ACCEPT,
    MSG_USERAUTH_BANNER,
    MSG_USERAUTH_FAILURE,
    MSG_USERAUTH_INFO_REQUEST,
    MSG_USERAUTH_SUCCESS,
    cMSG_SERVICE_REQUEST,
    cMSG_USERAUTH_INFO_RESPONSE,
    cMSG_USERAUTH_REQUEST,
)
from paramiko.message import Message

WAIT = 30.0


class Replies:
    """Stands in for paramiko's AuthHandler, whose state machine cannot follow two requests in
    flight: every authentication reply goes into a queue, in the order it arrived."""

    def __init__(self):
        self.queue = queue.Queue()
        self.authenticated = False
        self._handler_table = {
            kind: (lambda kind: lambda _, m: self.queue.put((kind, m)))(kind)
            for kind in (MSG_SERVICE_ACCEPT, MSG_USERAUTH_FAILURE, MSG_USERAUTH_SUCCESS,
                         MSG_USERAUTH_INFO_REQUEST, MSG_USERAUTH_BANNER)
        }

    def is_authenticated(self):
        return self.authenticated

    def next(self, *wanted):
        while True:
            kind, message = self.queue.get(timeout=WAIT)
            if kind in wanted:
                return kind, message


def userauth(username, method):
    message = Message()
    message.add_byte(cMSG_USERAUTH_REQUEST)
    message.add_string(username)
    message.add_string("ssh-connection")
    message.add_string(method)
    return message


def key_query(username, key):
    """"Would this key do for USERNAME?": a publickey request without a signature."""
    message = userauth(username, "publickey")
    message.add_boolean(False)
    message.add_string(key.get_name())
    message.add_string(key.asbytes())
    return message


def signed_key(transport, username, key):
    """A publickey request signed over the session id, as RFC 4252 section 7 says."""
    signed = Message()
    signed.add_string(transport.session_id)
    signed.add_byte(cMSG_USERAUTH_REQUEST)
    signed.add_string(username)
    signed.add_string("ssh-connection")
    signed.add_string("publickey")
    signed.add_boolean(True)
    signed.add_string(key.get_name())
    signed.add_string(key.asbytes())
    message = userauth(username, "publickey")
    message.add_boolean(True)
    message.add_string(key.get_name())
    message.add_string(key.asbytes())
    message.add_string(key.sign_ssh_data(signed.asbytes()).asbytes())
    return message


def is_partial_success(message):
    message.get_list()  # the methods that can continue
    return message.get_boolean()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True, help="USER's private key file")
    parser.add_argument("--user", required=True)
    parser.add_argument("--other", required=True)
    parser.add_argument("--code", required=True, help="USER's current TOTP code")
    options = parser.parse_args()

    key = paramiko.Ed25519Key.from_private_key_file(options.key)
    stranger = paramiko.ECDSAKey.generate()
    sock = socket.create_connection((options.host, options.port), timeout=WAIT)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = WAIT
    transport.start_client(timeout=WAIT)
    replies = Replies()
    transport.auth_handler = replies

    service = Message()
    service.add_byte(cMSG_SERVICE_REQUEST)
    service.add_string("ssh-userauth")
    transport._send_message(service)
    replies.next(MSG_SERVICE_ACCEPT)

    # The bastion learns who USER is (the stranger's key is refused), so USER's signed key below
    # is answered at once, while the lookup of OTHER it sees just before is still on a worker.
    transport._send_message(key_query(options.user, stranger))
    replies.next(MSG_USERAUTH_FAILURE)
    # Corked, the two requests leave in one segment and the bastion reads them together.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    transport._send_message(key_query(options.other, stranger))
    transport._send_message(signed_key(transport, options.user, key))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
    while not is_partial_success(replies.next(MSG_USERAUTH_FAILURE)[1]):
        pass  # the refusal for OTHER

    interactive = userauth(options.user, "keyboard-interactive")
    interactive.add_string("")  # language
    interactive.add_string("")  # submethods
    transport._send_message(interactive)
    replies.next(MSG_USERAUTH_INFO_REQUEST)
    answer = Message()
    answer.add_byte(cMSG_USERAUTH_INFO_RESPONSE)
    answer.add_int(1)
    answer.add_string(options.code)
    transport._send_message(answer)
    kind, _ = replies.next(MSG_USERAUTH_SUCCESS, MSG_USERAUTH_FAILURE)
    if kind != MSG_USERAUTH_SUCCESS:
        print("the TOTP code was refused", file=sys.stderr)
        return 1
    replies.authenticated = True

    channel = transport.open_session(timeout=WAIT)
    channel.settimeout(WAIT)
    channel.exec_command("whoami --json")
    reply = b""
    while True:
        data = channel.recv(65536)
        if not data:
            break
        reply += data
    print(reply.decode("utf-8", "replace"), end="")
    transport.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
