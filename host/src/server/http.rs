//! The HTTP/1.1 accept loop: the axum router on hyper connections, with the
//! deadlines `axum::serve` does not have.
//!
//! - A client gets [`HttpLimits::header_read_timeout`] to send a request's
//!   head; a connection that sends nothing (idle keep-alive included) or
//!   trickles its headers is closed after it. (hyper's timer; `axum::serve`
//!   sets none, so a slow client held its connection for ever.)
//! - A graceful stop lets each open connection finish the request it is
//!   serving, and keeps the listener open while the server's in-flight work
//!   drains: new connections are still accepted and answered (one request
//!   each), so a load balancer's `/readyz` probe gets 503 rather than
//!   "connection refused", and a webhook gets 503 with `Retry-After`. After
//!   [`HttpLimits::drain`] everything still open is closed, so no client can
//!   hold the shutdown up.

use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tower::ServiceExt;

/// Deadlines for clients.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpLimits {
    /// Time to send a request's head, counted from the end of the previous
    /// request on the connection (or from its opening).
    pub header_read_timeout: Duration,
    /// How long a graceful stop waits for open connections and in-flight work.
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

/// Serve `app` on `listener` until `shutdown` completes, then drain: the
/// connections open then finish their requests, and until they have and
/// `work_drained` has completed too (the caller's in-flight work), new
/// connections are still answered, one request each. Returns how many
/// connections were still open when the drain ended (and were closed).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
    work_drained: impl Future<Output = ()>,
) -> usize {
    let (phase, phase_rx) = watch::channel(Phase::Serving);
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            accepted = accept(&listener) => if let Some(tcp) = accepted {
                spawn_connection(tcp, &app, limits, phase_rx.clone(), true);
            },
            () = &mut shutdown => break,
        }
    }
    drop(phase_rx);
    phase.send_replace(Phase::Draining);
    let deadline = tokio::time::Instant::now() + limits.drain;
    // Connections accepted while draining: answered once each, then closed.
    let (late, late_rx) = watch::channel(Phase::Draining);
    {
        let mut drained = pin!(async {
            // Every connection task holds a receiver: all gone, all closed.
            phase.closed().await;
            work_drained.await;
        });
        loop {
            tokio::select! {
                accepted = accept(&listener) => if let Some(tcp) = accepted {
                    spawn_connection(tcp, &app, limits, late_rx.clone(), false);
                },
                () = &mut drained => break,
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
    }
    drop(listener);
    drop(late_rx);
    let all_closed = async {
        phase.closed().await;
        late.closed().await;
    };
    if tokio::time::timeout_at(deadline, all_closed).await.is_ok() {
        return 0;
    }
    let open = phase.receiver_count() + late.receiver_count();
    phase.send_replace(Phase::Closing);
    late.send_replace(Phase::Closing);
    open
}

/// The next connection; `None` after an error the listener survives.
async fn accept(listener: &TcpListener) -> Option<TcpStream> {
    match listener.accept().await {
        Ok((tcp, _)) => Some(tcp),
        Err(e) => {
            // A connection that failed before it was accepted is the
            // client's business; anything else (out of file descriptors)
            // gets a pause rather than a busy loop.
            if !is_connection_error(&e) {
                tracing::error!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            None
        }
    }
}

/// Serve one connection until it ends or `phase` says to close it. When the
/// server starts draining, a connection finishes the request it is serving
/// and closes; one that has not received a request yet answers its first
/// one (its client may have sent it already) and closes then.
fn spawn_connection(
    tcp: TcpStream,
    app: &Router,
    limits: HttpLimits,
    mut phase: watch::Receiver<Phase>,
    keep_alive: bool,
) {
    // Answers go out at once, not held back by Nagle's algorithm.
    let _ = tcp.set_nodelay(true);
    let first_request = Arc::new(Notify::new());
    let served = Arc::new(AtomicBool::new(false));
    let (started, seen) = (first_request.clone(), served.clone());
    let service = TowerToHyperService::new(app.clone().map_request(move |request: Request<Incoming>| {
        if !seen.swap(true, Ordering::Relaxed) {
            started.notify_one();
        }
        request
    }));
    tokio::spawn(async move {
        // Accepted before the drain began but started after it: one request.
        let keep_alive = keep_alive && *phase.borrow_and_update() == Phase::Serving;
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(keep_alive);
        let mut conn = pin!(builder.serve_connection(TokioIo::new(tcp), service));
        let (mut draining, mut until_first) = (!keep_alive, false);
        loop {
            tokio::select! {
                _ = conn.as_mut() => break,
                () = first_request.notified(), if until_first => {
                    until_first = false;
                    conn.as_mut().graceful_shutdown();
                }
                changed = phase.changed() => {
                    let now = *phase.borrow_and_update();
                    if changed.is_err() || now == Phase::Closing {
                        break;
                    }
                    if now == Phase::Draining && !draining {
                        draining = true;
                        if served.load(Ordering::Relaxed) {
                            conn.as_mut().graceful_shutdown();
                        } else {
                            until_first = true;
                        }
                    }
                }
            }
        }
    });
}

/// Errors of one connection that the listener itself survives.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}
