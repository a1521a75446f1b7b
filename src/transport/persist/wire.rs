//! The control socket's small line protocol: one JSON object per line. A
//! client sends one request line (an `exec` is followed by its command
//! bytes); the daemon answers one line: `ok`, `exec` (its outputs follow as
//! counted bytes) or `err`. After `ok` to an `open`, the connection is a raw
//! byte stream to the host's Docker API.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

/// What follows `ok` to an `open`: how the daemon reached the Docker API.
pub const STREAMLOCAL: &str = "streamlocal";
pub const DIAL_STDIO: &str = "dial-stdio";

/// The protocol's name, part of the socket's: a daemon of another
/// protocol (an older flotilla still running) is never asked.
pub const PROTOCOL: &str = "json-lines-1";

/// Longest request or reply line accepted (a host name, numbers, an error).
pub const MAX_LINE: usize = 16 * 1024;

/// What is wrong with a control line.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("malformed control line: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("bad host name: {0}")]
    HostName(String),
    #[error("command of {0} bytes is too long")]
    CommandTooLong(usize),
    #[error("output of {len} bytes is over the limit of {limit}")]
    OutputTooLong { len: usize, limit: usize },
}

/// A request to the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Is this a live daemon of this flotilla version?
    Hello,
    /// A byte stream to `host`'s Docker API.
    Open { host: String, accept_new: bool },
    /// Run `command_len` bytes of command (they follow the line) on `host`,
    /// keeping at most `limit` bytes of each output.
    Exec {
        host: String,
        accept_new: bool,
        limit: usize,
        command_len: usize,
    },
    /// Exit now (`flotilla disconnect`).
    Stop,
}

/// One value as one line, newline included (JSON has no raw newlines).
fn line_of<T: Serialize>(value: &T) -> Result<String, WireError> {
    let mut line = serde_json::to_string(value)?;
    line.push('\n');
    Ok(line)
}

impl Request {
    pub fn line(&self) -> Result<String, WireError> {
        line_of(self)
    }

    /// Parses a request line (without its newline); host names follow the
    /// inventory's own rule, so a name it accepts always gets through.
    pub fn parse(line: &str) -> Result<Request, WireError> {
        let req: Request = serde_json::from_str(line)?;
        match &req {
            Request::Open { host, .. } | Request::Exec { host, .. } => {
                crate::config::check_host_name(host).map_err(WireError::HostName)?;
            }
            Request::Hello | Request::Stop => {}
        }
        if let Request::Exec { command_len, .. } = req
            && command_len > MAX_LINE
        {
            return Err(WireError::CommandTooLong(command_len));
        }
        Ok(req)
    }
}

/// The daemon's answer line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    /// Done; what it says (the channel kind to an `open`, the version to a
    /// `hello`).
    Ok(String),
    /// An `exec` ran: its outputs follow.
    Exec(ExecHeader),
    /// The error, verbatim.
    Err(String),
}

impl Reply {
    pub fn line(&self) -> Result<String, WireError> {
        line_of(self)
    }

    pub fn parse(line: &str) -> Result<Reply, WireError> {
        Ok(serde_json::from_str(line)?)
    }
}

/// An `exec`'s exit status (none when the server gave none) and the lengths
/// of stdout and stderr, which follow in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecHeader {
    pub exit_status: Option<u32>,
    pub stdout_len: usize,
    pub stderr_len: usize,
}

impl ExecHeader {
    /// Refuses outputs longer than the client asked to keep.
    pub fn within(self, limit: usize) -> Result<ExecHeader, WireError> {
        for len in [self.stdout_len, self.stderr_len] {
            if len > limit {
                return Err(WireError::OutputTooLong { len, limit });
            }
        }
        Ok(self)
    }
}

