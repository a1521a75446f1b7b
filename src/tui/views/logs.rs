//! Logs of one container, or one service merged across hosts (time-ordered,
//! host coloured). Search highlights without hiding context.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use crate::logs::Stream;
use crate::logs::format_ts;
use crate::tui::app::App;
use crate::tui::state::logs::LogsState;
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(logs) = &app.state.logs else {
        return;
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title(title(logs, theme));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = usize::from(inner.height);
    let width = usize::from(inner.width).max(1);

    let visible = logs.visible();
    let first = if logs.follow && logs.wrap {
        first_row_wrapped(logs, &visible, height, width)
    } else {
        logs.first_row(visible.len(), height)
    };
    let host_col = host_column(logs);
    let mut lines: Vec<Line> = visible
        .iter()
        .skip(first)
        .take(height)
        .map(|&index| render_line(logs, index, theme, host_col))
        .collect();
    if visible.is_empty() {
        let note = if logs.notices.is_empty() {
            "waiting for log lines…".to_owned()
        } else {
            logs.notices.join("; ")
        };
        lines.push(Line::from(Span::styled(note, theme.dim)));
    }
    let mut para = Paragraph::new(lines);
    if logs.wrap {
        para = para.wrap(Wrap { trim: false });
    }
    frame.render_widget(para, inner);
}

fn title(logs: &LogsState, theme: &Theme) -> Line<'static> {
    let mut spans = vec![Span::styled(format!(" {} ", logs.title), theme.title)];
    let flag = |on: bool, name: &str| {
        Span::styled(
            format!("{name}{} ", if on { "✓" } else { "✗" }),
            if on { theme.ok } else { theme.dim },
        )
    };
    spans.push(flag(logs.follow, "follow"));
    spans.push(flag(logs.timestamps, "time"));
    spans.push(flag(logs.wrap, "wrap"));
    spans.push(Span::styled(
        format!("{} lines ", logs.buffer.len()),
        theme.dim,
    ));
    if logs.buffer.evicted() > 0 {
        spans.push(Span::styled(
            format!("({} older dropped) ", logs.buffer.evicted()),
            theme.dim,
        ));
    }
    if let Some(search) = &logs.search {
        let total = logs.match_count();
        let nth = logs.current.map_or(0, |c| {
            logs.buffer
                .iter()
                .take(c + 1)
                .filter(|l| search.is_match(&l.line.text))
                .count()
        });
        spans.push(Span::styled(
            format!(" /{}/ {nth}/{total} ", search.query()),
            theme.search_match,
        ));
        if logs.filter_mode {
            spans.push(Span::styled(" only matches ", theme.drift));
        }
    }
    if let Some(n) = logs.notices.last() {
        spans.push(Span::styled(format!(" {n} "), theme.error));
    }
    Line::from(spans)
}

/// Width of the host name column in merged views (0 for one container).
fn host_column(logs: &LogsState) -> usize {
    if !logs.is_merged() {
        return 0;
    }
    logs.sources
        .iter()
        .map(|s| s.host_name.width())
        .max()
        .unwrap_or(0)
}

/// Columns before the log text: host, timestamp, stream marker.
fn prefix_width(logs: &LogsState) -> usize {
    let host = match host_column(logs) {
        0 => 0,
        w => w + 1,
    };
    let ts = if logs.timestamps { TS_WIDTH + 1 } else { 0 };
    host + ts + 2
}

/// `2026-11-25T20:00:00.000Z`
const TS_WIDTH: usize = 24;

/// First visible row so that, wrapped, the newest line ends at the bottom.
fn first_row_wrapped(logs: &LogsState, visible: &[usize], height: usize, width: usize) -> usize {
    let prefix = prefix_width(logs);
    let mut rows = 0;
    for (pos, &index) in visible.iter().enumerate().rev() {
        let w = logs
            .buffer
            .get(index)
            .map_or(1, |l| l.line.text.width() + prefix);
        rows += w.div_ceil(width).max(1);
        if rows > height {
            return (pos + 1).min(visible.len().saturating_sub(1));
        }
    }
    0
}

