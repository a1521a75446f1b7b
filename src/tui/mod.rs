//! The interactive TUI: one loop owns all state; host actors, keys and signals
//! feed it events; `App::update` turns them into effects.

pub mod action;
pub mod app;
pub mod filter;
pub mod logview;
pub mod table;
pub mod theme;
pub mod views;

#[cfg(test)]
pub mod testutil;

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::signal::unix::{SignalKind, signal};

use crate::config::Inventory;
use crate::fleet::{ActorConfig, Fleet, FleetState};
use crate::ops::AuditLog;
use app::{App, AppEffect, AppEvent, Settings};

/// Most queued events folded into one frame.
const MAX_EVENTS_PER_FRAME: usize = 1024;
const AUDIT_VIEW_LIMIT: usize = 1000;
const STATS_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

pub struct TuiOptions {
    pub actor: ActorConfig,
    pub settings: Settings,
    pub keymap: action::Keymap,
}

/// Runs the TUI until the user quits or a signal arrives.
pub async fn run(inventory: &Inventory, opts: TuiOptions) -> std::io::Result<()> {
    let mut fleet = Fleet::spawn(inventory, opts.actor);
    let mut app = App::new(FleetState::new(inventory), opts.keymap, opts.settings);
    let theme = theme::Theme::from_env();
    let audit = AuditLog::from_env();
    let mut terminal = ratatui::init();
    let size = terminal.size()?;
    app.update(AppEvent::Resize {
        width: size.width,
        height: size.height,
    });

    let mut keys = EventStream::new();
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    // CPU/memory of visible rows: one-shot reads, only while that view is open.
    let mut stats_tick = tokio::time::interval(STATS_EVERY);
    stats_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        if let Err(e) = terminal.draw(|f| views::draw(f, &app, &theme)) {
            break Err(e);
        }
        let first = tokio::select! {
            ev = keys.next() => match ev {
                Some(Ok(ev)) => terminal_event(ev),
                Some(Err(e)) => break Err(e),
                None => break Ok(()),
            },
            ev = fleet.events.recv() => ev.map(AppEvent::Fleet),
            _ = stats_tick.tick() => Some(AppEvent::StatsTick),
            _ = sigterm.recv() => break Ok(()),
            _ = sighup.recv() => break Ok(()),
        };
        let mut pending: Vec<AppEvent> = first.into_iter().collect();
        // Fold a burst (log lines, list refreshes) into one frame.
        while pending.len() < MAX_EVENTS_PER_FRAME {
            match fleet.events.try_recv() {
                Ok(ev) => pending.push(AppEvent::Fleet(ev)),
                Err(_) => break,
            }
        }
        let mut quit = false;
        for ev in pending {
            for effect in app.update(ev) {
                quit |= carry_out(effect, &mut app, &fleet, &audit).await;
            }
        }
        if quit {
            break Ok(());
        }
    };
    ratatui::restore();
    fleet.shutdown().await;
    result
}

fn terminal_event(ev: Event) -> Option<AppEvent> {
    match ev {
        // Key releases (kitty protocol) would double every press.
        Event::Key(k) if k.kind != KeyEventKind::Release => Some(AppEvent::Key(k)),
        Event::Resize(width, height) => Some(AppEvent::Resize { width, height }),
        _ => None,
    }
}

/// Executes one effect; returns true to quit.
async fn carry_out(effect: AppEffect, app: &mut App, fleet: &Fleet, audit: &AuditLog) -> bool {
    match effect {
        AppEffect::Quit => return true,
        AppEffect::Host(host, cmd) => {
            if !fleet.send(host, cmd).await {
                tracing::warn!(host, "host actor is gone");
            }
        }
        AppEffect::Audit(record) => {
            if let Err(e) = audit.append(&record) {
                let text = format!("cannot write audit log {}: {e}", audit.path().display());
                app.update(AppEvent::Notice { text, error: true });
            }
        }
        AppEffect::LoadAudit => match audit.tail(AUDIT_VIEW_LIMIT) {
            Ok((records, bad)) => {
                app.update(AppEvent::AuditLoaded(records));
                if bad > 0 {
                    let text = format!("{bad} unreadable line(s) in {}", audit.path().display());
                    app.update(AppEvent::Notice { text, error: true });
                }
            }
            Err(e) => {
                let text = format!("cannot read audit log {}: {e}", audit.path().display());
                app.update(AppEvent::Notice { text, error: true });
            }
        },
        AppEffect::Snapshot { markdown, json } => {
            let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
            let base = audit.path().with_file_name(format!("incident-{stamp}"));
            let md = base.with_extension("md");
            let js = base.with_extension("json");
            let written = std::fs::write(&md, markdown).and_then(|()| std::fs::write(&js, json));
            let (text, error) = match written {
                Ok(()) => (
                    format!("incident snapshot: {} (+ .json)", md.display()),
                    false,
                ),
                Err(e) => (
                    format!("cannot write incident snapshot {}: {e}", md.display()),
                    true,
                ),
            };
            app.update(AppEvent::Notice { text, error });
        }
        AppEffect::SaveLogs { path, text } => {
            let (text, error) = match std::fs::write(&path, text) {
                Ok(()) => (format!("saved logs to {path}"), false),
                Err(e) => (format!("cannot save logs to {path}: {e}"), true),
            };
            app.update(AppEvent::Notice { text, error });
        }
    }
    false
}
