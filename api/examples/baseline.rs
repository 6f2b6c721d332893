//! A bare axum server, the yardstick of `scripts/bench`: what axum alone does on this
//! machine for a hello GET and a small JSON POST parsed with serde. It also takes webhook
//! callbacks (`POST /hook`, answered 204) for submissions whose callbacks nobody counts.
//!
//! `cargo run --release -p api --example baseline -- 127.0.0.1:9000`

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

/// The same shape as an increment.
#[derive(Deserialize)]
struct Small {
    key: String,
    value: i64,
}

async fn hello() -> &'static str {
    "hello"
}

async fn accept(Json(body): Json<Small>) -> StatusCode {
    std::hint::black_box((&body.key, body.value));
    StatusCode::ACCEPTED
}

async fn hook() -> StatusCode {
    StatusCode::NO_CONTENT
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let app = Router::new()
        .route("/health", get(hello))
        .route("/hello", get(hello))
        .route("/json", post(accept))
        .route("/hook", post(hook));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("baseline on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