/// Reads one line (without its newline), byte by byte so that nothing after
/// it is consumed: after `OPEN` the same socket carries the spliced stream.
pub async fn read_line<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<String> {
    let mut line = Vec::new();
    loop {
        let byte = r.read_u8().await?;
        if byte == b'\n' {
            break;
        }
        if line.len() >= MAX_LINE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "control line too long",
            ));
        }
        line.push(byte);
    }
    String::from_utf8(line)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "control line not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_through_their_lines() {
        let all = [
            Request::Hello,
            Request::Stop,
            Request::Open {
                host: "web-1".into(),
                accept_new: false,
            },
            Request::Open {
                host: "db.2".into(),
                accept_new: true,
            },
            Request::Exec {
                host: "h".into(),
                accept_new: false,
                limit: 262_144,
                command_len: 12,
            },
        ];
        for req in all {
            let line = req.line().expect("a line");
            assert!(line.ends_with('\n'));
            assert_eq!(line.matches('\n').count(), 1);
            assert_eq!(
                Request::parse(line.trim_end_matches('\n')).expect("parses"),
                req
            );
        }
        assert_eq!(
            Request::Open {
                host: "web-1".into(),
                accept_new: false
            }
            .line()
            .expect("a line"),
            "{\"request\":\"open\",\"host\":\"web-1\",\"accept_new\":false}\n"
        );
    }

    #[test]
    fn malformed_requests_are_refused() {
        for bad in [
            "",
            "OPEN strict web",
            "{}",
            r#"{"request":"open"}"#,
            r#"{"request":"open","host":"web","accept_new":"maybe"}"#,
            r#"{"request":"open","host":"web","accept_new":false,"extra":1}"#,
            r#"{"request":"exec","host":"web","accept_new":false,"limit":10}"#,
            r#"{"request":"exec","host":"web","accept_new":false,"limit":"x","command_len":3}"#,
            r#"{"request":"exec","host":"web","accept_new":false,"limit":10,"command_len":999999999}"#,
            r#"{"request":"reboot"}"#,
        ] {
            assert!(Request::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn host_names_follow_the_inventory_rule() {
        for name in ["a/b", "../x", "-x", "web\u{202e}1", "h 1", ".."] {
            assert!(crate::config::check_host_name(name).is_err());
            for req in [
                Request::Open {
                    host: name.into(),
                    accept_new: false,
                },
                Request::Exec {
                    host: name.into(),
                    accept_new: false,
                    limit: 10,
                    command_len: 3,
                },
            ] {
                let line = req.line().expect("a line");
                let err = Request::parse(line.trim_end()).expect_err(&line);
                assert!(err.to_string().starts_with("bad host name"), "{err}");
            }
        }
        for name in ["web-1", "db.2", "x_y"] {
            let line = format!(r#"{{"request":"open","host":"{name}","accept_new":false}}"#);
            assert!(Request::parse(&line).is_ok());
        }
    }

    #[test]
    fn errors_keep_newlines_and_backslashes() {
        let message = "host key for [h]:22 HAS CHANGED\nline two \\ done\r";
        let line = Reply::Err(message.into()).line().expect("a line");
        assert_eq!(line.matches('\n').count(), 1, "one line on the wire");
        assert_eq!(
            Reply::parse(line.trim_end_matches('\n')).expect("parses"),
            Reply::Err(message.into())
        );
        assert_eq!(
            Reply::parse(r#"{"ok":""}"#).expect("ok"),
            Reply::Ok(String::new())
        );
        assert!(Reply::parse("HTTP/1.1 200 OK").is_err());
    }

    #[test]
    fn exec_headers_round_trip_and_bound_lengths() {
        let h = ExecHeader {
            exit_status: Some(3),
            stdout_len: 10,
            stderr_len: 0,
        };
        let line = Reply::Exec(h).line().expect("a line");
        assert_eq!(
            Reply::parse(line.trim_end()).expect("parses"),
            Reply::Exec(h)
        );
        let none = r#"{"exec":{"exit_status":null,"stdout_len":0,"stderr_len":4}}"#;
        assert!(matches!(
            Reply::parse(none),
            Ok(Reply::Exec(ExecHeader {
                exit_status: None,
                ..
            }))
        ));
        assert!(h.within(10).is_ok());
        assert!(h.within(9).is_err());
    }

    #[tokio::test]
    async fn a_line_is_read_without_what_follows() {
        let mut data: &[u8] = b"{\"ok\":\"\"}\nGET / HTTP/1.1\r\n";
        assert_eq!(read_line(&mut data).await.expect("line"), r#"{"ok":""}"#);
        assert_eq!(data, b"GET / HTTP/1.1\r\n");
        let mut long = vec![b'x'; MAX_LINE + 1];
        long.push(b'\n');
        assert!(read_line(&mut long.as_slice()).await.is_err());
    }
}
