//! The Deploy view through the App: prompt, plan, run, controls, refusals.

use crossterm::event::KeyCode;

use crate::ops::deploy::event::{Step, Timings};
use crate::ops::deploy::{Control, DeployEvent, HostOutcome, RunOutcome};
use crate::tui::app::{AppEffect, AppEvent, InputKind, Overlay, View};
use crate::tui::state::deploy::{DeployRequest, Pause, Phase};
use crate::tui::testutil::{
    app_on_web, ask_v2, ctrl, planned, press, press_code, step, type_text, web_plan,
};

#[test]
fn d_prompts_with_the_majority_image_and_enter_prepares() {
    let mut app = app_on_web();
    assert!(press(&mut app, 'D').is_empty());
    assert_eq!(
        app.overlay,
        Overlay::Input {
            kind: InputKind::DeployImage,
            text: "flotilla-test/app:v1".into()
        }
    );
    app.update(ctrl('u'));
    type_text(&mut app, "flotilla-test/app:v2");
    let effects = press_code(&mut app, KeyCode::Enter);
    assert_eq!(
        effects,
        vec![
            AppEffect::PrepareDeploy {
                service: "web".into(),
                request: DeployRequest::Deploy {
                    image: "flotilla-test/app:v2".into()
                },
            },
            AppEffect::LoadAudit
        ]
    );
    assert_eq!(app.view, View::Deploy);
    assert_eq!(
        app.state.deploy.current.as_ref().map(|d| d.phase),
        Some(Phase::Preparing)
    );
}

#[test]
fn d_finds_a_match_service_named_otherwise_than_its_compose_service() {
    let mut app = app_on_web();
    for s in &mut app.state.deploy.services {
        s.name = "storefront".into();
        s.container = crate::config::ContainerSelector::Label {
            key: "com.docker.compose.service".into(),
            value: Some("web".into()),
        };
    }
    assert!(press(&mut app, 'D').is_empty());
    // Every replica the match owns counts: v1 on two of the three hosts.
    assert_eq!(
        app.overlay,
        Overlay::Input {
            kind: InputKind::DeployImage,
            text: "flotilla-test/app:v1".into()
        }
    );
    assert_eq!(app.state.deploy.target.as_deref(), Some("storefront"));
}

#[test]
fn an_unconfigured_service_is_refused() {
    let mut app = app_on_web();
    app.state.deploy.services.clear();
    assert!(press(&mut app, 'D').is_empty());
    assert_eq!(app.overlay, Overlay::None);
    let status = app.status.clone().map(|s| s.text).unwrap_or_default();
    assert!(status.contains("[service.web]"), "{status}");
}

#[test]
fn plan_confirm_events_finish() {
    let mut app = planned();
    assert_eq!(
        app.state.deploy.current.as_ref().map(|d| d.phase),
        Some(Phase::Planned)
    );
    assert_eq!(press(&mut app, 'y'), vec![AppEffect::StartDeploy]);
    app.update(AppEvent::Deploy(DeployEvent::BatchStarted {
        index: 0,
        hosts: vec!["fleet-1".into()],
    }));
    app.update(step("fleet-1", Step::Transferring));
    app.update(AppEvent::Deploy(DeployEvent::Progress {
        host: "fleet-1".into(),
        bytes: 1024,
        total: Some(4096),
    }));
    let d = app
        .state
        .deploy
        .current
        .clone()
        .unwrap_or_else(|| unreachable!());
    assert_eq!(d.batch, Some(1));
    assert_eq!(d.rows[0].step, Some(Step::Transferring));
    assert_eq!(d.rows[0].bytes, Some((1024, Some(4096))));
    app.update(AppEvent::Deploy(DeployEvent::HealthWait {
        host: "fleet-1".into(),
        replica: None,
        status: "starting".into(),
        remaining_s: 42,
    }));
    app.update(AppEvent::Deploy(DeployEvent::HostDone {
        host: "fleet-1".into(),
        container: "shop-web-1".into(),
        outcome: HostOutcome::Deployed,
        image: "flotilla-test/app:v2".into(),
        error: None,
        timings: Timings::default(),
    }));
    let d = app
        .state
        .deploy
        .current
        .clone()
        .unwrap_or_else(|| unreachable!());
    assert_eq!(d.rows[0].outcome, Some(HostOutcome::Deployed));
    assert_eq!(d.rows[0].wait, None);
    // Quitting mid-deploy would leave a host half done.
    assert!(press(&mut app, 'q').is_empty());
    let effects = app.update(AppEvent::Deploy(DeployEvent::Finished {
        outcome: RunOutcome::Succeeded,
        deployed: 2,
        failed: 0,
        skipped: 0,
        elapsed_ms: 12_300,
        reason: None,
    }));
    assert_eq!(effects, vec![AppEffect::LoadAudit]);
    assert_eq!(
        app.state.deploy.current.as_ref().map(|d| d.phase),
        Some(Phase::Finished)
    );
    // One key rolls back: prepared and planned the same way.
    assert_eq!(
        press(&mut app, 'R'),
        vec![
            AppEffect::PrepareDeploy {
                service: "web".into(),
                request: DeployRequest::Rollback,
            },
            AppEffect::LoadAudit
        ]
    );
    assert_eq!(
        app.state.deploy.current.as_ref().map(|d| d.phase),
        Some(Phase::Preparing)
    );
}

