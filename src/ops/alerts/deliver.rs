//! Delivering notifications over HTTP and HTTPS (rustls with the platform's
//! roots, else Mozilla's, plus `[alerts] ca_file`; verification is never
//! off). Each webhook has its own task and bounded queue, so a slow or
//! failing endpoint never holds up `watch` or the other webhooks; when one
//! falls behind, its oldest waiting notification is dropped and counted.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{Notify, mpsc};

use super::format::{Method, Outgoing};

/// Longest one request may take (connect, TLS, send, answer).
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Notifications waiting per webhook before the oldest is dropped.
pub const QUEUE: usize = 100;
/// Most of an answer read (for a message id).
const ANSWER_MAX: usize = 64 * 1024;

pub type HttpClient = Client<HttpsConnector<HttpConnector>, String>;

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("alerts.ca_file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("TLS setup: {0}")]
    Tls(String),
}

/// One HTTP(S) client for every webhook: roots loaded once.
pub fn client(ca_file: Option<&Path>) -> Result<HttpClient, DeliverError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // One odd system certificate must not cost the rest.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(path) = ca_file {
        let ca_err = |reason: String| DeliverError::CaFile {
            path: path.to_owned(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| ca_err(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ca_err(e.to_string()))?;
        if certs.is_empty() {
            return Err(ca_err("no PEM certificate in it".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
        }
    }
    // ring, as russh already uses: no C toolchain (aws-lc) for a laptop
    // build; webhooks need no post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DeliverError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// One notification's requests, for one webhook.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The alert's key, so a message id can be tied back to it.
    pub key: String,
    pub requests: Vec<Outgoing>,
}

/// What a sender tells the watch loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The service named the message: kept to edit it on resolve.
    Kept {
        webhook: usize,
        key: String,
        id: String,
    },
    Failed {
        webhook: usize,
        error: String,
    },
    /// The queue was full; `total` dropped so far.
    Dropped {
        webhook: usize,
        total: u64,
    },
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Delivery>,
    dropped: u64,
    /// One taken from `items` and being sent.
    sending: bool,
}

/// The sending end of one webhook: `send` never waits.
pub struct Webhook {
    pub index: usize,
    pub label: String,
    queue: Arc<Mutex<Queue>>,
    wake: Arc<Notify>,
    reports: mpsc::Sender<Report>,
}

impl Webhook {
    /// Starts the sender task (needs a tokio runtime).
    pub fn spawn(
        index: usize,
        url: &str,
        client: HttpClient,
        reports: mpsc::Sender<Report>,
    ) -> Webhook {
        let queue = Arc::new(Mutex::new(Queue::default()));
        let wake = Arc::new(Notify::new());
        let sender = Sender {
            index,
            client,
            queue: queue.clone(),
            wake: wake.clone(),
            reports: reports.clone(),
        };
        tokio::spawn(sender.run());
        Webhook {
            index,
            label: crate::config::alerts::webhook_label(url),
            queue,
            wake,
            reports,
        }
    }

    pub fn send(&self, d: Delivery) {
        let dropped = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let full = q.items.len() >= QUEUE;
            if full {
                q.items.pop_front();
                q.dropped += 1;
            }
            q.items.push_back(d);
            full.then_some(q.dropped)
        };
        if let Some(total) = dropped {
            let _ = self.reports.try_send(Report::Dropped {
                webhook: self.index,
                total,
            });
        }
        self.wake.notify_one();
    }

    /// How many wait or are being sent.
    pub fn pending(&self) -> usize {
        let q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.items.len() + usize::from(q.sending)
    }
}

struct Sender {
    index: usize,
    client: HttpClient,
    queue: Arc<Mutex<Queue>>,
    wake: Arc<Notify>,
    reports: mpsc::Sender<Report>,
}

impl Sender {
    /// Sends queued deliveries one at a time; failures are reported, never fatal.
    async fn run(self) {
        loop {
            let next = {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                let next = q.items.pop_front();
                q.sending = next.is_some();
                next
            };
            let Some(d) = next else {
                self.wake.notified().await;
                continue;
            };
            for req in &d.requests {
                let report = match request(&self.client, req).await {
                    Ok(Some(id)) => Report::Kept {
                        webhook: self.index,
                        key: d.key.clone(),
                        id,
                    },
                    Ok(None) => continue,
                    Err(error) => Report::Failed {
                        webhook: self.index,
                        error,
                    },
                };
                // Reports are news, not work: never wait for the loop.
                let _ = self.reports.try_send(report);
            }
            self.queue.lock().unwrap_or_else(|p| p.into_inner()).sending = false;
        }
    }
}

/// Makes one request; the message id when asked to keep it.
pub async fn request(client: &HttpClient, out: &Outgoing) -> Result<Option<String>, String> {
    let method = match out.method {
        Method::Post => hyper::Method::POST,
        Method::Patch => hyper::Method::PATCH,
    };
    let req = hyper::Request::builder()
        .method(method)
        .uri(&out.url)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "flotilla-watch")
        .body(out.body.clone())
        .map_err(|e| e.to_string())?;
    let exchange = async {
        let resp = client.request(req).await.map_err(|e| explain(&e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("{} answered {status}", out.method));
        }
        if !out.keep_id {
            return Ok(None);
        }
        let body = http_body_util::Limited::new(resp.into_body(), ANSWER_MAX)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok(serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("id").and_then(|i| i.as_str().map(str::to_owned))))
    };
    tokio::time::timeout(POST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {}s", POST_TIMEOUT.as_secs()))?
}

/// The whole cause chain (hyper's own message is only "client error
/// (Connect)"), and what to do about an untrusted certificate.
fn explain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    let all = parts.join(": ");
    if all.contains("invalid peer certificate") {
        format!(
            "{all} (the endpoint's TLS certificate is not trusted: if it comes from a \
             private CA, name that CA's PEM file in [alerts] ca_file)"
        )
    } else {
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dead_endpoint_is_an_error_not_a_panic() {
        // A port nothing listens on: bound then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let client = client(None).expect("client");
        let out = Outgoing {
            method: Method::Post,
            url: format!("http://127.0.0.1:{port}/"),
            body: "{}".into(),
            keep_id: false,
        };
        let err = request(&client, &out).await.expect_err("refused");
        assert!(err.contains("onnect"), "{err}");
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "").expect("write");
        let e = client(Some(&empty))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("ca.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
    }
}
