//! Loopback ports chosen at run time.

use std::net::TcpListener;

/// A port that was free on 127.0.0.1 a moment ago (bound to port 0, read,
/// released). Another process may take it before you bind it, so callers that
/// hand it to a child process must retry with a new one when the bind fails
/// (as [`crate::support::RegistryServer::start`] does). In-process servers
/// should use [`bind_loopback`] instead, which keeps the socket.
pub fn free_port() -> u16 {
    bind_loopback()
        .local_addr()
        .expect("local_addr of a bound listener")
        .port()
}

/// A listener bound to 127.0.0.1 on a port the kernel picked.
pub fn bind_loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}
