//! Binding a listening socket with an error that says what to change.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpListener;

/// Listens on `addr`, which the environment variable `variable` sets; on failure the error
/// names both, e.g. "cannot listen on 127.0.0.1:8080 (LISTEN_ADDR): address already in
/// use; stop what listens there or set LISTEN_ADDR to another address".
pub async fn bind(addr: SocketAddr, variable: &str) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|error| explain(error, addr, variable))
}

fn explain(error: io::Error, addr: SocketAddr, variable: &str) -> io::Error {
    let advice = match error.kind() {
        io::ErrorKind::AddrInUse => {
            format!("; stop what listens there or set {variable} to another address")
        }
        _ => format!("; set {variable} to an address this machine has"),
    };
    io::Error::new(
        error.kind(),
        format!("cannot listen on {addr} ({variable}): {error}{advice}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_address_in_use_names_itself_and_its_variable() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let error = bind(addr, "LISTEN_ADDR").await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
        let message = error.to_string();
        assert!(message.contains(&addr.to_string()), "{message}");
        assert!(
            message.contains("set LISTEN_ADDR to another address"),
            "{message}"
        );
    }
}
