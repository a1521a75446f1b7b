//! The audit trail: every action taken, by whom, where, with what result.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use crate::tui::app::App;
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let header =
        Row::new(["TIME", "USER", "HOST", "CONTAINER", "ACTION", "RESULT"]).style(theme.header);
    let rows: Vec<Row> = app
        .state
        .audit
        .records
        .iter()
        .map(|r| {
            let ok = r.result == "ok";
            Row::new(vec![
                Cell::from(r.time.get(..19).unwrap_or(&r.time).replace('T', " ")),
                Cell::from(r.user.clone()),
                Cell::from(r.host.clone()),
                Cell::from(r.container.clone()),
                Cell::from(r.action.clone()),
                Cell::from(Span::styled(
                    r.result.clone(),
                    if ok { theme.ok } else { theme.error },
                )),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(19),
        Constraint::Max(10),
        Constraint::Max(12),
        Constraint::Fill(1),
        Constraint::Length(8),
        Constraint::Fill(2),
    ];
    let empty = app.state.audit.records.is_empty();
    let title = if empty {
        " Audit (no actions recorded yet) ".to_owned()
    } else {
        format!(" Audit ({}) ", app.state.audit.records.len())
    };
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(theme.selected)
        .highlight_symbol("▶")
        .block(
            Block::default()
                .borders(Borders::TOP)
                .border_style(theme.border)
                .title(Span::styled(title, theme.title)),
        );
    let mut state =
        TableState::default().with_selected((!empty).then_some(app.state.audit.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

#[cfg(test)]
mod tests {
    use crate::ops::AuditRecord;
    use crate::tui::app::AppEvent;
    use crate::tui::testutil::{app, press};
    use crate::tui::views::snapshot;

    #[test]
    fn audit_view_lists_records() {
        let mut app = app();
        press(&mut app, '4');
        let rec = |c: &str, a: &str, r: &str| AuditRecord {
            time: "2026-11-25T20:01:02.123Z".into(),
            user: "ops".into(),
            host: "fleet-1".into(),
            container: c.into(),
            action: a.into(),
            result: r.into(),
        };
        app.update(AppEvent::AuditLoaded(vec![
            rec("shop-web-1", "restart", "ok"),
            rec("shop-sick-1", "stop", "container not running"),
        ]));
        insta::assert_snapshot!(snapshot::render(&mut app, 100, 8));
    }
}
