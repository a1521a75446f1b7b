//! Container log handling, independent of transport and UI: sanitizing
//! untrusted log bytes ([`mod@sanitize`]), a bounded time-ordered multi-host
//! buffer ([`buffer`]), search/filter over it ([`search`]) and resuming a
//! dropped follow without duplicates ([`resume`]).
//!
//! Typical flow: each log chunk from Docker (requested with
//! `timestamps=true`) is split into lines, then
//! `LogBuffer::push_raw(host, container, stream, line)` parses the timestamp
//! and sanitizes; the view renders `line.line.to_line(&search.matches(..), hl)`
//! or `search.highlight(..)`; headless output and saving use [`plain`] /
//! `StyledLine::text`.

pub mod buffer;
pub mod merge;
pub mod resume;
pub mod sanitize;
pub mod search;
pub mod time;

pub use buffer::{
    DEFAULT_MAX_BYTES, DEFAULT_MAX_LINES, LogBuffer, LogLine, Nanos, PushOutcome, Stream,
    parse_docker_line,
};
pub use merge::KMerge;
pub use resume::Cursor;
pub use sanitize::{StyledLine, plain, sanitize};
pub use search::{Search, SearchError, SearchMode, filtered_indices};
pub use time::{format_ts, format_ts_nanos, parse_since};

#[cfg(test)]
mod tests {
    use ratatui::style::{Color, Style};

    use super::*;

    /// Two hosts' raw Docker lines, interleaved, through buffer, search and
    /// rendering, as the TUI would use them.
    #[test]
    fn end_to_end_merge_search_render() {
        let mut buf = LogBuffer::default();
        let feed: [(&str, &[u8]); 4] = [
            (
                "web",
                b"2024-05-01T10:00:02.000000000Z \x1b[31mERROR\x1b[0m upstream timeout",
            ),
            (
                "db",
                b"2024-05-01T10:00:01.500000000Z checkpoint \x1b]0;x\x07done",
            ),
            ("web", b"2024-05-01T10:00:03.000000000Z GET / 200\r"),
            (
                "db",
                b"2024-05-01T10:00:02.500000000Z error: \x1b[2Jdisk 91%",
            ),
        ];
        for (host, raw) in feed {
            buf.push_raw(host, "app", Stream::Stdout, raw);
        }
        let hosts: Vec<&str> = buf.iter().map(|l| l.host.as_str()).collect();
        assert_eq!(hosts, ["db", "web", "db", "web"]);
        let texts: Vec<&str> = buf.iter().map(|l| l.line.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "checkpoint done",
                "ERROR upstream timeout",
                "error: disk 91%",
                "GET / 200"
            ]
        );

        let q = Search::new("error", SearchMode::Plain).expect("query");
        assert_eq!(filtered_indices(&buf, &q), [1, 2]);
        assert_eq!(q.find_next(&buf, 2), Some(1));

        let hl = Style::default().bg(Color::Yellow);
        let line = q.highlight(&buf.get(1).expect("line").line, hl);
        assert_eq!(line.spans[0].content, "ERROR");
        assert_eq!(
            line.spans[0].style,
            Style::default().fg(Color::Red).bg(Color::Yellow)
        );
        assert_eq!(line.spans[1].content, " upstream timeout");
        assert_eq!(line.spans[1].style, Style::default());
    }

    #[test]
    fn plain_matches_buffer_text() {
        let raw = b"\x1b[1mbold\x1b[0m\tand \x9b31mc1";
        assert_eq!(plain(raw), sanitize(raw).text);
        assert_eq!(plain(raw), "bold    and c1");
    }
}
