//! The audit trail: every action taken, by whom, where, with what result.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, TableState};

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
                Cell::from({
                    let when = r.when();
                    when.get(..19).unwrap_or(&when).replace('T', " ")
                }),
                Cell::from(r.user.clone()),
                Cell::from(r.host.clone()),
                Cell::from(r.container.clone()),
                Cell::from(r.action.to_string()),
                Cell::from(Span::styled(
                    match &r.logs {
                        // Enter opens them: say so where it applies.
                        Some(_) => format!("{} · enter: kept logs", r.result),
                        None => r.result.clone(),
                    },
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
        // Deploy steps are long ("deploy:kept-logs app:v2 (replaced) [id]").
        Constraint::Fill(2),
        Constraint::Fill(2),
    ];
    let empty = app.state.audit.records.is_empty();
    let title = if empty {
        " Audit (no actions recorded yet) ".to_owned()
    } else {
        format!(" Audit ({}) ", app.state.audit.records.len())
    };
    let title = Line::from(Span::styled(title, theme.title));
    let table = super::list_table(rows, widths.to_vec(), header, title, theme);
    let mut state =
        TableState::default().with_selected((!empty).then_some(app.state.audit.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

#[cfg(test)]
mod tests {
    use crate::ops::AuditRecord;
    use crossterm::event::KeyCode;

    use crate::tui::app::{AppEffect, AppEvent, View};
    use crate::tui::testutil::{app, code, press};
    use crate::tui::views::snapshot;

    #[test]
    fn audit_view_lists_records() {
        let mut app = app();
        press(&mut app, '4');
        let rec = |c: &str, a: &str, r: &str| AuditRecord {
            time: "2026-11-25T20:01:02.123Z".parse().expect("time"),
            user: "ops".into(),
            host: "fleet-1".into(),
            container: c.into(),
            action: a.into(),
            result: r.into(),
            logs: None,
        };
        let kept = AuditRecord {
            logs: Some("/state/flotilla/kept-logs/d1-fleet-1-shop-web-1.log".into()),
            ..rec("shop-web-1", "deploy:kept-logs app:broken", "ok")
        };
        app.update(AppEvent::AuditLoaded(vec![
            rec("shop-web-1", "restart", "ok"),
            rec("shop-sick-1", "stop", "container not running"),
            kept,
        ]));
        insta::assert_snapshot!(snapshot::render(&mut app, 100, 9));
    }

    #[test]
    fn enter_on_a_record_with_kept_logs_shows_them_in_the_logs_view() {
        let mut app = app();
        press(&mut app, '4');
        let path = "/state/flotilla/kept-logs/d1-fleet-1-shop-web-1.log";
        let plain = AuditRecord {
            time: "2026-11-25T20:01:02.123Z".parse().expect("time"),
            user: "ops".into(),
            host: "fleet-1".into(),
            container: "shop-web-1".into(),
            action: "restart".into(),
            result: "ok".into(),
            logs: None,
        };
        let kept = AuditRecord {
            action: "deploy:kept-logs app:broken (failed, rolled back) [d1]".into(),
            logs: Some(path.into()),
            ..plain.clone()
        };
        app.update(AppEvent::AuditLoaded(vec![plain, kept]));
        let effects = app.update(code(KeyCode::Enter));
        assert_eq!(
            effects,
            [AppEffect::ReadKept {
                title: "kept logs: shop-web-1 @ fleet-1".into(),
                path: path.into()
            }]
        );
        // A record without kept logs opens nothing and says why.
        press(&mut app, 'k');
        assert!(app.update(code(KeyCode::Enter)).is_empty());
        assert!(
            app.status
                .as_ref()
                .is_some_and(|s| s.text.starts_with("no kept logs"))
        );

        let text = "# flotilla kept the last 2 log lines of shop-web-1 (app:broken) on fleet-1\n\
            # health check 2026-11-25T20:00:59Z exit 1: GET /health 503\n\
            2026-11-25T20:00:58.000000001Z stdout starting\n\
            2026-11-25T20:00:59.000000002Z stderr FATAL cannot reach db\n";
        let effects = app.update(AppEvent::KeptRead {
            title: "kept logs: shop-web-1 @ fleet-1".into(),
            path: path.into(),
            text: Ok(text.into()),
        });
        assert!(effects.is_empty(), "nothing to follow: {effects:?}");
        assert_eq!(app.view, View::Logs);
        let screen = snapshot::render(&mut app, 100, 10);
        assert!(screen.contains("FATAL cannot reach db"), "{screen}");
        assert!(screen.contains("# health check "), "{screen}");
        insta::assert_snapshot!(screen);
        // Back to the Audit view.
        app.update(code(KeyCode::Esc));
        assert_eq!(app.view, View::Audit);
        // An unreadable file is said, not shown.
        app.update(AppEvent::KeptRead {
            title: "t".into(),
            path: "/nope".into(),
            text: Err("No such file".into()),
        });
        assert!(
            app.status
                .as_ref()
                .is_some_and(|s| s.error && s.text.contains("/nope"))
        );
    }
}
