//! A callback receiver to try datahog with: it verifies each callback's Standard Webhooks
//! signature, answers 200 when it verifies (401 otherwise) and prints one line per callback.
//!
//! ```sh
//! cargo run --release -p api --example receiver                # 127.0.0.1:9000, secret from datahog.db.whsec
//! cargo run --release -p api --example receiver -- --port 9001 --secret whsec_...
//! ```
//!
//! Without `--secret` (`WEBHOOK_SECRET`) it reads the secret from `--secret-file`
//! (`datahog.db.whsec`, the file the embedded api creates in its working directory) on every
//! callback, so it may start before the api has created the file.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Parser;
use ring::hmac;

/// How far a callback's `webhook-timestamp` may be from now, as Standard Webhooks
/// recommends: an older signed request replayed later is refused.
const TIMESTAMP_TOLERANCE_SECONDS: i64 = 5 * 60;

/// A local receiver for datahog's signed callbacks.
#[derive(Debug, Parser)]
#[command(name = "receiver")]
struct Cli {
    /// Port to listen on, on 127.0.0.1.
    #[arg(long, env = "RECEIVER_PORT", default_value_t = 9000)]
    port: u16,

    /// The signing secret, `whsec_<base64>` (the `default` tenant's, or the one
    /// `GET /v1/signing-secret` shows). Unset: read from `--secret-file`.
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    secret: Option<String>,

    /// The file holding the secret when `--secret` is unset.
    #[arg(long, env = "RECEIVER_SECRET_FILE", default_value = "datahog.db.whsec")]
    secret_file: PathBuf,
}

/// Where the secret comes from.
#[derive(Debug, Clone)]
enum SecretSource {
    /// Given at start.
    Given(String),
    /// Read from this file on every callback.
    File(PathBuf),
}

impl SecretSource {
    /// The secret's text, as it stands now.
    fn text(&self) -> Result<String, Refused> {
        match self {
            SecretSource::Given(text) => Ok(text.clone()),
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| Refused::NoSecret(format!("{}: {e}", path.display()))),
        }
    }
}

/// Why a callback does not verify.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum Refused {
    /// The secret could not be read.
    #[error("no secret: {0}")]
    NoSecret(String),
    /// The secret is not `whsec_<base64>`.
    #[error("the secret is not `whsec_<base64>`")]
    BadSecret,
    /// A Standard Webhooks header is missing or not text.
    #[error("header `{0}` missing")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not a number of seconds.
    #[error("`webhook-timestamp` is not Unix seconds")]
    BadTimestamp,
    /// The timestamp is further from now than the tolerance.
    #[error("`webhook-timestamp` is {0} s from now (more than 5 minutes)")]
    StaleTimestamp(i64),
    /// No `v1,` entry of `webhook-signature` is the HMAC of this message.
    #[error("no `v1,` signature matches")]
    NoMatch,
}

/// The HMAC key of a `whsec_` secret: the base64-decoded part after the prefix (not the
/// text itself).
fn key(secret: &str) -> Result<hmac::Key, Refused> {
    let encoded = secret
        .trim()
        .strip_prefix("whsec_")
        .ok_or(Refused::BadSecret)?;
    let bytes = STANDARD.decode(encoded).map_err(|_| Refused::BadSecret)?;
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

/// Checks one callback: the signed content is `<webhook-id>.<webhook-timestamp>.<body>`, and
/// one matching entry of the space-separated `v1,<base64>` list is enough (during a
/// rotation's overlap there is one per valid secret).
fn verify(secret: &str, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), Refused> {
    let key = key(secret)?;
    let header = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(Refused::MissingHeader(name))
    };
    let id = header("webhook-id")?;
    let timestamp = header("webhook-timestamp")?;
    let signatures = header("webhook-signature")?;
    let seconds: i64 = timestamp.parse().map_err(|_| Refused::BadTimestamp)?;
    if (now - seconds).abs() > TIMESTAMP_TOLERANCE_SECONDS {
        return Err(Refused::StaleTimestamp(now - seconds));
    }
    let mut content = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    // ring compares in constant time, so a forger learns nothing from how long it took.
    let matches = signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|tag| STANDARD.decode(tag).ok())
        .any(|tag| hmac::verify(&key, &content, &tag).is_ok());
    if matches {
        Ok(())
    } else {
        Err(Refused::NoMatch)
    }
}

/// Seconds since the Unix epoch.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Answers one callback and prints its line.
async fn callback(
    State(source): State<Arc<SecretSource>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED;
    }
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let verdict = source
        .text()
        .and_then(|secret| verify(&secret, &headers, &body, unix_now()));
    let (status, word) = match &verdict {
        Ok(()) => (StatusCode::OK, "verified".to_owned()),
        Err(reason) => (StatusCode::UNAUTHORIZED, format!("NOT verified ({reason})")),
    };
    // One line per callback, whatever the body holds.
    let text = String::from_utf8_lossy(&body).replace(['\r', '\n'], " ");
    // Not println!: it panics when stdout is a closed pipe.
    let _ = writeln!(std::io::stdout(), "{id} {word} {text}");
    status
}

