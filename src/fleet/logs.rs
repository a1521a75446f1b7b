//! Streams one container's logs into bounded batches of raw lines.

use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::event::{FleetEvent, HostEvent, HostId, LogStream, RawLogLine};
use crate::logs::parse_docker_line;

/// A batch is sent when it holds this many lines or bytes, or is this old.
const BATCH_LINES: usize = 256;
const BATCH_BYTES: usize = 1024 * 1024;
const BATCH_AGE: Duration = Duration::from_millis(50);
pub use crate::config::DEFAULT_MAX_LINE_BYTES;

/// Splits Docker's frames into lines and joins what belongs together: a line
/// split across frames, and Docker's own partial messages (lines over 16 KiB
/// are logged in pieces, each with its own timestamp prefix: the line keeps
/// the first piece's timestamp and the later prefixes are dropped).
pub struct LineSplitter {
    max_line_bytes: usize,
    slots: [Slot; 2],
}

/// The line being assembled on one stream.
#[derive(Default)]
struct Slot {
    /// Started: what follows on this stream continues it.
    open: bool,
    /// The line so far, its timestamp prefix included.
    bytes: Vec<u8>,
    /// Length of that prefix (not counted against the cap).
    prefix: usize,
    /// Bytes beyond the cap, reported in the cut marker.
    dropped: usize,
}

impl Slot {
    fn take_line(&mut self, stream: LogStream) -> RawLogLine {
        let mut bytes = std::mem::take(&mut self.bytes);
        if self.dropped > 0 {
            // Cut on a character boundary so the marker stays readable.
            let tail = incomplete_utf8_tail(bytes.get(self.prefix..).unwrap_or_default());
            bytes.truncate(bytes.len() - tail);
            let dropped = self.dropped + tail;
            bytes.extend_from_slice(format!(" … [line cut: {dropped} bytes dropped]").as_bytes());
        }
        *self = Slot::default();
        RawLogLine { stream, bytes }
    }
}

/// Bytes at the end of `b` that start a UTF-8 character without finishing it.
fn incomplete_utf8_tail(b: &[u8]) -> usize {
    for back in 1..=b.len().min(4) {
        let byte = b[b.len() - back];
        if byte & 0xc0 != 0x80 {
            let need = match byte {
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf7 => 4,
                _ => 1,
            };
            return if need > back { back } else { 0 };
        }
    }
    0
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE_BYTES)
    }
}

impl LineSplitter {
    pub fn new(max_line_bytes: usize) -> Self {
        LineSplitter {
            max_line_bytes,
            slots: Default::default(),
        }
    }

    /// One frame as Docker sent it (for non-TTY containers one frame is one
    /// log message, so a timestamp at its start is a message boundary).
    pub fn push(&mut self, stream: LogStream, frame: &[u8], out: &mut Vec<RawLogLine>) {
        let slot = &mut self.slots[stream as usize];
        let mut data = frame;
        if slot.open
            && let (Some(_), rest) = parse_docker_line(data)
        {
            data = rest;
        }
        for piece in data.split_inclusive(|b| *b == b'\n') {
            let complete = piece.ends_with(b"\n");
            let piece = piece.strip_suffix(b"\n").unwrap_or(piece);
            if !slot.open {
                slot.open = true;
                slot.prefix = piece.len() - parse_docker_line(piece).1.len();
            }
            // The prefix is not content: the cap counts what the program wrote.
            let room = (self.max_line_bytes + slot.prefix).saturating_sub(slot.bytes.len());
            let take = piece.len().min(room);
            slot.bytes.extend_from_slice(&piece[..take]);
            slot.dropped += piece.len() - take;
            if complete {
                out.push(slot.take_line(stream));
            }
        }
    }

    /// Whatever is left when the stream ends.
    pub fn finish(&mut self, out: &mut Vec<RawLogLine>) {
        for (slot, stream) in self
            .slots
            .iter_mut()
            .zip([LogStream::Stdout, LogStream::Stderr])
        {
            if slot.open {
                out.push(slot.take_line(stream));
            }
        }
    }
}

/// Which lines to stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRequest {
    pub tail: u32,
    /// Unix seconds; only lines after it.
    pub since: Option<i64>,
    pub follow: bool,
    /// Longer lines are cut with a marker.
    pub max_line_bytes: usize,
}

/// Docker's `tail`: `all` for the largest count (`-n all`, a resume).
fn tail_param(tail: u32) -> String {
    if tail == u32::MAX {
        "all".to_owned()
    } else {
        tail.to_string()
    }
}

