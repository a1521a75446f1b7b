//! The TUI's test helpers: keys, an app over the fleet fixtures, a deploy plan.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub use crate::fleet::fixtures::{container, sample_fleet, web_service};
use crate::tui::app::{App, AppEffect, AppEvent};

/// What the loop would prepare for web → app:v2 (fleet-2 already runs it).
pub fn web_plan() -> crate::tui::state::deploy::PlanSummary {
    use crate::ops::deploy::{Job, Plan, PlannedHost, PlannedReplica};
    let host = |name: &str, from: &str, job: Job| {
        let mut h = PlannedHost::new(
            name,
            vec![PlannedReplica {
                container: "shop-web-1".into(),
                from: from.into(),
                to: "flotilla-test/app:v2".into(),
                job,
                note: (job == Job::Keep).then(|| "already on the image".to_owned()),
            }],
        );
        h.order = Some(if name == "fleet-3" {
            "stop-first: it publishes host port 0.0.0.0:8080->8080/tcp (two containers cannot bind one host port)".into()
        } else {
            "start-first: it publishes no host port, so the new one serves beside the old until healthy".into()
        });
        h
    };
    crate::tui::state::deploy::PlanSummary {
        deploy_id: "20261125T210000Z-4242".into(),
        service: "web".into(),
        kind: crate::ops::audit::Mode::Deploy,
        image: Some("flotilla-test/app:v2".into()),
        plan: Plan {
            batches: vec![
                vec![host("fleet-1", "flotilla-test/app:v1", Job::Deploy)],
                vec![host("fleet-3", "flotilla-test/app:v1", Job::Deploy)],
            ],
            unchanged: vec![host("fleet-2", "flotilla-test/app:v2", Job::Keep)],
            max_fail: 0,
        },
        pre_deploy: Some("./migrate".into()),
        refusal: None,
    }
}

/// An `App` over the sample fleet with the default keys and settings.
pub fn app() -> crate::tui::app::App {
    use crate::tui::action::Keymap;
    use crate::tui::app::{App, Settings};
    App::new(sample_fleet(), Keymap::default(), Settings::default())
}

/// A key press event; upper case comes with SHIFT, as terminals send it.
pub fn code(code: KeyCode) -> AppEvent {
    let modifiers = match code {
        KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
        _ => KeyModifiers::NONE,
    };
    AppEvent::Key(KeyEvent::new(code, modifiers))
}

pub fn key(c: char) -> AppEvent {
    code(KeyCode::Char(c))
}

pub fn ctrl(c: char) -> AppEvent {
    AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

pub fn press(app: &mut App, c: char) -> Vec<AppEffect> {
    app.update(key(c))
}

pub fn press_code(app: &mut App, c: KeyCode) -> Vec<AppEffect> {
    app.update(code(c))
}

pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(key(c));
    }
}

/// The services matrix with `web` selected, `[service.web]` configured.
pub fn app_on_web() -> App {
    let mut app = app();
    app.state.deploy.services = vec![web_service()];
    press(&mut app, '3');
    let names = app.fleet.service_names();
    app.state.services.row = names.iter().position(|n| n == "web").unwrap_or(0);
    app
}

/// D, then the image prompt answered with app:v2.
pub fn ask_v2(app: &mut App) {
    press(app, 'D');
    app.update(ctrl('u'));
    type_text(app, "flotilla-test/app:v2");
    press_code(app, KeyCode::Enter);
}

/// The web deploy to app:v2, planned and shown.
pub fn planned() -> App {
    let mut app = app_on_web();
    ask_v2(&mut app);
    app.update(AppEvent::DeployPrepared(Ok(web_plan())));
    app
}

/// A deploy step event for `host`.
pub fn step(host: &str, step: crate::ops::deploy::event::Step) -> AppEvent {
    AppEvent::Deploy(crate::ops::deploy::DeployEvent::Step {
        host: host.into(),
        replica: None,
        step,
        detail: String::new(),
    })
}
