//! Streams one container's logs into bounded batches of raw lines.

use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::event::{FleetEvent, HostEvent, HostId, LogStream, RawLogLine};

/// A batch is sent when it holds this many lines or is this old.
const BATCH_LINES: usize = 256;
const BATCH_AGE: Duration = Duration::from_millis(50);
/// Longer lines are cut so one runaway line cannot exhaust memory.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Splits Docker's frames into lines; partial lines wait for their rest.
#[derive(Default)]
pub struct LineSplitter {
    partial: [Vec<u8>; 2],
}

impl LineSplitter {
    pub fn push(&mut self, stream: LogStream, frame: &[u8], out: &mut Vec<RawLogLine>) {
        let slot = &mut self.partial[stream as usize];
        for piece in frame.split_inclusive(|b| *b == b'\n') {
            let complete = piece.ends_with(b"\n");
            let piece = piece.strip_suffix(b"\n").unwrap_or(piece);
            let room = MAX_LINE_BYTES.saturating_sub(slot.len());
            slot.extend_from_slice(&piece[..piece.len().min(room)]);
            if complete || slot.len() >= MAX_LINE_BYTES {
                out.push(RawLogLine {
                    stream,
                    bytes: std::mem::take(slot),
                });
            }
        }
    }

    /// Whatever is left when the stream ends.
    pub fn finish(&mut self, out: &mut Vec<RawLogLine>) {
        for (i, slot) in self.partial.iter_mut().enumerate() {
            if !slot.is_empty() {
                let stream = if i == 0 {
                    LogStream::Stdout
                } else {
                    LogStream::Stderr
                };
                out.push(RawLogLine {
                    stream,
                    bytes: std::mem::take(slot),
                });
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
        .tail(&request.tail.to_string());
    if let Some(since) = request.since {
        opts = opts.since(i32::try_from(since).unwrap_or(i32::MAX));
    }
    let opts = opts.build();
    let mut stream = docker.logs(&container_id, Some(opts));
    let mut splitter = LineSplitter::default();
    let mut batch = Vec::new();
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
                    splitter.push(kind, bytes, &mut batch);
                    if batch.len() >= BATCH_LINES && !send(std::mem::take(&mut batch)).await {
                        return;
                    }
                }
                Some(Err(e)) => break e.to_string(),
                None => break "log stream ended".to_owned(),
            },
            () = tokio::time::sleep_until(deadline), if !batch.is_empty() => {
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

    #[test]
    fn runaway_lines_are_cut_at_the_bound() {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        let big = vec![b'x'; MAX_LINE_BYTES + 10];
        s.push(LogStream::Stdout, &big, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bytes.len(), MAX_LINE_BYTES);
    }
}
