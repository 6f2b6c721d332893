//! What every answer tells a browser, and what hyper refuses before the app sees it.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Mode, TestApp};

#[tokio::test]
async fn swagger_ui_may_not_be_framed_and_loads_only_its_own_files() {
    let app = TestApp::spawn(Mode::Embedded).await;
    for path in ["/swagger-ui/", "/swagger-ui/swagger-initializer.js"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        let policy = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "frame-ancestors 'none'",
            "default-src 'none'",
            "script-src 'self'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
    }
}

#[tokio::test]
async fn every_answer_says_nosniff() {
    let app = TestApp::spawn(Mode::Embedded).await;
    for (path, status) in [
        ("/health", 200),
        ("/api-docs/openapi.json", 200),
        ("/v1/vehicles/2/state?at=2022-09-12T10:00:00Z", 200),
        ("/v1/webhooks/01NOPE", 404),
        ("/v1/counters?page=0", 400),
        ("/no/such/route", 404),
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
}

#[tokio::test]
async fn more_than_a_hundred_request_headers_answer_431() {
    let app = TestApp::spawn(Mode::Embedded).await;
    let send = async |count: usize| {
        let address = app.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).await.unwrap();
        let mut request = format!("GET /health HTTP/1.1\r\nhost: {address}\r\n");
        for i in 1..count {
            request.push_str(&format!("x-filler-{i}: {i}\r\n"));
        }
        request.push_str("connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    };
    // `host` and `connection` included: 100 headers pass, 101 do not.
    let within = send(99).await;
    assert!(within.starts_with("HTTP/1.1 200"), "{within}");
    let over = send(101).await;
    assert!(
        over.starts_with("HTTP/1.1 431"),
        "a request with too many headers: {over:?}"
    );
}