#[test]
fn pause_continue_and_confirmed_abort_send_controls() {
    let mut app = planned();
    press(&mut app, 'y');
    assert_eq!(
        press(&mut app, 'p'),
        vec![AppEffect::DeployControl(Control::Pause)]
    );
    assert_eq!(
        app.state.deploy.current.as_ref().map(|d| d.pause),
        Some(Pause::Requested)
    );
    app.update(AppEvent::Deploy(DeployEvent::Paused));
    assert_eq!(
        app.state.deploy.current.as_ref().map(|d| d.pause),
        Some(Pause::Paused)
    );
    assert_eq!(
        press(&mut app, 'c'),
        vec![AppEffect::DeployControl(Control::Run)]
    );
    assert!(press(&mut app, 'A').is_empty());
    assert_eq!(app.overlay, Overlay::ConfirmAbort);
    // Any other key keeps it going.
    assert!(press(&mut app, 'n').is_empty());
    assert_eq!(app.overlay, Overlay::None);
    press(&mut app, 'A');
    assert_eq!(
        press(&mut app, 'y'),
        vec![AppEffect::DeployControl(Control::Abort)]
    );
}

#[test]
fn read_only_and_refusals_do_not_start() {
    let mut app = planned();
    app.settings.read_only = true;
    assert!(press(&mut app, 'y').is_empty());
    let status = app.status.clone().map(|s| s.text).unwrap_or_default();
    assert!(status.contains("read-only"), "{status}");
    assert_eq!(
        app.state.deploy.current.as_ref().map(|d| d.phase),
        Some(Phase::Planned)
    );

    let mut app = app_on_web();
    ask_v2(&mut app);
    let mut plan = web_plan();
    plan.refusal = Some("web is locked on fleet-1".into());
    app.update(AppEvent::DeployPrepared(Ok(plan)));
    assert!(press(&mut app, 'y').is_empty());
    let status = app.status.clone().map(|s| s.text).unwrap_or_default();
    assert!(status.contains("locked on fleet-1"), "{status}");
}

#[test]
fn esc_on_the_plan_discards_it() {
    let mut app = planned();
    assert_eq!(
        press_code(&mut app, KeyCode::Esc),
        vec![AppEffect::DiscardDeploy]
    );
    assert_eq!(app.view, View::Services);
    assert!(app.state.deploy.current.is_none());
}

#[test]
fn a_late_plan_for_another_request_is_ignored() {
    let mut app = app_on_web();
    press(&mut app, 'D');
    // Prefilled v1, while the plan that arrives is for v2.
    press_code(&mut app, KeyCode::Enter);
    app.update(AppEvent::DeployPrepared(Ok(web_plan())));
    assert_eq!(
        app.state.deploy.current.as_ref().map(|d| d.phase),
        Some(Phase::Preparing)
    );
}

#[test]
fn a_failed_prepare_is_shown() {
    let mut app = app_on_web();
    press(&mut app, 'D');
    press_code(&mut app, KeyCode::Enter);
    app.update(AppEvent::DeployPrepared(Err(
        "cannot deploy web: unreachable".into(),
    )));
    assert_eq!(
        app.state.deploy.current.as_ref().map(|d| d.phase),
        Some(Phase::Failed)
    );
}

#[test]
fn a_host_row_follows_the_replica_being_replaced() {
    use crate::ops::deploy::ReplicaRef;
    let mut app = planned();
    press(&mut app, 'y');
    let replica = Some(ReplicaRef {
        container: "shop-api-2".into(),
        index: 2,
        total: 3,
    });
    app.update(AppEvent::Deploy(DeployEvent::Step {
        host: "fleet-1".into(),
        replica: replica.clone(),
        step: Step::WaitingForHealth,
        detail: "HEALTHCHECK".into(),
    }));
    let row = |app: &crate::tui::app::App| {
        app.state
            .deploy
            .current
            .as_ref()
            .map(|d| d.rows[0].clone())
            .unwrap_or_else(|| unreachable!())
    };
    assert_eq!(row(&app).detail, "shop-api-2 (2/3): HEALTHCHECK");
    app.update(AppEvent::Deploy(DeployEvent::HealthWait {
        host: "fleet-1".into(),
        replica,
        status: "starting".into(),
        remaining_s: 9,
    }));
    assert_eq!(
        row(&app).wait,
        Some(("shop-api-2 (2/3) starting".to_owned(), 9))
    );
}
