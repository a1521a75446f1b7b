//! Triage: what is broken across the fleet, most severe first, live.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use crate::ops::triage::Severity;
use crate::tui::app::App;
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let findings = crate::tui::state::triage::findings(&app.fleet);
    let header = Row::new(["SEVERITY", "HOST", "CONTAINER", "WHAT"]).style(theme.header);
    let rows: Vec<Row> = findings
        .iter()
        .map(|f| {
            let style = match f.severity {
                Severity::Critical => theme.down,
                Severity::High => theme.unhealthy,
                Severity::Medium => theme.restarting,
                Severity::Low => theme.dim,
            };
            Row::new(vec![
                Cell::from(Span::styled(f.severity.label(), style)),
                Cell::from(f.host.clone()),
                Cell::from(f.container.clone().unwrap_or_else(|| "-".into())),
                Cell::from(f.summary.clone()),
            ])
        })
        .collect();
    let title = if findings.is_empty() {
        " Triage: nothing broken ".to_owned()
    } else {
        format!(" Triage ({} findings) ", findings.len())
    };
    let table = Table::new(
        rows,
        [
            Constraint::Length(9),
            Constraint::Max(14),
            Constraint::Max(28),
            Constraint::Fill(1),
        ],
    )
    .header(header)
    .row_highlight_style(theme.selected)
    .highlight_symbol("▶")
    .block(
        Block::default()
            .borders(Borders::TOP)
            .border_style(theme.border)
            .title(Span::styled(title, theme.title)),
    );
    let selected =
        (!findings.is_empty()).then_some(app.state.triage.selected.min(findings.len() - 1));
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);
}

#[cfg(test)]
mod tests {
    use crate::tui::testutil::{app, press};
    use crate::tui::views::snapshot;

    #[test]
    fn triage_view_ranks_findings() {
        let mut app = app();
        press(&mut app, '5');
        insta::assert_snapshot!(snapshot::render(&mut app, 120, 12));
        insta::assert_snapshot!("triage_80x24", snapshot::render(&mut app, 80, 24));
    }
}
