//! Triage: what is broken across the fleet, grouped by (kind, service) across
//! hosts, most severe first, live. Enter expands a group to its containers.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

use crate::ops::triage::{Group, Severity};
use crate::tui::app::App;
use crate::tui::state::triage::{Line as TriageLine, group_key, groups, held};
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let groups = groups(&app.fleet, &app.state.compose.hosts);
    let lines = app.state.triage.lines(&groups);
    let header = Row::new(["SEVERITY", "WHERE", "SERVICE", "WHAT"]);
    let now = jiff::Timestamp::now();
    let rows: Vec<Row> = lines
        .iter()
        .map(|line| match *line {
            TriageLine::Group(i) => group_row(&groups[i], app, theme, now),
            TriageLine::Member(i, j) => {
                let c = &groups[i].containers[j];
                Row::new(vec![
                    Cell::from(""),
                    Cell::from(Span::styled(format!("  {}", c.host), theme.dim)),
                    Cell::from(""),
                    Cell::from(Span::styled(format!("    {}", c.name), theme.dim)),
                ])
            }
        })
        .collect();
    let title = if groups.is_empty() {
        " Triage: nothing broken ".to_owned()
    } else {
        format!(" Triage ({} problems) ", groups.len())
    };
    super::render_list(
        frame,
        area,
        theme,
        (header, rows),
        &[
            Constraint::Length(9),
            Constraint::Max(14),
            Constraint::Max(16),
            Constraint::Fill(1),
        ],
        title,
        app.state.triage.selected,
    );
}

/// One group: severity (dimmed when held back), where, service, what.
fn group_row<'a>(g: &Group, app: &App, theme: &Theme, now: jiff::Timestamp) -> Row<'a> {
    let total = app.fleet.hosts.len();
    let held = held(
        g,
        &app.state.triage.silences,
        &app.settings.maintenance,
        now,
    );
    let style = match g.severity {
        _ if held.is_some() => theme.dim,
        Severity::Critical => theme.down,
        Severity::High => theme.unhealthy,
        Severity::Medium => theme.restarting,
        Severity::Low => theme.dim,
    };
    let open = if g.containers.len() > 1 {
        if app.state.triage.expanded.contains(&group_key(g)) {
            "▾ "
        } else {
            "▸ "
        }
    } else {
        "  "
    };
    let place = match g.hosts.as_slice() {
        [one] => one.clone(),
        many => format!("{}/{total} hosts", many.len()),
    };
    Row::new(vec![
        Cell::from(Span::styled(g.severity.label(), style)),
        Cell::from(place),
        Cell::from(g.service.clone().unwrap_or_else(|| "-".into())),
        Cell::from(match &held {
            Some(why) => Line::from(vec![
                Span::styled(format!("{open}{}", g.summary), theme.dim),
                Span::styled(format!("  [{why}]"), theme.restarting),
            ]),
            None => Line::from(format!("{open}{}", g.summary)),
        }),
    ])
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

    #[test]
    fn silenced_groups_are_shown_dimmed_with_why() {
        let mut app = app();
        press(&mut app, '5');
        let now = jiff::Timestamp::now();
        let long = std::time::Duration::from_secs(3600);
        app.state.triage.silences = vec![crate::ops::alerts::silence::new(
            &[],
            "sick",
            long,
            "known, fix on Monday",
            "alice",
            now,
        )];
        let screen = snapshot::render(&mut app, 160, 12);
        let sick = screen
            .lines()
            .find(|l| l.contains("sick unhealthy"))
            .unwrap_or_default();
        assert!(
            sick.contains("[silenced until") && sick.contains("by alice: known, fix on Monday]"),
            "{screen}"
        );
        let crash = screen
            .lines()
            .find(|l| l.contains("crash-looping"))
            .unwrap_or_default();
        assert!(!crash.contains("silenced"), "only the target: {screen}");
    }

    #[test]
    fn z_silences_the_selected_problem_and_again_ends_it() {
        use crate::tui::msg::AppEffect;
        let mut app = app();
        press(&mut app, '5');
        let silence = |app: &mut crate::tui::app::App| {
            app.update(crate::tui::testutil::key('z'))
                .into_iter()
                .find_map(|e| match e {
                    AppEffect::Silence { target, end, .. } => Some((target, end)),
                    _ => None,
                })
        };
        // The host problem first: its host.
        assert_eq!(silence(&mut app), Some(("fleet-3".to_owned(), false)));
        press(&mut app, 'j');
        press(&mut app, 'j');
        assert_eq!(silence(&mut app), Some(("sick".to_owned(), false)));
        app.state.triage.silences = vec![crate::ops::alerts::silence::new(
            &[],
            "sick",
            std::time::Duration::from_secs(600),
            "",
            "alice",
            jiff::Timestamp::now(),
        )];
        assert_eq!(
            silence(&mut app),
            Some(("sick".to_owned(), true)),
            "again: end it"
        );
        // Only in the Triage view.
        press(&mut app, '2');
        assert_eq!(silence(&mut app), None);
    }

    #[test]
    fn a_group_on_several_hosts_expands_to_its_containers() {
        let mut app = app();
        press(&mut app, '5');
        let screen = snapshot::render(&mut app, 120, 12);
        assert!(
            screen.contains("▸ batch exited non-zero on 2/3 hosts"),
            "{screen}"
        );
        for _ in 0..3 {
            press(&mut app, 'j');
        }
        assert!(
            app.update(crate::tui::testutil::code(crossterm::event::KeyCode::Enter))
                .is_empty()
        );
        let screen = snapshot::render(&mut app, 120, 14);
        assert!(screen.contains("▾ batch exited non-zero"), "{screen}");
        let members: Vec<&str> = screen
            .lines()
            .filter(|l| l.contains("shop-batch-1"))
            .collect();
        assert_eq!(members.len(), 2, "{screen}");
        insta::assert_snapshot!(screen);
        // Enter on a member opens its logs.
        press(&mut app, 'j');
        let effects = app.update(crate::tui::testutil::code(crossterm::event::KeyCode::Enter));
        assert!(!effects.is_empty(), "logs requested");
        assert_eq!(app.view, crate::tui::app::View::Logs);
    }
}
