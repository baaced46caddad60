//! The background runtime: drives connections that must outlive any one
//! user runtime (the default cluster), and lets blocking code `.wait()`.

use std::sync::OnceLock;
use tokio::runtime::Handle;

/// The process-wide background runtime ("distob-io" thread), started on first use.
pub(crate) fn background() -> &'static Handle {
    static HANDLE: OnceLock<Handle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("distob-io".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match rt {
                    Ok(rt) => {
                        // The receiver waits for exactly this message.
                        let _ = tx.send(Some(rt.handle().clone()));
                        rt.block_on(std::future::pending::<()>());
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot build the background runtime");
                        let _ = tx.send(None);
                    }
                }
            });
        match spawned.ok().and_then(|_| rx.recv().ok().flatten()) {
            Some(handle) => handle,
            // No thread or no runtime: the process is out of resources. Every
            // later call would fail the same way, so fail loudly once here.
            None => panic!("distob: cannot start its background runtime thread"),
        }
    })
}

/// The runtime to drive new connections on: the caller's when there is one.
pub(crate) fn current_or_background() -> Handle {
    Handle::try_current().unwrap_or_else(|_| background().clone())
}
