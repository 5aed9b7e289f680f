//! Weft homeserver: the Matrix Client-Server API over SQLite, serving the
//! Weft web client. Layers: `api` (HTTP, typed ruma requests) → `service`
//! (Matrix behaviour) → `storage` (persistence behind a trait).

pub mod api;
pub mod config;
pub mod error;
pub mod service;
pub mod storage;
pub mod turn_relay;
pub mod web;

use std::{path::Path, sync::Arc};

use tokio::net::TcpListener;

use crate::{config::Config, service::Services, storage::sqlite::SqliteStorage};

/// File name of the SQLite database inside the data folder.
pub const DATABASE_FILE: &str = "weft.db";

/// Why the server could not start. Each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data_dir `{path}`: {problem}")]
    DataDir { path: String, problem: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Database(String),
}

/// Opens the data folder (creating it on first start) and the database.
///
/// If this start created the folder (and any missing parents) and then failed,
/// what it created is removed again, so a failed first start leaves nothing
/// half-written behind.
pub fn open_services(config: &Config) -> Result<Services, StartError> {
    let dir = &config.data_dir;
    let data_err = |problem: String| StartError::DataDir {
        path: dir.display().to_string(),
        problem,
    };
    let created = match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => None,
        Ok(_) => return Err(data_err("exists but is not a directory".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // The outermost folder that does not exist yet: removing it removes all we made.
            let outermost = dir
                .ancestors()
                .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
                .last()
                .unwrap_or(dir)
                .to_path_buf();
            std::fs::create_dir_all(dir).map_err(|e| data_err(format!("cannot create it: {e}")))?;
            Some(outermost)
        }
        Err(e) => return Err(data_err(format!("cannot access it: {e}"))),
    };
    let result = check_writable(dir).map_err(data_err).and_then(|()| {
        let storage = SqliteStorage::open(&dir.join(DATABASE_FILE))
            .map_err(|e| StartError::Database(error::Error::from(e).to_string()))?;
        Services::new(config.clone(), Arc::new(storage))
            .map_err(|e| StartError::Database(e.to_string()))
    });
    if result.is_err()
        && let Some(created) = created
    {
        let _ = std::fs::remove_dir_all(created);
    }
    result
}

fn check_writable(dir: &Path) -> Result<(), String> {
    let probe = dir.join(".weft-write-test");
    std::fs::write(&probe, b"ok").map_err(|e| format!("is not writable: {e}"))?;
    std::fs::remove_file(&probe).map_err(|e| format!("is not writable: {e}"))
}

/// Binds the listener; separate from [`serve`] so tests can use port 0.
pub async fn bind(config: &Config) -> Result<TcpListener, StartError> {
    TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })
}

/// Serves until the future `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    services: Services,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = api::router(services).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
