//! The HTTP/1.1 accept loop: the axum router on hyper connections, with the
//! deadlines `axum::serve` does not have.
//!
//! - A client gets [`HttpLimits::header_read_timeout`] to send a request's
//!   head; a connection that sends nothing (idle keep-alive included) or
//!   trickles its headers is closed after it. (hyper's timer; `axum::serve`
//!   sets none, so a slow client held its connection for ever.)
//! - A graceful stop refuses new connections, lets each open one finish the
//!   request it is serving, and after [`HttpLimits::drain`] closes those that
//!   have not, so no client can hold the shutdown up.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Deadlines for clients.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpLimits {
    /// Time to send a request's head, counted from the end of the previous
    /// request on the connection (or from its opening).
    pub header_read_timeout: Duration,
    /// How long a graceful stop waits for open connections.
    pub drain: Duration,
}

/// Where the server is in stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// Finish the request in flight, then close.
    Draining,
    /// Close now.
    Closing,
}

/// Serve `app` on `listener` until `shutdown` completes, then drain. Returns
/// how many connections were still open when the drain ended (and were closed).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) -> usize {
    let (phase, phase_rx) = watch::channel(Phase::Serving);
    let mut shutdown = pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // A connection that failed before it was accepted is the
                    // client's business; anything else (out of file
                    // descriptors) gets a pause rather than a busy loop.
                    if !is_connection_error(&e) {
                        tracing::error!("accepting a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers go out at once, not held back by Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let mut phase = phase_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
            let mut conn = pin!(builder.serve_connection(TokioIo::new(tcp), service));
            let mut draining = false;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => break,
                    changed = phase.changed() => {
                        let now = *phase.borrow_and_update();
                        if changed.is_err() || now == Phase::Closing {
                            break;
                        }
                        if now == Phase::Draining && !draining {
                            draining = true;
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    drop(phase_rx);
    phase.send_replace(Phase::Draining);
    // Every connection task holds a receiver: all gone, all closed.
    if tokio::time::timeout(limits.drain, phase.closed()).await.is_ok() {
        return 0;
    }
    let open = phase.receiver_count();
    phase.send_replace(Phase::Closing);
    open
}

/// Errors of one connection that the listener itself survives.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}
