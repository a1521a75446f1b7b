//! The App's dispatch: keys to actions to views, effects out.

use crossterm::event::KeyCode;

use super::*;
use crate::fleet::{FleetEvent, HostEvent, HostId};
use crate::tui::testutil::{app, code, key, sample_fleet, type_text};

#[test]
fn restart_goes_through_confirm_and_names_what_and_where() {
    let mut app = app();
    // Row 0 is fleet-1/shop-batch-1; move to shop-crashloop-1.
    app.update(key('j'));
    assert!(
        app.update(key('r')).is_empty(),
        "nothing happens before confirming"
    );
    let Overlay::Confirm { action, targets } = &app.overlay else {
        panic!("confirm dialog expected, got {:?}", app.overlay);
    };
    assert_eq!(*action, ContainerAction::Restart);
    assert_eq!(targets.len(), 1);
    assert_eq!(
        (targets[0].host_name.as_str(), targets[0].name.as_str()),
        ("fleet-1", "shop-crashloop-1")
    );
    let effects = app.update(key('y'));
    assert_eq!(
        effects,
        vec![AppEffect::Host(
            0,
            HostCommand::Act {
                container: targets_id(&app, "fleet-1", "shop-crashloop-1"),
                action: ContainerAction::Restart
            }
        )]
    );
    assert_eq!(app.pending_actions, 1);
}

fn targets_id(app: &App, host: &str, name: &str) -> String {
    app.fleet
        .containers()
        .find(|c| c.host == host && c.name == name)
        .map(|c| c.id.clone())
        .unwrap_or_default()
}

