"""common.sockets.readable_now: the pools' check of an idle connection, without waiting."""

import socket

from common.sockets import readable_now


def test_a_quiet_socket_is_not_readable_and_what_waits_is_left_unread():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not readable_now(ours.fileno())
        theirs.sendall(b"last words")
        assert readable_now(ours.fileno())
        assert ours.recv(100) == b"last words"  # the peek consumed nothing


def test_a_socket_whose_peer_hung_up_is_readable():
    ours, theirs = socket.socketpair()
    with ours:
        theirs.close()
        assert readable_now(ours.fileno())


def test_no_socket_at_all_counts_as_readable():
    assert readable_now(-1)
