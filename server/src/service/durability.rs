//! Group commit: appended events become durable together.
//!
//! An append commits without its own fsync and takes a ticket; one flusher
//! thread fsyncs the log for every ticket issued so far and then announces
//! them durable. A client hears "sent" (and other clients see the event)
//! only after its ticket is durable, so nothing acknowledged can be lost,
//! while one fsync serves as many appends as arrived meanwhile.

use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::watch;

use crate::{error::Result, storage::Storage};

/// Tickets issued and flushed.
pub struct Durability {
    issued: Mutex<u64>,
    wake: Condvar,
    durable: watch::Sender<u64>,
}

impl Durability {
    /// Starts the flusher thread for `storage`.
    pub fn start(storage: Arc<dyn Storage>) -> Arc<Self> {
        let this = Arc::new(Self {
            issued: Mutex::new(0),
            wake: Condvar::new(),
            durable: watch::channel(0).0,
        });
        let flusher = Arc::downgrade(&this);
        std::thread::Builder::new()
            .name("weft-flush".into())
            .spawn(move || {
                let mut flushed = 0;
                loop {
                    let Some(this) = flusher.upgrade() else { return };
                    let target = {
                        let mut issued = this.issued.lock().unwrap_or_else(|p| p.into_inner());
                        while *issued == flushed {
                            let (guard, timeout) = this
                                .wake
                                .wait_timeout(issued, std::time::Duration::from_secs(1))
                                .unwrap_or_else(|p| p.into_inner());
                            issued = guard;
                            if timeout.timed_out() && *issued == flushed && Arc::strong_count(&this) == 1 {
                                return; // The server is gone.
                            }
                        }
                        *issued
                    };
                    match storage.flush() {
                        Ok(()) => {
                            flushed = target;
                            this.durable.send_replace(target);
                        }
                        Err(e) => {
                            // Waiters keep waiting: nothing unflushed is acknowledged.
                            tracing::error!(error = %e, "flushing the database log failed; retrying");
                            std::thread::sleep(std::time::Duration::from_millis(100));
                        }
                    }
                }
            })
            .expect("spawn flusher thread");
        this
    }

    /// Takes a ticket for everything committed so far.
    pub fn ticket(&self) -> u64 {
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        *issued += 1;
        self.wake.notify_one();
        *issued
    }

    /// Waits until the ticket's writes are on disk.
    pub async fn wait(&self, ticket: u64) -> Result<()> {
        let mut rx = self.durable.subscribe();
        while *rx.borrow_and_update() < ticket {
            if rx.changed().await.is_err() {
                return Err(crate::error::Error::internal("flusher stopped"));
            }
        }
        Ok(())
    }
}