pub async fn follow(
    host: HostId,
    docker: Docker,
    container_id: String,
    request: LogRequest,
    events: mpsc::Sender<FleetEvent>,
) {
    let mut opts = LogsOptionsBuilder::default()
        .follow(request.follow)
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .tail(&tail_param(request.tail));
    if let Some(since) = request.since {
        opts = opts.since(i32::try_from(since).unwrap_or(i32::MAX));
    }
    let opts = opts.build();
    let mut stream = docker.logs(&container_id, Some(opts));
    let mut splitter = LineSplitter::new(request.max_line_bytes);
    let mut batch: Vec<RawLogLine> = Vec::new();
    let mut batch_bytes = 0;
    let mut deadline = tokio::time::Instant::now() + BATCH_AGE;
    let send = |lines: Vec<RawLogLine>| {
        let events = events.clone();
        let container_id = container_id.clone();
        async move {
            let kind = HostEvent::Logs {
                container_id,
                lines,
            };
            events.send(FleetEvent { host, kind }).await.is_ok()
        }
    };
    let reason = loop {
        tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(output)) => {
                    let (kind, bytes) = match &output {
                        LogOutput::StdErr { message } => (LogStream::Stderr, message),
                        LogOutput::StdOut { message }
                        | LogOutput::Console { message }
                        | LogOutput::StdIn { message } => (LogStream::Stdout, message),
                    };
                    if batch.is_empty() {
                        deadline = tokio::time::Instant::now() + BATCH_AGE;
                    }
                    let before = batch.len();
                    splitter.push(kind, bytes, &mut batch);
                    batch_bytes += batch[before..].iter().map(|l| l.bytes.len()).sum::<usize>();
                    if batch.len() >= BATCH_LINES || batch_bytes >= BATCH_BYTES {
                        batch_bytes = 0;
                        if !send(std::mem::take(&mut batch)).await {
                            return;
                        }
                    }
                }
                Some(Err(e)) => break e.to_string(),
                None => break "log stream ended".to_owned(),
            },
            () = tokio::time::sleep_until(deadline), if !batch.is_empty() => {
                batch_bytes = 0;
                if !send(std::mem::take(&mut batch)).await {
                    return;
                }
            }
        }
    };
    splitter.finish(&mut batch);
    if !batch.is_empty() && !send(batch).await {
        return;
    }
    let kind = HostEvent::LogsEnded {
        container_id,
        reason,
    };
    let _ = events.send(FleetEvent { host, kind }).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[RawLogLine]) -> Vec<String> {
        lines
            .iter()
            .map(|l| String::from_utf8_lossy(&l.bytes).into_owned())
            .collect()
    }

    #[test]
    fn frames_are_split_into_lines_and_partials_joined() {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        s.push(LogStream::Stdout, b"one\ntw", &mut out);
        s.push(LogStream::Stderr, b"err\n", &mut out);
        s.push(LogStream::Stdout, b"o\nthree", &mut out);
        assert_eq!(texts(&out), ["one", "err", "two"]);
        assert_eq!(out[1].stream, LogStream::Stderr);
        s.finish(&mut out);
        assert_eq!(texts(&out), ["one", "err", "two", "three"]);
    }

    const T1: &str = "2026-01-01T00:00:01.000000001Z ";
    const T2: &str = "2026-01-01T00:00:01.000000002Z ";
    const T3: &str = "2026-01-01T00:00:01.000000003Z ";

    #[test]
    fn docker_partial_messages_become_one_line_with_the_first_timestamp() {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        s.push(LogStream::Stdout, format!("{T1}aaaa").as_bytes(), &mut out);
        s.push(LogStream::Stderr, format!("{T2}err\n").as_bytes(), &mut out);
        s.push(LogStream::Stdout, format!("{T2}bbbb").as_bytes(), &mut out);
        assert_eq!(texts(&out), [format!("{T2}err")]);
        s.push(LogStream::Stdout, format!("{T3}cc\n").as_bytes(), &mut out);
        assert_eq!(texts(&out), [format!("{T2}err"), format!("{T1}aaaabbbbcc")]);
    }

    #[test]
    fn a_megabyte_line_in_16k_pieces_is_byte_exact() {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        let line = b"x".repeat(1024 * 1024);
        for (i, piece) in line.chunks(16 * 1024).enumerate() {
            let mut frame = format!("2026-01-01T00:00:01.{i:09}Z ").into_bytes();
            frame.extend_from_slice(piece);
            s.push(LogStream::Stdout, &frame, &mut out);
        }
        s.push(
            LogStream::Stdout,
            b"2026-01-01T00:00:02.000000000Z \n",
            &mut out,
        );
        assert_eq!(out.len(), 1);
        let (ts, rest) = parse_docker_line(&out[0].bytes);
        assert_eq!(ts, parse_docker_line(b"2026-01-01T00:00:01Z").0);
        assert!(rest == line.as_slice(), "{} bytes back", rest.len());
    }

    #[test]
    fn lines_over_the_cap_are_cut_with_a_marker() {
        let mut s = LineSplitter::new(10);
        let mut out = Vec::new();
        s.push(
            LogStream::Stdout,
            format!("{T1}0123456789abc").as_bytes(),
            &mut out,
        );
        s.push(
            LogStream::Stdout,
            format!("{T2}def\nnext\n").as_bytes(),
            &mut out,
        );
        assert_eq!(
            texts(&out),
            [
                format!("{T1}0123456789 … [line cut: 6 bytes dropped]"),
                "next".to_owned()
            ]
        );
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let mut s = LineSplitter::new(4);
        let mut out = Vec::new();
        s.push(LogStream::Stdout, "aéé\n".as_bytes(), &mut out);
        assert_eq!(texts(&out), ["aé … [line cut: 2 bytes dropped]"]);
    }

    #[test]
    fn an_unfinished_line_is_flushed_at_the_end() {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        s.push(LogStream::Stderr, format!("{T1}half").as_bytes(), &mut out);
        assert!(out.is_empty());
        s.finish(&mut out);
        assert_eq!(texts(&out), [format!("{T1}half")]);
        assert_eq!(out[0].stream, LogStream::Stderr);
    }
}
