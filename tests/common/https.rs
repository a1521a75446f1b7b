//! A local HTTPS webhook receiver for end-to-end tests of alert delivery:
//! a private CA and a server certificate for 127.0.0.1 made with the
//! `openssl` CLI in a tempdir, and a Python 3 `http.server` behind
//! `ssl.SSLContext` that records every request as one JSON line and answers
//! `200 {"id": "<n>"}` (what Discord's `wait=true` gives back). Only
//! 127.0.0.1 is ever listened on or talked to; every wait is bounded.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long the server gets to print its port.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Certificates live this long; tests are much shorter.
const DAYS: &str = "2";

/// The server: `cert key log status_file`; prints its port, then serves.
const SERVER: &str = r#"
import http.server, json, os, ssl, sys, threading

cert, key, log, status_file = sys.argv[1:5]
lock = threading.Lock()
count = [0]
KEEP = ("content-type", "content-length", "user-agent", "authorization",
        "host", "transfer-encoding")


def read_body(h):
    if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
        body = b""
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                # Trailers, then the blank line.
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return body
            body += h.rfile.read(size)
            h.rfile.readline()
    n = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(n) if n > 0 else b""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections and stalled clients give up.
    timeout = 10

    def setup(self):
        # The handshake happens here, in this request's thread, so a client
        # that stalls or rejects the certificate cannot block the accept loop.
        self.request.settimeout(self.timeout)
        self.request.do_handshake()
        super().setup()

    def answer(self):
        body = read_body(self)
        status = 200
        try:
            with open(status_file) as f:
                status = int(f.read().strip() or "200")
        except (OSError, ValueError):
            pass
        with lock:
            count[0] += 1
            rid = str(count[0])
            record = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()
                            if k.lower() in KEEP or k.lower().startswith("x-")},
                "body": body.decode("utf-8", "replace"),
                "status": status,
            }
            with open(log, "a") as f:
                f.write(json.dumps(record) + "\n")
        out = json.dumps({"id": rid}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
        self.wfile.flush()

    do_POST = do_PATCH = do_PUT = do_GET = do_DELETE = answer

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Failed handshakes are what the untrusted mode is for.
        pass


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = Server(("127.0.0.1", 0), Handler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                             do_handshake_on_connect=False)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

/// The CA: a self-signed root allowed to sign certificates.
const CA_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
x509_extensions = ca
[dn]
CN = flotilla test CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
";

/// The server's certificate for 127.0.0.1 (signed by the CA), and the
/// untrusted self-signed one for the same address.
const SERVER_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = 127.0.0.1
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[selfsigned]
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
";

/// An HTTPS server on 127.0.0.1 that records what it is sent. Killed on drop.
pub struct Receiver {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    served_cert: PathBuf,
}

impl Receiver {
    /// `trusted`: serve the CA-signed certificate (clients given
    /// [`Receiver::ca_file`] accept it); otherwise a self-signed one no CA
    /// vouches for.
    pub fn start(trusted: bool) -> Receiver {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        make_certs(d);
        let (cert, key) = if trusted {
            ("server.pem", "server.key")
        } else {
            ("self.pem", "self.key")
        };
        let script = d.join("server.py");
        std::fs::write(&script, SERVER).expect("write server script");
        let stderr = std::fs::File::create(d.join("server.stderr")).expect("stderr file");
        let mut child = Command::new("python3")
            .arg("-u")
            .arg(&script)
            .args([d.join(cert), d.join(key), d.join("requests.jsonl")])
            .arg(d.join("status"))
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("start python3");
        let stdout = child.stdout.take().expect("server stdout");
        let mut receiver = Receiver {
            child,
            port: 0,
            served_cert: d.join(cert),
            dir,
        };
        // The first line is the port; read on a thread so a hung start is bounded.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(read.map(|_| line));
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => panic!("reading the server's port: {e}; {}", receiver.stderr()),
            Err(_) => panic!(
                "the HTTPS receiver did not start within {START_TIMEOUT:?}; {}",
                receiver.stderr()
            ),
        };
        receiver.port = line.trim().parse().unwrap_or_else(|_| {
            panic!(
                "the HTTPS receiver printed {line:?}, not a port; {}",
                receiver.stderr()
            )
        });
        receiver
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://127.0.0.1:PORT/path` (a leading `/` is optional).
    pub fn url(&self, path: &str) -> String {
        format!(
            "https://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// The private CA's certificate (PEM) that the trusted server's chains to.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The certificate being served (PEM): CA-signed, or the self-signed one.
    pub fn cert_file(&self) -> PathBuf {
        self.served_cert.clone()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Answer later requests with this HTTP status instead of 200 (the
    /// body is still `{"id": …}`).
    pub fn set_status(&self, status: u16) {
        std::fs::write(self.dir.path().join("status"), status.to_string()).expect("write status");
    }

    /// Every request so far, oldest first: `method`, `path` (with the query),
    /// `headers` (content-type, content-length, user-agent, authorization,
    /// host, transfer-encoding, x-*; names lowercase), `body` (text) and the
    /// `status` answered.
    pub fn requests(&self) -> Vec<Value> {
        let text =
            std::fs::read_to_string(self.dir.path().join("requests.jsonl")).unwrap_or_default();
        // A line still being written has no newline yet.
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        complete
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("a recorded request is JSON"))
            .collect()
    }

    /// Waits until at least `n` requests arrived; panics with what did
    /// arrive if they do not within `timeout`.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} requests within {timeout:?}, got {}: {got:#?}; {}",
                got.len(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The bodies of the requests so far, parsed as JSON.
    pub fn bodies(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .map(|r| {
                let body = r["body"].as_str().unwrap_or_default();
                serde_json::from_str(body)
                    .unwrap_or_else(|e| panic!("request body is not JSON ({e}): {body:?}"))
            })
            .collect()
    }

    /// What the server wrote to stderr (for failure messages).
    pub fn stderr(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("server.stderr")).unwrap_or_default();
        if text.trim().is_empty() {
            "server stderr empty".to_owned()
        } else {
            format!("server stderr:\n{text}")
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// ca.{key,pem}; server.{key,pem} for IP 127.0.0.1 signed by the CA;
/// self.{key,pem}, self-signed for 127.0.0.1 and trusted by nobody.
fn make_certs(d: &Path) {
    std::fs::write(d.join("ca.cnf"), CA_CNF).expect("write ca.cnf");
    std::fs::write(d.join("server.cnf"), SERVER_CNF).expect("write server.cnf");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut args = vec!["req", "-x509", "-new", "-config", "ca.cnf", "-days", DAYS];
    args.extend(ec);
    args.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(d, &args);

    let mut args = vec!["req", "-new", "-config", "server.cnf"];
    args.extend(ec);
    args.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(d, &args);
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2",
            "-days",
            DAYS,
            "-extfile",
            "server.cnf",
            "-extensions",
            "leaf",
            "-out",
            "server.pem",
        ],
    );

    let mut args = vec![
        "req",
        "-x509",
        "-new",
        "-config",
        "server.cnf",
        "-extensions",
        "selfsigned",
        "-days",
        DAYS,
    ];
    args.extend(ec);
    args.extend(["-keyout", "self.key", "-out", "self.pem"]);
    openssl(d, &args);
}
