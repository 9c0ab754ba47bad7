//! A server running on its own thread with its own Tokio runtime.
//!
//! Dropping [`BackgroundServer`] stops the accept loop, drops the runtime
//! (which cancels every connection task and closes its sockets) and joins the
//! thread.

use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

pub(crate) struct BackgroundServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundServer {
    /// Runs `serve(listener)` on a new thread. The listener is already bound,
    /// so the address is known (and connectable) when this returns.
    pub(crate) fn spawn<F, Fut>(name: &str, listener: std::net::TcpListener, serve: F) -> Self
    where
        F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let addr = listener.local_addr().expect("listener address");
        listener
            .set_nonblocking(true)
            .expect("set_nonblocking on listener");
        let (tx, rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("test-{name}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("build server runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    tokio::select! {
                        _ = serve(listener) => {}
                        _ = rx => {}
                    }
                });
                // Dropping the runtime cancels all connection tasks.
                drop(rt);
            })
            .expect("spawn server thread");
        BackgroundServer {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Do not turn a test panic into a double panic.
            let _ = thread.join();
        }
    }
}
