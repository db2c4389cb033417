//! TCP_NODELAY for PostgreSQL connections.
//!
//! sqlx 0.9.0 stopped setting TCP_NODELAY on its sockets (sqlx issue #4335; the fix is
//! merged upstream, not yet released) and has no option for it. Over TLS a query is
//! written as several TLS records; Nagle's algorithm then holds the last record back
//! until the server acknowledges the first, and the server delays that ack by ~40 ms.
//! Every batch paid two or three such stalls: 2,500 leads/s instead of 6,000+.
//!
//! sqlx does not hand out the socket, so after each new connection this sets the option
//! on every TCP socket of the process. That is what we want for all of them (lapin sets
//! it on its own); on descriptors that are not TCP sockets the call fails and changes
//! nothing. Remove this once sqlx releases the fix.

/// Sets TCP_NODELAY on every TCP socket this process holds (Linux; elsewhere a no-op).
pub(crate) fn apply_to_all_tcp_sockets() {
    #[cfg(target_os = "linux")]
    {
        let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
            return;
        };
        for entry in dir.flatten() {
            let Some(fd) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            set_nodelay(fd);
        }
    }
}

#[cfg(target_os = "linux")]
fn set_nodelay(fd: libc::c_int) {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt only reads `one` (its size is passed along); on a descriptor
    // that is not a TCP socket, or one closed meanwhile, it returns an error and changes
    // nothing, and enabling NODELAY on any TCP socket of ours is harmless.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn enables_nodelay_on_open_tcp_sockets() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert!(!client.nodelay().unwrap() && !server.nodelay().unwrap());
        super::apply_to_all_tcp_sockets();
        assert!(client.nodelay().unwrap() && server.nodelay().unwrap());
    }
}
