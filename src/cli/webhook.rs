//! `watch --webhook URL`: POSTs each notification's JSON from a task of its
//! own, so a slow or failing endpoint never holds up watch. The queue is
//! bounded: when the endpoint falls behind, the oldest waiting notification
//! is dropped (and counted) rather than memory growing without end.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Notify;

/// Longest one POST may take (connect, send, answer).
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Notifications waiting for the endpoint before the oldest is dropped.
pub const QUEUE: usize = 100;

/// A checked `--webhook` URL: `http://host[:port][/path]`. https is refused
/// with the reason: flotilla carries no TLS stack.
pub fn parse(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("--webhook {url:?}: not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "--webhook {url:?}: https is not supported (flotilla has no TLS client); \
                 use an http:// URL, e.g. a relay on localhost that forwards to Slack"
            ));
        }
        _ => {
            return Err(format!(
                "--webhook {url:?}: the URL must start with http://"
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("--webhook {url:?}: no host in the URL"));
    }
    Ok(uri)
}

/// Notifications waiting to be sent, and how many were dropped unsent.
#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<String>,
    dropped: u64,
    /// One taken from `items` and being POSTed.
    sending: bool,
}

impl Queue {
    /// Adds one; when full the oldest goes. True when one was dropped.
    fn push(&mut self, body: String, cap: usize) -> bool {
        let full = self.items.len() >= cap;
        if full {
            self.items.pop_front();
            self.dropped += 1;
        }
        self.items.push_back(body);
        full
    }
}

/// The sending end: `send` never waits.
pub struct Webhook {
    url: String,
    queue: Arc<Mutex<Queue>>,
    wake: Arc<Notify>,
}

impl Webhook {
    /// Starts the sender task (needs a tokio runtime).
    pub fn spawn(uri: Uri) -> Webhook {
        let queue = Arc::new(Mutex::new(Queue::default()));
        let wake = Arc::new(Notify::new());
        let url = uri.to_string();
        tokio::spawn(sender(uri, queue.clone(), wake.clone()));
        Webhook { url, queue, wake }
    }

    /// Queues one JSON body for POSTing.
    pub fn send(&self, body: String) {
        let (dropped, total) = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let dropped = q.push(body, QUEUE);
            (dropped, q.dropped)
        };
        if dropped {
            eprintln!(
                "flotilla: --webhook {}: falling behind, dropped the oldest waiting notification ({total} dropped so far)",
                self.url
            );
        }
        self.wake.notify_one();
    }

    /// Waits (up to `within`) for what is queued to be sent; says on stderr
    /// how many notifications were not delivered when time ran out.
    pub async fn flush(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = {
                let q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                q.items.len() + usize::from(q.sending)
            };
            if left == 0 {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                eprintln!(
                    "flotilla: --webhook {}: {left} notification(s) not delivered when watch ended",
                    self.url
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// POSTs queued bodies one at a time; failures are reported, never fatal.
async fn sender(uri: Uri, queue: Arc<Mutex<Queue>>, wake: Arc<Notify>) {
    let client: Client<HttpConnector, String> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    loop {
        let next = {
            let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
            let next = q.items.pop_front();
            q.sending = next.is_some();
            next
        };
        let Some(body) = next else {
            wake.notified().await;
            continue;
        };
        if let Err(e) = post(&client, &uri, body).await {
            eprintln!("flotilla: --webhook {uri}: {e} (notification not delivered)");
        }
        queue.lock().unwrap_or_else(|p| p.into_inner()).sending = false;
    }
}

async fn post(
    client: &Client<HttpConnector, String>,
    uri: &Uri,
    body: String,
) -> Result<(), String> {
    let req = hyper::Request::post(uri.clone())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "flotilla-watch")
        .body(body)
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(POST_TIMEOUT, client.request(req))
        .await
        .map_err(|_| format!("no answer within {}s", POST_TIMEOUT.as_secs()))?
        .map_err(|e| format!("POST failed: {e}"))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("the endpoint answered {status}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_with_a_host_pass() {
        let ok = parse("http://127.0.0.1:8080/hook").expect("http");
        assert_eq!(ok.path(), "/hook");
        assert!(parse("http://relay.local").is_ok());
        let https = parse("https://hooks.slack.com/services/X").expect_err("https");
        assert!(https.contains("https is not supported"), "{https}");
        assert!(parse("ftp://x/y").is_err());
        assert!(parse("not a url").is_err());
        assert!(parse("/just/a/path").is_err());
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts() {
        let mut q = Queue::default();
        assert!(!q.push("a".into(), 2));
        assert!(!q.push("b".into(), 2));
        assert!(q.push("c".into(), 2));
        assert!(q.push("d".into(), 2));
        assert_eq!(q.items, ["c", "d"]);
        assert_eq!(q.dropped, 2);
    }

    #[tokio::test]
    async fn a_dead_endpoint_is_reported_not_fatal() {
        // A port nothing listens on: bound then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let uri = parse(&format!("http://127.0.0.1:{port}/")).expect("uri");
        let client: Client<HttpConnector, String> =
            Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let err = post(&client, &uri, "{}".into()).await.expect_err("refused");
        assert!(err.starts_with("POST failed"), "{err}");
    }
}
