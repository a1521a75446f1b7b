//! The HTTPS webhook receiver the alert tests use, checked with a plain
//! client (curl): it records what it is sent, answers ids, and its
//! certificate is trusted only through its own CA. No test fleet needed.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::https::Receiver;

const WAIT: Duration = Duration::from_secs(10);

/// curl, bounded and never through a proxy, trusting `ca` if given.
fn curl(ca: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--noproxy", "*", "--connect-timeout", "5"])
        .args(["--max-time", "10"]);
    if let Some(ca) = ca {
        cmd.arg("--cacert").arg(ca);
    }
    cmd.args(args).output().expect("run curl")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "curl failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn answer_id(stdout: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(stdout).expect("answer is JSON");
    v["id"].as_str().expect("id").to_owned()
}

#[test]
fn a_trusted_receiver_records_each_request_and_answers_an_id() {
    let rx = Receiver::start(true);
    let url = rx.url("/api/webhooks/1/tok?wait=true");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let ca = rx.ca_file();

    let first = ok(&curl(
        Some(&ca),
        &[
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"content":"hello"}"#,
            &url,
        ],
    ));
    assert_eq!(answer_id(&first), "1");
    let second = ok(&curl(
        Some(&ca),
        &[
            "-X",
            "PATCH",
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
            &rx.url("api/webhooks/1/tok/messages/1"),
        ],
    ));
    assert_eq!(answer_id(&second), "2");

    let got = rx.wait_for(2, WAIT);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0]["method"], "POST");
    assert_eq!(got[0]["path"], "/api/webhooks/1/tok?wait=true");
    assert_eq!(got[0]["headers"]["content-type"], "application/json");
    assert_eq!(got[0]["body"], r#"{"content":"hello"}"#);
    assert_eq!(got[0]["status"], 200);
    assert_eq!(got[1]["method"], "PATCH");
    assert_eq!(got[1]["path"], "/api/webhooks/1/tok/messages/1");
    assert_eq!(rx.bodies()[0]["content"], "hello");
}

#[test]
fn a_large_body_arrives_whole() {
    let rx = Receiver::start(true);
    let big = serde_json::json!({"text": "x".repeat(200_000)}).to_string();
    let file = rx.dir().join("big.json");
    std::fs::write(&file, &big).expect("write body");
    let data = format!("@{}", file.display());
    ok(&curl(
        Some(&rx.ca_file()),
        &["--data-binary", &data, &rx.url("big")],
    ));
    let got = rx.wait_for(1, WAIT);
    assert_eq!(got[0]["body"].as_str().map(str::len), Some(big.len()));
}

#[test]
fn the_status_can_be_changed() {
    let rx = Receiver::start(true);
    rx.set_status(500);
    let out = curl(
        Some(&rx.ca_file()),
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-d",
            "{}",
            &rx.url("x"),
        ],
    );
    assert_eq!(ok(&out), "500");
    assert_eq!(rx.wait_for(1, WAIT)[0]["status"], 500);
}

#[test]
fn without_the_ca_the_certificate_is_refused() {
    let rx = Receiver::start(true);
    let out = curl(None, &["-d", "{}", &rx.url("x")]);
    assert!(!out.status.success(), "accepted without the CA");
    // 60: peer certificate cannot be authenticated with known CA certificates.
    assert_eq!(
        out.status.code(),
        Some(60),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(rx.requests().is_empty(), "{:#?}", rx.requests());

    // The server is still fine afterwards.
    ok(&curl(Some(&rx.ca_file()), &["-d", "{}", &rx.url("x")]));
    assert_eq!(rx.wait_for(1, WAIT).len(), 1);
}

#[test]
fn an_untrusted_receiver_is_refused_even_with_the_ca() {
    let rx = Receiver::start(false);
    let out = curl(Some(&rx.ca_file()), &["-d", "{}", &rx.url("x")]);
    assert_eq!(
        out.status.code(),
        Some(60),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(rx.requests().is_empty(), "{:#?}", rx.requests());

    // It is the self-signed certificate being served: trusting it works.
    ok(&curl(Some(&rx.cert_file()), &["-d", "{}", &rx.url("y")]));
    let got = rx.wait_for(1, WAIT);
    assert_eq!(got[0]["path"], "/y");
}

#[test]
fn dropping_the_receiver_stops_the_server() {
    let rx = Receiver::start(true);
    let (url, ca) = (rx.url("x"), rx.ca_file());
    let ca_copy = std::env::temp_dir().join(format!("flotilla-https-ca-{}.pem", rx.port()));
    std::fs::copy(&ca, &ca_copy).expect("copy CA");
    drop(rx);
    let out = curl(Some(&ca_copy), &["-d", "{}", &url]);
    let _ = std::fs::remove_file(&ca_copy);
    // 7: could not connect (the port may rarely be reused by another
    // test's receiver, which does not trust this CA).
    assert!(
        !out.status.success(),
        "the server outlived its Receiver: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