/// The receiver: every path takes callbacks (a `callbackUrl` may name any).
fn app(source: SecretSource) -> Router {
    Router::new()
        .fallback(callback)
        .with_state(Arc::new(source))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let source = match cli.secret {
        Some(text) => SecretSource::Given(text),
        None => SecretSource::File(cli.secret_file),
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, cli.port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let from = match &source {
        SecretSource::Given(_) => "--secret / WEBHOOK_SECRET".to_owned(),
        SecretSource::File(path) => path.display().to_string(),
    };
    let _ = writeln!(
        std::io::stdout(),
        "receiver: http://{addr}/hook  (secret from {from}; 200 when the signature verifies, 401 otherwise)"
    );
    axum::serve(listener, app(source)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::delivery::signature::{Secret, sign_all};

    const BODY: &[u8] = br#"{"id":"01J","status":"completed","data":{}}"#;

    /// The headers the engine sends for `body`, signed with each of `secrets`.
    fn signed(secrets: &[Secret], timestamp: i64, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", "01J".parse().unwrap());
        headers.insert("webhook-timestamp", timestamp.to_string().parse().unwrap());
        let signature = sign_all(secrets, "01J", timestamp, body);
        headers.insert("webhook-signature", signature.parse().unwrap());
        headers
    }

    #[test]
    fn the_engines_signature_verifies_and_a_changed_body_does_not() {
        let secret = Secret::generate().unwrap();
        let now = unix_now();
        let headers = signed(std::slice::from_ref(&secret), now, BODY);
        assert_eq!(verify(&secret.to_text(), &headers, BODY, now), Ok(()));
        let changed = br#"{"id":"01J","status":"failed","data":{}}"#;
        assert_eq!(
            verify(&secret.to_text(), &headers, changed, now),
            Err(Refused::NoMatch)
        );
    }

    #[test]
    fn another_secret_does_not_verify_but_one_of_two_signatures_is_enough() {
        let (old, new, other) = (
            Secret::generate().unwrap(),
            Secret::generate().unwrap(),
            Secret::generate().unwrap(),
        );
        let now = unix_now();
        let headers = signed(&[new, old.clone()], now, BODY);
        assert_eq!(verify(&old.to_text(), &headers, BODY, now), Ok(()));
        assert_eq!(
            verify(&other.to_text(), &headers, BODY, now),
            Err(Refused::NoMatch)
        );
    }

    #[test]
    fn the_key_is_the_decoded_secret_not_its_text() {
        let secret = Secret::generate().unwrap();
        let text = secret.to_text();
        let now = unix_now();
        let headers = signed(&[secret], now, BODY);
        // A receiver keyed with the text itself must not verify, or this test proves nothing.
        let wrong = format!("whsec_{}", STANDARD.encode(text.as_bytes()));
        assert_eq!(verify(&wrong, &headers, BODY, now), Err(Refused::NoMatch));
        assert_eq!(
            verify("secret", &headers, BODY, now),
            Err(Refused::BadSecret)
        );
    }

    #[test]
    fn a_stale_timestamp_or_a_missing_header_is_refused() {
        let secret = Secret::generate().unwrap();
        let now = unix_now();
        let old = signed(std::slice::from_ref(&secret), now - 600, BODY);
        assert_eq!(
            verify(&secret.to_text(), &old, BODY, now),
            Err(Refused::StaleTimestamp(600))
        );
        let mut headers = signed(std::slice::from_ref(&secret), now, BODY);
        headers.remove("webhook-signature");
        assert_eq!(
            verify(&secret.to_text(), &headers, BODY, now),
            Err(Refused::MissingHeader("webhook-signature"))
        );
    }

    #[tokio::test]
    async fn over_http_a_signed_callback_gets_200_and_a_forged_one_401() {
        let secret = Secret::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("datahog.db.whsec");
        std::fs::write(&file, format!("{}\n", secret.to_text())).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = app(SecretSource::File(file));
        tokio::spawn(async move { axum::serve(listener, app).await });

        let client = reqwest::Client::new();
        let post = |headers: HeaderMap| {
            client
                .post(&url)
                .headers(headers)
                .body(BODY.to_vec())
                .send()
        };
        let good = post(signed(std::slice::from_ref(&secret), unix_now(), BODY))
            .await
            .unwrap();
        assert_eq!(good.status(), 200);
        let forged = post(signed(&[Secret::generate().unwrap()], unix_now(), BODY))
            .await
            .unwrap();
        assert_eq!(forged.status(), 401);
    }
}
