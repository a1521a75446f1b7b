//! The control socket's small line protocol. A client sends one request line
//! (an `EXEC` is followed by its command bytes); the daemon answers one line:
//! `OK …` or `ERR message`. After `OK` to an `OPEN`, the connection is a raw
//! byte stream to the host's Docker API; after `OK` to an `EXEC`, the command's
//! stdout and stderr follow as counted bytes.

use tokio::io::{AsyncRead, AsyncReadExt};

/// What follows `OK` to an `OPEN`: how the daemon reached the Docker API.
pub const STREAMLOCAL: &str = "streamlocal";
pub const DIAL_STDIO: &str = "dial-stdio";

/// Longest request or reply line accepted (a host name, numbers, an error).
pub const MAX_LINE: usize = 16 * 1024;

/// A request to the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl Request {
    /// The request line, newline included. Host names never contain spaces
    /// or newlines (`config::check_host_name`), and come last anyway.
    pub fn line(&self) -> String {
        let flag = |a: bool| if a { "accept-new" } else { "strict" };
        match self {
            Request::Hello => "HELLO\n".to_owned(),
            Request::Open { host, accept_new } => format!("OPEN {} {host}\n", flag(*accept_new)),
            Request::Exec {
                host,
                accept_new,
                limit,
                command_len,
            } => format!("EXEC {} {limit} {command_len} {host}\n", flag(*accept_new)),
            Request::Stop => "STOP\n".to_owned(),
        }
    }

    /// Parses a request line (without its newline).
    pub fn parse(line: &str) -> Result<Request, String> {
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let flag = |word: &str| match word {
            "accept-new" => Ok(true),
            "strict" => Ok(false),
            other => Err(format!("bad host key mode {other:?}")),
        };
        // The inventory's own rule, so a name it accepts always gets through.
        let host = |name: &str| {
            crate::config::check_host_name(name)
                .map(|()| name.to_owned())
                .map_err(|e| format!("bad host name: {e}"))
        };
        let number = |word: &str| {
            word.parse::<usize>()
                .map_err(|_| format!("bad number {word:?}"))
        };
        match verb {
            "HELLO" if rest.is_empty() => Ok(Request::Hello),
            "STOP" if rest.is_empty() => Ok(Request::Stop),
            "OPEN" => {
                let (mode, name) = rest.split_once(' ').ok_or("OPEN needs a mode and a host")?;
                Ok(Request::Open {
                    host: host(name)?,
                    accept_new: flag(mode)?,
                })
            }
            "EXEC" => {
                let mut words = rest.splitn(4, ' ');
                let mut next = || {
                    words
                        .next()
                        .ok_or("EXEC needs a mode, limit, length and host")
                };
                let accept_new = flag(next()?)?;
                let limit = number(next()?)?;
                let command_len = number(next()?)?;
                if command_len > MAX_LINE {
                    return Err(format!("command of {command_len} bytes is too long"));
                }
                Ok(Request::Exec {
                    accept_new,
                    limit,
                    command_len,
                    host: host(next()?)?,
                })
            }
            _ => Err(format!("unknown request {line:?}")),
        }
    }
}

/// The daemon's answer line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `OK` and whatever words follow it.
    Ok(String),
    /// The error, verbatim (newlines survive the escaping).
    Err(String),
}

impl Reply {
    pub fn line(&self) -> String {
        match self {
            Reply::Ok(rest) if rest.is_empty() => "OK\n".to_owned(),
            Reply::Ok(rest) => format!("OK {rest}\n"),
            Reply::Err(message) => format!("ERR {}\n", escape(message)),
        }
    }

    pub fn parse(line: &str) -> Result<Reply, String> {
        if line == "OK" {
            return Ok(Reply::Ok(String::new()));
        }
        if let Some(rest) = line.strip_prefix("OK ") {
            return Ok(Reply::Ok(rest.to_owned()));
        }
        if let Some(message) = line.strip_prefix("ERR ") {
            return Ok(Reply::Err(unescape(message)));
        }
        Err(format!("unexpected reply {line:?}"))
    }
}

