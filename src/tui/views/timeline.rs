//! Timeline: Docker events of every host and flotilla's audit records from
//! the last hour on, in time order, host-coloured, followed live.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};

use crate::tui::app::App;
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let tl = &app.state.timeline;
    let host_index = |name: &str| app.fleet.host_named(name).map(|(id, _)| id).unwrap_or(0);
    let header = Row::new(["TIME", "HOST", "SOURCE", "ACTION", "CONTAINER", "DETAIL"]);
    let rows: Vec<Row> = tl
        .entries
        .iter()
        .map(|e| {
            let time = crate::logs::format_ts(e.nanos);
            let time = time.get(11..23).unwrap_or(&time).to_owned();
            let action_style = match e.action.as_str() {
                "die" | "oom" | "kill" | "destroy" => theme.unhealthy,
                "health_status: unhealthy" => theme.unhealthy,
                _ if e.source == crate::ops::timeline::Source::Audit => theme.key,
                _ => ratatui::style::Style::default(),
            };
            let what = match (&e.container, &e.service) {
                (Some(c), Some(s)) if s != c => format!("{c} ({s})"),
                (Some(c), _) => c.clone(),
                (None, _) => "-".to_owned(),
            };
            Row::new(vec![
                Cell::from(Span::styled(time, theme.dim)),
                Cell::from(Span::styled(
                    e.host.clone(),
                    theme.host(host_index(&e.host)),
                )),
                Cell::from(e.source.to_string()),
                Cell::from(Span::styled(e.action.clone(), action_style)),
                Cell::from(what),
                Cell::from(e.detail.clone()),
            ])
        })
        .collect();
    let scope = if tl.targets.is_empty() {
        String::new()
    } else {
        format!(" of {}", tl.targets.join(", "))
    };
    let title = if tl.loading {
        format!(" Timeline{scope}: reading the last hour… ")
    } else {
        let failed = if tl.failed.is_empty() {
            String::new()
        } else {
            let hosts: Vec<&str> = tl.failed.iter().map(|(h, _)| h.as_str()).collect();
            format!("; not read: {}", hosts.join(", "))
        };
        // Live: new events and audit records come in as they happen.
        let follow = if tl.following() {
            "following".to_owned()
        } else if tl.new_below > 0 {
            format!("held, {} new below (G follows)", tl.new_below)
        } else {
            "held (G follows)".to_owned()
        };
        format!(
            " Timeline{scope} ({} events, last hour{failed}) ● live, {follow} ",
            tl.entries.len()
        )
    };
    super::render_list(
        frame,
        area,
        theme,
        (header, rows),
        &[
            Constraint::Length(12),
            Constraint::Max(12),
            Constraint::Length(6),
            Constraint::Max(26),
            Constraint::Max(30),
            Constraint::Fill(1),
        ],
        title,
        tl.selected,
    );
}

#[cfg(test)]
mod tests {
    use crate::ops::timeline::Entry;
    use crate::tui::app::{AppEffect, AppEvent, View};
    use crate::tui::testutil::{app, press};
    use crate::tui::views::snapshot;

    fn entry(secs: i64, host: &str, source: &'static str, action: &str, container: &str) -> Entry {
        let nanos = i128::from(1_764_100_000 + secs) * 1_000_000_000;
        Entry {
            time: String::new(),
            host: host.into(),
            source: if source == "audit" {
                crate::ops::timeline::Source::Audit
            } else {
                crate::ops::timeline::Source::Docker
            },
            kind: "container".into(),
            action: action.into(),
            container: Some(container.into()),
            service: Some("web".into()),
            detail: if action == "die" {
                "exitCode=1".into()
            } else {
                String::new()
            },
            nanos,
            id: None,
            kept: None,
        }
    }

    #[test]
    fn timeline_reads_the_last_hour_and_shows_it_in_order() {
        let mut app = app();
        let effects = press(&mut app, '6');
        assert_eq!(app.view, View::Timeline);
        assert!(
            effects.iter().any(
                |e| matches!(e, AppEffect::LoadTimeline { targets, .. } if targets.is_empty())
            ),
            "{effects:?}"
        );
        let entries = vec![
            entry(0, "fleet-1", "docker", "die", "shop-web-1"),
            entry(1, "fleet-1", "docker", "start", "shop-web-1"),
            entry(2, "fleet-2", "audit", "restart", "shop-web-1"),
        ];
        app.update(AppEvent::TimelineLoaded {
            entries,
            failed: vec![("fleet-3".into(), "unreachable".into())],
        });
        let screen = snapshot::render(&mut app, 100, 10);
        assert!(
            screen.contains("Timeline (3 events, last hour; not read: fleet-3)"),
            "{screen}"
        );
        insta::assert_snapshot!(screen);
    }

