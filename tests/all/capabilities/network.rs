//! Network: denied. A plugin cannot connect to a listener on the host, and
//! the listener sees no connection.

use std::net::TcpListener;

use super::{ask, probe};

#[test]
fn connecting_to_a_host_listener_is_denied() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    let mut instance = probe(&crate::engine(), "");
    let answer = ask(&mut instance, &format!("connect {address}"));
    assert_eq!(answer, "error: PermissionDenied", "connected");
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        "the listener saw a connection: {accepted:?}"
    );
}

#[test]
fn name_lookups_are_denied() {
    let mut instance = probe(&crate::engine(), "");
    assert_eq!(
        ask(&mut instance, "connect localhost:80"),
        // wasi-libc's text for WASI's `permanent-resolver-failure`.
        "error: Uncategorized: failed to lookup address information: Non-recoverable error"
    );
}