fn render_line(logs: &LogsState, index: usize, theme: &Theme, host_col: usize) -> Line<'static> {
    let Some(l) = logs.buffer.get(index) else {
        return Line::default();
    };
    let mut spans = Vec::new();
    if logs.is_merged() {
        let host_index = logs
            .sources
            .iter()
            .position(|s| s.host_name == l.host)
            .unwrap_or(0);
        spans.push(Span::styled(
            format!("{:<host_col$}", l.host),
            theme.host(host_index),
        ));
        spans.push(Span::raw(" "));
    }
    if logs.timestamps {
        let ts = l.ts.map(format_ts).unwrap_or_default();
        spans.push(Span::styled(format!("{ts:<TS_WIDTH$} "), theme.dim));
    }
    let marker = match l.stream {
        Stream::Stderr => Span::styled("! ", theme.stderr),
        Stream::Stdout => Span::raw("  "),
    };
    spans.push(marker);
    let body = match &logs.search {
        Some(search) => {
            let style = if logs.current == Some(index) {
                theme.search_current
            } else {
                theme.search_match
            };
            search.highlight(&l.line, style)
        }
        None => l.line.to_line(&[], ratatui::style::Style::default()),
    };
    spans.extend(body.spans);
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use crate::fleet::{FleetEvent, HostEvent, LogStream, RawLogLine};
    use crate::tui::app::{App, AppEvent};
    use crate::tui::testutil::{app, press, press_code, type_text};
    use crate::tui::views::snapshot;
    use crossterm::event::KeyCode;

    fn feed(app: &mut App, host: usize, name: &str, lines: &[(&str, &str, LogStream)]) {
        let id = app.fleet.hosts[host]
            .containers
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.id.clone())
            .unwrap_or_default();
        let lines = lines
            .iter()
            .map(|(ts, text, stream)| RawLogLine {
                stream: *stream,
                bytes: format!("{ts} {text}").into_bytes(),
            })
            .collect();
        app.update(AppEvent::Fleet(FleetEvent {
            host,
            kind: HostEvent::Logs {
                container_id: id,
                lines,
            },
        }));
    }

    fn merged_web() -> App {
        let mut app = app();
        type_text(&mut app, ":logs web");
        press_code(&mut app, KeyCode::Enter);
        feed(
            &mut app,
            0,
            "shop-web-1",
            &[
                (
                    "2026-11-25T20:00:00.000000001Z",
                    "web v1 GET /health 200 (2ms)",
                    LogStream::Stdout,
                ),
                (
                    "2026-11-25T20:00:02.000000000Z",
                    "web v1 GET /health 200 (1ms)",
                    LogStream::Stdout,
                ),
                (
                    "2026-11-25T20:00:04.000000000Z",
                    "\x1b[31mERROR\x1b[0m upstream timeout\x1b]0;pwned\x07\x1b[2J",
                    LogStream::Stderr,
                ),
            ],
        );
        feed(
            &mut app,
            1,
            "shop-web-1",
            &[
                (
                    "2026-11-25T20:00:01.000000000Z",
                    "web v2 GET /health 200 (3ms)",
                    LogStream::Stdout,
                ),
                (
                    "2026-11-25T20:00:03.000000000Z",
                    "web v2 ERROR cache miss storm",
                    LogStream::Stderr,
                ),
            ],
        );
        app
    }

    #[test]
    fn merged_service_logs_are_interleaved_by_time() {
        let mut app = merged_web();
        let screen = snapshot::render(&mut app, 100, 14);
        assert!(
            !screen.contains("pwned"),
            "escape sequences never reach the screen"
        );
        insta::assert_snapshot!(screen);
    }

    #[test]
    fn search_highlights_and_filter_mode_hides() {
        let mut app = merged_web();
        type_text(&mut app, "/error");
        press_code(&mut app, KeyCode::Enter);
        press(&mut app, 't');
        insta::assert_snapshot!("search_highlight", snapshot::render(&mut app, 120, 12));
        press(&mut app, 'F');
        insta::assert_snapshot!("search_filter_mode", snapshot::render(&mut app, 80, 24));
    }
}
