//! Fault-injecting proxies for end-to-end tests: a TCP proxy in front of a
//! fleet host's sshd (latency, cut connections, black hole) and a unix-socket
//! proxy in front of a host's dockerd that never answers chosen requests.
//! Each runs on its own thread and runtime, so plain `#[test]`s can use them.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// Runs a future to completion on a fresh thread with its own runtime.
fn spawn_runtime<F>(fut: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("proxy runtime");
        rt.block_on(fut);
    });
}

/// A TCP proxy on 127.0.0.1 in front of `upstream`.
pub struct TcpProxy {
    addr: SocketAddr,
    /// One-way delay per chunk, in milliseconds.
    delay_ms: Arc<AtomicU64>,
    /// While set, new connections are accepted and then never answered.
    blackhole: Arc<AtomicBool>,
    /// Bumped to cut every open connection.
    cut: watch::Sender<u64>,
    stop: watch::Sender<bool>,
}

impl TcpProxy {
    pub fn start(upstream: SocketAddr, one_way_delay: Duration) -> TcpProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("proxy addr");
        let delay_ms = Arc::new(AtomicU64::new(one_way_delay.as_millis() as u64));
        let blackhole = Arc::new(AtomicBool::new(false));
        let (cut, cut_rx) = watch::channel(0u64);
        let (stop, mut stop_rx) = watch::channel(false);
        let (d, b) = (delay_ms.clone(), blackhole.clone());
        spawn_runtime(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stop_rx.changed() => return,
                };
                let Ok((client, _)) = accepted else { continue };
                let (d, b, mut cut_rx, mut stop_rx) =
                    (d.clone(), b.clone(), cut_rx.clone(), stop_rx.clone());
                cut_rx.borrow_and_update();
                tokio::spawn(async move {
                    if b.load(Ordering::SeqCst) {
                        // Hold the socket open, say nothing, until cut or stopped.
                        tokio::select! {
                            _ = cut_rx.changed() => {}
                            _ = stop_rx.changed() => {}
                        }
                        drop(client);
                        return;
                    }
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::select! {
                        _ = pipe(cr, sw, d.clone()) => {}
                        _ = pipe(sr, cw, d) => {}
                        _ = cut_rx.changed() => {}
                        _ = stop_rx.changed() => {}
                    }
                });
            }
        });
        TcpProxy {
            addr,
            delay_ms,
            blackhole,
            cut,
            stop,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Closes every open connection (as a restarted sshd or a reset link would).
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// New connections hang (a host that went dark); open ones are cut.
    pub fn set_blackhole(&self, on: bool) {
        self.blackhole.store(on, Ordering::SeqCst);
        if on {
            self.cut();
        }
    }

    pub fn set_delay(&self, one_way: Duration) {
        self.delay_ms
            .store(one_way.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Copies `from` to `to`, delivering each chunk `delay` after it was read
/// (chunks keep their order; a latency, not a bandwidth limit).
async fn pipe<R, W>(mut from: R, mut to: W, delay_ms: Arc<AtomicU64>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(tokio::time::Instant, Vec<u8>)>(256);
    let writer = tokio::spawn(async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let at = tokio::time::Instant::now()
                    + Duration::from_millis(delay_ms.load(Ordering::SeqCst));
                if tx.send((at, buf[..n].to_vec())).await.is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// A unix-socket proxy in front of a Docker daemon that forwards every
/// request except those `hang` picks: from such a request on, its connection
/// gets no answer (a sick dockerd), while other connections work.
pub struct DockerProxy {
    path: PathBuf,
    hanging: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
}

/// Decides from the request line ("GET /v1.47/containers/abc/json") whether to hang it.
pub type HangRule = fn(method: &str, path: &str) -> bool;

/// Picks requests the proxy answers itself, as Docker would answer an error:
/// (status, message); they never reach the daemon.
pub type AnswerRule = fn(method: &str, path: &str) -> Option<(u16, String)>;

/// What the proxy does to the requests it picks.
#[derive(Clone, Copy)]
enum Rule {
    Hang(HangRule),
    Answer(AnswerRule),
}

impl DockerProxy {
    pub fn start(upstream: &Path, path: &Path, hang: HangRule) -> DockerProxy {
        Self::spawn(upstream, path, Rule::Hang(hang))
    }

    /// A proxy that answers the requests `answer` picks with an error.
    pub fn answering(upstream: &Path, path: &Path, answer: AnswerRule) -> DockerProxy {
        Self::spawn(upstream, path, Rule::Answer(answer))
    }

    fn spawn(upstream: &Path, path: &Path, rule: Rule) -> DockerProxy {
        let _ = std::fs::remove_file(path);
        let listener = std::os::unix::net::UnixListener::bind(path).expect("bind docker proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let upstream = upstream.to_owned();
        let hanging = Arc::new(AtomicU64::new(0));
        let (stop, mut stop_rx) = watch::channel(false);
        let h = hanging.clone();
        spawn_runtime(async move {
            let listener =
                tokio::net::UnixListener::from_std(listener).expect("tokio unix listener");
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stop_rx.changed() => return,
                };
                let Ok((client, _)) = accepted else { continue };
                let (upstream, h, mut stop_rx) = (upstream.clone(), h.clone(), stop_rx.clone());
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::UnixStream::connect(&upstream).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (mut sr, sw) = server.into_split();
                    let (hung_tx, mut hung_rx) = watch::channel(false);
                    let (answer_tx, mut answer_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
                    let down = async move {
                        let mut cw = cw;
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            tokio::select! {
                                r = sr.read(&mut buf) => match r {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => if cw.write_all(&buf[..n]).await.is_err() { return },
                                },
                                // The client waits for nothing else (no pipelining).
                                Some(answer) = answer_rx.recv() => {
                                    if cw.write_all(&answer).await.is_err() { return }
                                }
                                // Once hung, nothing more reaches the client.
                                _ = hung_rx.changed() => std::future::pending::<()>().await,
                            }
                        }
                    };
                    let to = Upstream {
                        to: sw,
                        hanging: h,
                        hung: hung_tx,
                        answers: answer_tx,
                    };
                    tokio::select! {
                        _ = requests(cr, to, rule) => {}
                        _ = down => {}
                        _ = stop_rx.changed() => {}
                    }
                });
            }
        });
        DockerProxy {
            path: path.to_owned(),
            hanging,
            stop,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many requests have been left hanging so far.
    pub fn hung(&self) -> u64 {
        self.hanging.load(Ordering::SeqCst)
    }
}

impl Drop for DockerProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Where a connection's requests go: the daemon, or for the picked ones a
/// hang (counted) or an answer of the proxy's own.
struct Upstream {
    to: tokio::net::unix::OwnedWriteHalf,
    hanging: Arc<AtomicU64>,
    hung: watch::Sender<bool>,
    answers: tokio::sync::mpsc::Sender<Vec<u8>>,
}

/// Docker's error answer: `{"message": …}` with the status.
fn error_answer(status: u16, message: &str) -> Vec<u8> {
    let body = serde_json::json!({ "message": message }).to_string();
    format!(
        "HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Forwards requests client → daemon, reading each request head; a request
/// the rule picks is swallowed and the connection left open and silent, or
/// answered by the proxy.
async fn requests(mut from: tokio::net::unix::OwnedReadHalf, up: Upstream, rule: Rule) {
    let Upstream {
        mut to,
        hanging,
        hung,
        answers,
    } = up;
    let mut buf: Vec<u8> = Vec::new();
    // Bytes of the current request's body still to pass through unparsed.
    let mut body_left: usize = 0;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            if body_left > 0 {
                let take = body_left.min(buf.len());
                if to.write_all(&buf[..take]).await.is_err() {
                    return;
                }
                buf.drain(..take);
                body_left -= take;
                if body_left > 0 {
                    break;
                }
            }
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                break;
            };
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            let mut words = head.split_whitespace();
            let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            let answer = match rule {
                Rule::Answer(pick) => pick(method, path),
                Rule::Hang(_) => None,
            };
            if let Some((status, message)) = answer {
                // Only body-less requests are picked (rename, start, stop…).
                buf.drain(..end + 4);
                if answers.send(error_answer(status, &message)).await.is_err() {
                    return;
                }
                continue;
            }
            if matches!(rule, Rule::Hang(hang) if hang(method, path)) {
                hanging.fetch_add(1, Ordering::SeqCst);
                let _ = hung.send(true);
                // Keep the connection open and silent until the client gives up.
                let mut sink = vec![0u8; 4096];
                while let Ok(n) = from.read(&mut sink).await {
                    if n == 0 {
                        return;
                    }
                }
                return;
            }
            let chunked = head.lines().any(|l| {
                l.to_ascii_lowercase()
                    .starts_with("transfer-encoding: chunked")
            });
            body_left = head
                .lines()
                .find_map(|l| {
                    let l = l.to_ascii_lowercase();
                    l.strip_prefix("content-length:")
                        .and_then(|v| v.trim().parse().ok())
                })
                .unwrap_or(0);
            if to.write_all(&buf[..end + 4]).await.is_err() {
                return;
            }
            buf.drain(..end + 4);
            if chunked {
                // Not parsed: pass the rest of this connection through as is.
                if to.write_all(&buf).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy(&mut from, &mut to).await;
                return;
            }
        }
    }
}