#[test]
fn cancelled_confirm_sends_nothing() {
    let mut app = app();
    app.update(key('s'));
    assert!(matches!(app.overlay, Overlay::Confirm { .. }));
    assert!(app.update(code(KeyCode::Esc)).is_empty());
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn marked_containers_are_all_targeted() {
    let mut app = app();
    app.update(key(' '));
    app.update(key(' '));
    app.update(key('K'));
    let Overlay::Confirm { targets, .. } = &app.overlay else {
        panic!("confirm expected");
    };
    assert_eq!(targets.len(), 2);
}

#[test]
fn read_only_refuses_before_confirming() {
    let mut app = App::new(
        sample_fleet(),
        Keymap::default(),
        Settings {
            read_only: true,
            ..Settings::default()
        },
    );
    app.update(key('r'));
    assert_eq!(app.overlay, Overlay::None);
    assert!(
        app.status
            .as_ref()
            .is_some_and(|s| s.error && s.text.contains("read-only"))
    );
}

#[test]
fn actions_on_a_down_host_are_refused() {
    let mut app = app();
    type_text(&mut app, "/host:fleet-3");
    app.update(code(KeyCode::Enter));
    app.update(key('r'));
    assert_eq!(app.overlay, Overlay::None);
    assert!(
        app.status
            .as_ref()
            .is_some_and(|s| s.text.contains("unreachable")),
        "{:?}",
        app.status
    );
}

#[test]
fn action_result_is_reported_and_audited() {
    let mut app = app();
    let id = targets_id(&app, "fleet-1", "shop-web-1");
    let effects = app.update(AppEvent::Fleet(FleetEvent {
        host: 0,
        kind: HostEvent::ActionDone {
            container: id,
            action: ContainerAction::Stop,
            result: Err("conflict".into()),
        },
    }));
    let [AppEffect::Audit(record)] = effects.as_slice() else {
        panic!("audit effect expected: {effects:?}");
    };
    assert_eq!(
        (
            record.host.as_str(),
            record.container.as_str(),
            record.action.to_string().as_str()
        ),
        ("fleet-1", "shop-web-1", "stop")
    );
    assert_eq!(record.result, "conflict");
    assert!(app.status.as_ref().is_some_and(|s| s.error));
    assert_eq!(app.state.audit.records.len(), 1);
}

#[test]
fn a_host_dropping_does_not_cover_an_unread_action_result() {
    let mut app = app();
    let id = targets_id(&app, "fleet-1", "shop-web-1");
    let fleet = |host, kind| AppEvent::Fleet(FleetEvent { host, kind });
    let dropped = || HostEvent::Disconnected {
        reason: "cannot connect to 127.0.10.3:22".into(),
        retry_in: Some(std::time::Duration::from_secs(2)),
    };
    app.update(fleet(
        0,
        HostEvent::ActionDone {
            container: id,
            action: ContainerAction::Restart,
            result: Ok(()),
        },
    ));
    app.update(fleet(2, dropped()));
    let text = app.status.as_ref().map(|s| s.text.clone());
    assert_eq!(text.as_deref(), Some("restart shop-web-1 on fleet-1: ok"));
    // Once read (any key), host news shows again.
    app.update(code(KeyCode::Down));
    app.update(fleet(2, dropped()));
    assert!(
        app.status
            .as_ref()
            .is_some_and(|s| s.error && s.text.starts_with("fleet-3: cannot connect")),
        "{:?}",
        app.status
    );
}

#[test]
fn filter_applies_while_typing_and_esc_clears() {
    let mut app = app();
    type_text(&mut app, "/sick");
    assert_eq!(app.state.containers.rows(&app.fleet).len(), 1);
    app.update(code(KeyCode::Enter));
    assert_eq!(app.state.containers.filter.text(), "sick");
    app.update(code(KeyCode::Esc));
    assert!(app.state.containers.filter.is_empty());
}

#[test]
fn log_follow_is_reissued_when_the_host_is_back() {
    let mut app = app();
    app.update(code(KeyCode::Enter));
    let id = app
        .state
        .logs
        .as_ref()
        .map(|l| l.sources[0].container_id.clone());
    let id = id.expect("log view");
    let lines = vec![crate::fleet::RawLogLine {
        stream: crate::fleet::LogStream::Stdout,
        bytes: b"2026-01-01T00:00:07.5Z x".to_vec(),
    }];
    let fleet = |kind| AppEvent::Fleet(FleetEvent { host: 0, kind });
    app.update(fleet(HostEvent::Logs {
        container_id: id.clone(),
        lines,
    }));
    app.update(fleet(HostEvent::Disconnected {
        reason: "SSH session closed".into(),
        retry_in: Some(std::time::Duration::from_secs(1)),
    }));
    let info = crate::fleet::HostInfo {
        docker_version: "27".into(),
        api_version: "1.47".into(),
        tunnel: "direct-streamlocal".into(),
    };
    let effects = app.update(fleet(HostEvent::Connected {
        info,
        rtt: std::time::Duration::from_millis(1),
    }));
    let resumed = effects.iter().any(|e| {
        matches!(e, AppEffect::Host(0, HostCommand::FollowLogs { container_id, since: Some(s), .. })
            if *container_id == id && *s == 1_767_225_607)
    });
    assert!(resumed, "{effects:?}");
    let notice = app
        .state
        .logs
        .as_ref()
        .and_then(|l| l.notices.last().cloned());
    assert!(
        notice.is_some_and(|n| n.ends_with("stream resumed after reconnect")),
        "{:?}",
        app.state.logs.as_ref().map(|l| &l.notices)
    );
}

#[test]
fn enter_opens_logs_and_esc_stops_them() {
    let mut app = app();
    let effects = app.update(code(KeyCode::Enter));
    assert_eq!(app.view, View::Logs);
    assert!(
        matches!(
            effects.as_slice(),
            [AppEffect::Host(0, HostCommand::FollowLogs { .. })]
        ),
        "{effects:?}"
    );
    let effects = app.update(code(KeyCode::Esc));
    assert_eq!(effects, vec![AppEffect::Host(0, HostCommand::StopLogs)]);
    assert_eq!(app.view, View::Containers);
    assert!(app.state.logs.is_none());
}

#[test]
fn service_logs_merge_every_reachable_host() {
    let mut app = app();
    let effects = app.update(key(':'));
    assert!(effects.is_empty());
    type_text(&mut app, "logs web");
    let effects = app.update(code(KeyCode::Enter));
    let hosts: Vec<HostId> = effects
        .iter()
        .filter_map(|e| match e {
            AppEffect::Host(h, HostCommand::FollowLogs { .. }) => Some(*h),
            _ => None,
        })
        .collect();
    assert_eq!(hosts, [0, 1], "fleet-3 is down");
    assert!(
        app.state
            .logs
            .as_ref()
            .is_some_and(|l| l.is_merged() && l.title.contains("merged"))
    );
}

#[test]
fn since_reopens_the_log_streams_with_a_window() {
    let mut app = app();
    app.update(code(KeyCode::Enter));
    app.update(key(':'));
    type_text(&mut app, "since 10m");
    let effects = app.update(code(KeyCode::Enter));
    let since = effects.iter().find_map(|e| match e {
        AppEffect::Host(0, HostCommand::FollowLogs { since, .. }) => *since,
        _ => None,
    });
    let expected = jiff::Timestamp::now().as_second() - 600;
    assert!(
        since.is_some_and(|s| (s - expected).abs() <= 2),
        "{effects:?}"
    );
    assert!(
        effects.contains(&AppEffect::Host(0, HostCommand::StopLogs)),
        "old stream stopped first"
    );
    assert!(
        app.state
            .logs
            .as_ref()
            .is_some_and(|l| l.title.ends_with("[since 10m]"))
    );
    app.update(key(':'));
    type_text(&mut app, "since soon");
    assert!(app.update(code(KeyCode::Enter)).is_empty());
    assert!(app.status.as_ref().is_some_and(|s| s.error));
}

#[test]
fn tab_cycles_views_and_audit_loads() {
    let mut app = app();
    assert_eq!(app.view, View::Containers);
    app.update(code(KeyCode::Tab));
    assert_eq!(app.view, View::Services);
    assert_eq!(app.update(code(KeyCode::Tab)), vec![AppEffect::LoadAudit]);
    app.update(code(KeyCode::Tab));
    assert_eq!(app.view, View::Triage);
    app.update(code(KeyCode::Tab));
    assert_eq!(app.view, View::Timeline);
    app.update(code(KeyCode::Tab));
    assert_eq!(app.view, View::Top);
    assert!(matches!(
        app.update(code(KeyCode::Tab)).as_slice(),
        [AppEffect::PlanPrune(_)]
    ));
    assert_eq!(app.view, View::Disk);
    app.update(code(KeyCode::Tab));
    assert_eq!(app.view, View::Hosts);
}

#[test]
fn triage_enter_opens_the_findings_logs_and_snapshot_is_one_key() {
    let mut app = app();
    app.update(key('5'));
    assert_eq!(app.view, View::Triage);
    // Row 0 is the down host; row 1 the crash loop on fleet-1.
    app.update(key('j'));
    let effects = app.update(code(KeyCode::Enter));
    assert!(
        matches!(
            effects.as_slice(),
            [AppEffect::Host(0, HostCommand::FollowLogs { .. })]
        ),
        "{effects:?}"
    );
    assert!(
        app.state
            .logs
            .as_ref()
            .is_some_and(|l| l.title == "shop-crashloop-1 @ fleet-1")
    );
    // S gathers in the background (evidence is I/O), one at a time.
    assert_eq!(app.update(key('S')), vec![AppEffect::GatherSnapshot]);
    assert!(
        app.status
            .as_ref()
            .is_some_and(|s| !s.error && s.text.contains("gathering"))
    );
    assert!(app.update(key('S')).is_empty(), "already gathering");
    assert!(app.status.as_ref().is_some_and(|s| s.error));
    // The answer is written by the loop, and S works again.
    let gathered = ("## Incident snapshot".to_owned(), "[]".to_owned());
    assert_eq!(
        app.update(AppEvent::SnapshotGathered(Ok(gathered))),
        vec![AppEffect::Snapshot {
            markdown: "## Incident snapshot".into(),
            json: "[]".into()
        }]
    );
    assert!(
        app.update(AppEvent::SnapshotGathered(Err("boom".into())))
            .is_empty()
    );
    assert!(
        app.status
            .as_ref()
            .is_some_and(|s| s.error && s.text == "incident snapshot: boom")
    );
    assert_eq!(app.update(key('S')), vec![AppEffect::GatherSnapshot]);
}

#[test]
fn quit_and_palette_quit() {
    let mut app = app();
    assert_eq!(app.update(key('q')), vec![AppEffect::Quit]);
    app.update(key(':'));
    app.update(key('q'));
    assert_eq!(app.update(code(KeyCode::Enter)), vec![AppEffect::Quit]);
}

#[test]
fn disconnect_is_shown_and_containers_kept() {
    let mut app = app();
    app.update(AppEvent::Fleet(FleetEvent {
        host: 0,
        kind: HostEvent::Disconnected {
            reason: "reset".into(),
            retry_in: Some(std::time::Duration::from_secs(1)),
        },
    }));
    assert!(
        app.status
            .as_ref()
            .is_some_and(|s| s.error && s.text.contains("fleet-1: reset"))
    );
    assert!(app.fleet.hosts[0].stale);
    assert!(!app.fleet.hosts[0].containers.is_empty());
}

#[test]
fn dialog_answers_follow_the_keys_config() {
    let overrides = std::collections::BTreeMap::from([
        ("confirm".to_owned(), vec!["o".to_owned()]),
        ("cancel".to_owned(), vec!["x".to_owned()]),
    ]);
    let keymap = Keymap::with_overrides(&overrides).expect("valid");
    let mut app = App::new(sample_fleet(), keymap, Settings::default());
    app.update(key('r'));
    assert!(app.update(key('y')).is_empty(), "y no longer confirms");
    assert!(matches!(app.overlay, Overlay::Confirm { .. }));
    assert_eq!(app.update(key('o')).len(), 1);
    assert_eq!(app.overlay, Overlay::None);
    app.update(key('r'));
    assert!(app.update(key('x')).is_empty());
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn esc_in_another_tab_still_clears_the_container_filter() {
    let mut app = app();
    type_text(&mut app, "/web");
    app.update(code(KeyCode::Enter));
    app.update(key('1'));
    app.update(code(KeyCode::Esc));
    assert!(app.state.containers.filter.is_empty());
}

#[test]
fn hosts_enter_shows_that_hosts_containers() {
    let mut app = app();
    app.update(key('1'));
    app.update(key('j'));
    app.update(code(KeyCode::Enter));
    assert_eq!(app.view, View::Containers);
    assert_eq!(app.state.containers.filter.text(), "host:fleet-2");
}
