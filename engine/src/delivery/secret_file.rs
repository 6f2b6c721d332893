//! The `default` tenant's signing secret when none is configured: embedded, it is kept in
//! a file beside the database, created on first start, readable by its owner only.

use crate::config::{ConfigError, StoreConfig};
use crate::context::ContextError;
use crate::delivery::signature::Secret;

/// The callbacks' signing secret: the configured one, or (embedded) the one kept beside
/// the database file, created on first start; none in production without `WEBHOOK_SECRET`.
pub fn signing_secret(
    store: &StoreConfig,
    configured: Option<&str>,
) -> Result<Option<Secret>, ContextError> {
    if let Some(text) = configured {
        return Secret::parse(text).map(Some).map_err(|reason| {
            ContextError::Config(ConfigError {
                variable: "WEBHOOK_SECRET",
                reason,
            })
        });
    }
    let Some(path) = store.sqlite_file().filter(|_| store.embedded()) else {
        return Ok(None);
    };
    let path = format!("{path}.whsec");
    let failed = |reason: String| ContextError::SecretFile {
        path: path.clone(),
        reason,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Secret::parse(&text).map(Some).map_err(failed),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = Secret::generate().map_err(|e| failed(e.to_string()))?;
            write_private(&path, &secret.to_text()).map_err(|e| failed(e.to_string()))?;
            tracing::info!(path = %path, "created the callback signing secret; receivers verify signatures with it (or set WEBHOOK_SECRET)");
            Ok(Some(secret))
        }
        Err(e) => Err(failed(e.to_string())),
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &str, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}