/// What follows `OK` to an `EXEC`: exit status (`-` when none) and the
/// lengths of stdout and stderr, which follow in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecHeader {
    pub exit_status: Option<u32>,
    pub stdout_len: usize,
    pub stderr_len: usize,
}

impl ExecHeader {
    pub fn words(&self) -> String {
        let status = self
            .exit_status
            .map_or_else(|| "-".to_owned(), |s| s.to_string());
        format!("{status} {} {}", self.stdout_len, self.stderr_len)
    }

    pub fn parse(words: &str, limit: usize) -> Result<ExecHeader, String> {
        let parts: Vec<&str> = words.split(' ').collect();
        let [status, out, err] = parts[..] else {
            return Err(format!("bad EXEC answer {words:?}"));
        };
        let length = |w: &str| {
            w.parse::<usize>()
                .ok()
                .filter(|n| *n <= limit)
                .ok_or_else(|| format!("bad output length {w:?}"))
        };
        Ok(ExecHeader {
            exit_status: match status {
                "-" => None,
                s => Some(s.parse().map_err(|_| format!("bad exit status {s:?}"))?),
            },
            stdout_len: length(out)?,
            stderr_len: length(err)?,
        })
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

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
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
            let line = req.line();
            assert!(line.ends_with('\n'));
            assert_eq!(Request::parse(line.trim_end_matches('\n')), Ok(req));
        }
    }

    #[test]
    fn malformed_requests_are_refused() {
        for bad in [
            "",
            "open web",
            "OPEN",
            "OPEN strict",
            "OPEN maybe web",
            "OPEN strict two words",
            "EXEC strict 10 web",
            "EXEC strict x 3 web",
            "EXEC strict 10 999999999 web",
            "HELLO there",
            "STOP now",
        ] {
            assert!(Request::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn host_names_follow_the_inventory_rule() {
        for name in ["a/b", "../x", "-x", "web\u{202e}1", "h 1", ".."] {
            assert!(crate::config::check_host_name(name).is_err());
            for line in [
                format!("OPEN strict {name}"),
                format!("EXEC strict 10 3 {name}"),
            ] {
                let err = Request::parse(&line).expect_err(&line);
                assert!(err.starts_with("bad host name"), "{err}");
            }
        }
        for name in ["web-1", "db.2", "x_y"] {
            assert!(Request::parse(&format!("OPEN strict {name}")).is_ok());
        }
    }

    #[test]
    fn errors_keep_newlines_and_backslashes() {
        let message = "host key for [h]:22 HAS CHANGED\nline two \\ done\r";
        let line = Reply::Err(message.into()).line();
        assert_eq!(line.matches('\n').count(), 1, "one line on the wire");
        assert_eq!(
            Reply::parse(line.trim_end_matches('\n')),
            Ok(Reply::Err(message.into()))
        );
        assert_eq!(Reply::parse("OK"), Ok(Reply::Ok(String::new())));
        assert_eq!(Reply::parse("OK 0 5 1"), Ok(Reply::Ok("0 5 1".into())));
        assert!(Reply::parse("HTTP/1.1 200 OK").is_err());
    }

    #[test]
    fn exec_headers_parse_and_bound_lengths() {
        let h = ExecHeader {
            exit_status: Some(3),
            stdout_len: 10,
            stderr_len: 0,
        };
        assert_eq!(ExecHeader::parse(&h.words(), 100), Ok(h));
        let none = ExecHeader::parse("- 0 4", 100).expect("no status");
        assert_eq!(none.exit_status, None);
        assert!(ExecHeader::parse("0 101 0", 100).is_err());
        assert!(ExecHeader::parse("0 1", 100).is_err());
    }

    #[tokio::test]
    async fn a_line_is_read_without_what_follows() {
        let mut data: &[u8] = b"OK\nGET / HTTP/1.1\r\n";
        assert_eq!(read_line(&mut data).await.expect("line"), "OK");
        assert_eq!(data, b"GET / HTTP/1.1\r\n");
        let mut long = vec![b'x'; MAX_LINE + 1];
        long.push(b'\n');
        assert!(read_line(&mut long.as_slice()).await.is_err());
    }
}