    #[test]
    fn an_empty_timeline_and_an_empty_triage_render() {
        let mut app = crate::tui::app::App::new(
            crate::fleet::FleetState::new(&crate::config::Inventory {
                source: None,
                ui: Default::default(),
                alerts: Default::default(),
                hosts: Vec::new(),
            }),
            crate::tui::action::Keymap::default(),
            crate::tui::app::Settings::default(),
        );
        press(&mut app, '6');
        let screen = snapshot::render(&mut app, 80, 8);
        assert!(screen.contains("reading the last hour"), "{screen}");
        app.update(AppEvent::TimelineLoaded {
            entries: Vec::new(),
            failed: Vec::new(),
        });
        assert!(snapshot::render(&mut app, 80, 8).contains("Timeline (0 events"));
        press(&mut app, '5');
        assert!(snapshot::render(&mut app, 80, 8).contains("nothing broken"));
    }

    #[test]
    fn a_triage_problem_opens_its_events() {
        let mut app = app();
        press(&mut app, '5');
        for _ in 0..3 {
            press(&mut app, 'j');
        }
        let effects = press(&mut app, 'T');
        assert_eq!(app.view, View::Timeline);
        match effects.as_slice() {
            [.., AppEffect::LoadTimeline { targets, .. }] => {
                assert_eq!(targets, &["shop-batch-1".to_owned()]);
            }
            other => panic!("{other:?}"),
        }
        // Esc widens it to the whole fleet.
        let effects = app.update(crate::tui::testutil::code(crossterm::event::KeyCode::Esc));
        assert!(matches!(
            effects.as_slice(),
            [AppEffect::LoadTimeline { targets, .. }] if targets.is_empty()
        ));
    }

    #[test]
    fn enter_on_an_audit_entry_with_kept_logs_reads_them() {
        let mut app = app();
        press(&mut app, '6');
        let mut kept = entry(2, "fleet-2", "audit", "deploy:kept-logs", "shop-web-1");
        kept.kept = Some("/state/kept-logs/d1-fleet-2-shop-web-1.log".into());
        app.update(AppEvent::TimelineLoaded {
            entries: vec![entry(0, "fleet-1", "docker", "die", "shop-web-1"), kept],
            failed: Vec::new(),
        });
        let enter = crate::tui::testutil::code(crossterm::event::KeyCode::Enter);
        assert_eq!(
            app.update(enter.clone()),
            [AppEffect::ReadKept {
                title: "kept logs: shop-web-1 @ fleet-2".into(),
                path: "/state/kept-logs/d1-fleet-2-shop-web-1.log".into()
            }]
        );
        // A Docker event has no kept logs: nothing happens.
        press(&mut app, 'k');
        assert!(app.update(enter).is_empty());
    }

    #[test]
    fn new_docker_events_and_audit_records_appear_live() {
        use crate::fleet::{FleetEvent, HostEvent};
        let mut app = app();
        press(&mut app, '6');
        app.update(AppEvent::TimelineLoaded {
            entries: vec![
                entry(0, "fleet-1", "docker", "die", "shop-web-1"),
                entry(1, "fleet-1", "docker", "start", "shop-web-1"),
            ],
            failed: Vec::new(),
        });
        let restart = |secs: i64| bollard::models::EventMessage {
            typ: Some(bollard::models::EventMessageTypeEnum::CONTAINER),
            action: Some("restart".into()),
            actor: Some(bollard::models::EventActor {
                id: Some("abcdef".into()),
                attributes: Some(
                    [("name".to_owned(), "shop-worker-1".to_owned())]
                        .into_iter()
                        .collect(),
                ),
            }),
            time_nano: Some((1_764_100_000 + secs) * 1_000_000_000),
            ..Default::default()
        };
        let docker = |secs| {
            AppEvent::Fleet(FleetEvent {
                host: 1,
                kind: HostEvent::DockerEvent(Box::new(restart(secs))),
            })
        };
        app.update(docker(5));
        let tl = &app.state.timeline;
        assert_eq!(tl.entries.len(), 3);
        assert_eq!(tl.selected, 2, "at the bottom: follows");
        // Held one up: new rows come below, the cursor stays.
        press(&mut app, 'k');
        app.update(docker(6));
        app.update(AppEvent::AuditAppended(vec![crate::ops::AuditRecord {
            time: "2025-11-25T19:46:47Z".parse().expect("time"),
            user: "ops".into(),
            host: "fleet-2".into(),
            container: "shop-web-1".into(),
            action: "restart".into(),
            result: "ok".into(),
            logs: None,
        }]));
        let screen = snapshot::render(&mut app, 110, 11);
        assert!(
            screen.contains("● live, held, 2 new below (G follows)"),
            "{screen}"
        );
        insta::assert_snapshot!(screen);
        press(&mut app, 'G');
        assert!(snapshot::render(&mut app, 110, 11).contains("● live, following"));
        // Not in the Timeline view: not followed (re-read on entry).
        press(&mut app, '1');
        app.update(docker(9));
        assert_eq!(app.state.timeline.entries.len(), 5);
    }
}
