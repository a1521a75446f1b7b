//! Top: each host's own use on top, then every container of the fleet
//! ranked by the chosen resource, with its last hour as a sparkline.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Wrap};

use crate::human::bytes;
use crate::ops::top::{Row as TopRow, Sort, sparkline};
use crate::tui::app::App;
use crate::tui::theme::Theme;

/// The sparkline column's width: the last hour squeezed into it.
const SPARK: u16 = 24;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let top = &app.state.top;
    let hosts = host_lines(app, theme);
    // Wrapped lines, at most a third of the screen.
    let width = usize::from(area.width.max(1));
    let lines: usize = hosts.iter().map(|l| l.width().div_ceil(width).max(1)).sum();
    let height = u16::try_from(lines)
        .unwrap_or(u16::MAX)
        .min(area.height / 3);
    let [head, body] =
        Layout::vertical([Constraint::Length(height), Constraint::Min(3)]).areas(area);
    frame.render_widget(Paragraph::new(hosts).wrap(Wrap { trim: false }), head);
    let rows = top.rows();
    let header = Row::new(crate::ops::top::columns(top.sort));
    let table: Vec<Row> = rows.iter().map(|r| row(r, top.sort, theme)).collect();
    let title = match (rows.len(), top.rounds) {
        (0, 0 | 1) => " Top: reading counters (figures after two readings, 5 s apart) ".to_owned(),
        (0, _) => " Top: no running container answered ".to_owned(),
        (n, _) => format!(" Top ({n} containers, by {}; o: next) ", top.sort.name()),
    };
    super::render_list(
        frame,
        body,
        theme,
        (header, table),
        &[
            Constraint::Max(12),
            Constraint::Min(14),
            Constraint::Length(6),
            Constraint::Max(20),
            Constraint::Max(9),
            Constraint::Max(9),
            Constraint::Max(SPARK),
        ],
        title,
        top.cursor(&rows),
    );
}

/// One line per host: its CPU, load and memory, or why it gave no figures.
fn host_lines(app: &App, theme: &Theme) -> Vec<Line<'static>> {
    let top = &app.state.top;
    let mut spans = Vec::new();
    for (name, u) in top.top.hosts() {
        let pct = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.0}%"));
        spans.push(Span::styled(name.to_owned(), theme.title));
        spans.push(Span::raw(format!(
            " cpu {} load {:.2} mem {}   ",
            pct(u.cpu_pct),
            u.load1,
            pct(u.mem_used_pct)
        )));
    }
    let mut lines = vec![Line::from(spans)];
    for (host, e) in &top.errors {
        lines.push(Line::from(Span::styled(
            format!("{host}: {e}"),
            theme.error,
        )));
    }
    lines
}

fn row<'a>(r: &TopRow, key: Sort, theme: &Theme) -> Row<'a> {
    Row::new(vec![
        Cell::from(r.host.clone()),
        Cell::from(r.container.clone()),
        Cell::from(format!("{:.1}", r.rates.cpu_pct)),
        Cell::from(r.rates.mem_phrase()),
        Cell::from(bytes(r.rates.net_bps as u64)),
        Cell::from(bytes(r.rates.io_bps as u64)),
        Cell::from(Span::styled(
            sparkline(&r.history, usize::from(SPARK), key.spark_floor()),
            theme.ok,
        )),
    ])
}

#[cfg(test)]
mod tests {
    use crate::tui::state::top::tests::{round, worker_burns};
    use crate::tui::testutil::{app, press};
    use crate::tui::views::snapshot;

    #[test]
    fn top_ranks_the_fleet_with_each_hosts_use_and_an_hour_of_history() {
        let mut app = app();
        let effects = press(&mut app, '7');
        assert!(
            effects.contains(&crate::tui::app::AppEffect::ReadTop),
            "opening reads at once: {effects:?}"
        );
        insta::assert_snapshot!("top_reading", snapshot::render(&mut app, 120, 10));
        for i in 0..40 {
            let t = 100.0 + 5.0 * f64::from(i);
            // Everything idles at 2 %, until the worker gets busy half way.
            let burn = |name: &str, t: f64| {
                let busy = (t - 200.0).max(0.0);
                0.02 * (t - busy) + worker_burns(name, busy)
            };
            let round = round(&app.fleet, t, burn);
            app.update(crate::tui::app::AppEvent::TopRead(round));
        }
        insta::assert_snapshot!(snapshot::render(&mut app, 120, 16));
        press(&mut app, 'o');
        insta::assert_snapshot!("top_by_mem_80x24", snapshot::render(&mut app, 80, 24));
    }
}
