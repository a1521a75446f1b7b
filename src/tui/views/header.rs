//! Top summary line, view tabs, and the footer with key hints and status.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::fleet::{ContainerState, Health};
use crate::tui::action::Action;
use crate::tui::app::{App, View};
use crate::tui::theme::Theme;

pub fn summary(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let hosts = app.fleet.hosts.len();
    let up = app.fleet.hosts.iter().filter(|h| h.is_up()).count();
    let (mut running, mut unhealthy, mut restarting, mut failed) = (0, 0, 0, 0);
    // Containers of down hosts are last-known, not current: leave them out.
    for c in app
        .fleet
        .hosts
        .iter()
        .filter(|h| h.is_up())
        .flat_map(|h| h.containers.iter())
    {
        match c.state {
            ContainerState::Running => running += 1,
            ContainerState::Restarting => restarting += 1,
            ContainerState::Exited | ContainerState::Dead if c.exit_code.unwrap_or(0) != 0 => {
                failed += 1;
            }
            _ => {}
        }
        if c.health == Some(Health::Unhealthy) {
            unhealthy += 1;
        }
    }
    let count = |n: usize, label: &str, bad: ratatui::style::Style| {
        let style = if n > 0 { bad } else { theme.dim };
        Span::styled(format!("{n} {label}"), style)
    };
    let sep = || Span::styled(" · ", theme.dim);
    let mut spans = vec![
        Span::styled("flotilla ", theme.title),
        Span::styled(
            format!("hosts {up}/{hosts} up"),
            if up < hosts { theme.down } else { theme.ok },
        ),
        Span::styled("  │  ", theme.dim),
        Span::styled(format!("{running} running"), theme.running),
        sep(),
        count(unhealthy, "unhealthy", theme.unhealthy),
        sep(),
        count(restarting, "restarting", theme.restarting),
        sep(),
        count(failed, "exited≠0", theme.exited_bad),
    ];
    if app.pending_actions > 0 {
        spans.push(Span::styled(
            format!("  ⟳ {} pending", app.pending_actions),
            theme.starting,
        ));
    }
    if app.settings.read_only {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(" READ-ONLY ", theme.read_only));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

pub fn tabs(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut spans = Vec::new();
    for (i, v) in View::TABS.iter().enumerate() {
        let style = if *v == app.tab {
            theme.tab_active
        } else {
            theme.tab
        };
        spans.push(Span::styled(format!(" {} {} ", i + 1, v.title()), style));
        spans.push(Span::raw(" "));
    }
    if matches!(app.view, View::Logs | View::Inspect | View::Deploy) {
        spans.push(Span::styled(
            format!("› {} ", app.view.title()),
            theme.tab_active,
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Key hints for the current view, or the latest status message.
pub fn footer(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let line = match &app.status {
        Some(status) => Line::from(Span::styled(
            status.text.clone(),
            if status.error { theme.error } else { theme.ok },
        )),
        None => hints(app, theme),
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn hints(app: &App, theme: &Theme) -> Line<'static> {
    let actions: &[(Action, &str)] = match app.view {
        View::Containers => &[
            (Action::Open, "logs"),
            (Action::ServiceLogs, "service logs"),
            (Action::Inspect, "inspect"),
            (Action::Restart, "restart"),
            (Action::Mark, "mark"),
            (Action::Find, "filter"),
            (Action::SortNext, "sort"),
            (Action::GroupBy, "group"),
            (Action::Help, "help"),
        ],
        View::Logs => &[
            (Action::Find, "search"),
            (Action::NextMatch, "next"),
            (Action::FilterMode, "only matches"),
            (Action::Follow, "follow"),
            (Action::Timestamps, "time"),
            (Action::Wrap, "wrap"),
            (Action::SaveLogs, "save"),
            (Action::Back, "back"),
        ],
        View::Services => &[
            (Action::Open, "merged logs"),
            (Action::Deploy, "deploy"),
            (Action::Left, "host"),
            (Action::Right, "host"),
            (Action::Help, "help"),
        ],
        View::Hosts => &[
            (Action::Open, "containers"),
            (Action::NextView, "next view"),
            (Action::Help, "help"),
        ],
        View::Triage => &[
            (Action::Open, "expand / logs"),
            (Action::Events, "events"),
            (Action::Snapshot, "incident snapshot"),
            (Action::Silence, "silence"),
            (Action::Help, "help"),
        ],
        View::Timeline => &[
            (Action::Bottom, "follow"),
            (Action::Open, "kept logs"),
            (Action::Back, "whole fleet"),
            (Action::NextView, "next view"),
            (Action::Help, "help"),
        ],
        View::Audit => &[
            (Action::Open, "kept logs"),
            (Action::Back, "back"),
            (Action::Help, "help"),
        ],
        View::Top => &[
            (Action::SortNext, "rank by next"),
            (Action::Open, "logs"),
            (Action::Inspect, "inspect"),
            (Action::Restart, "restart"),
            (Action::Help, "help"),
        ],
        View::Disk => &[
            (Action::Prune, "prune host"),
            (Action::Volumes, "volumes"),
            (Action::Help, "help"),
        ],
        View::Inspect => &[(Action::Back, "back"), (Action::Help, "help")],
        // The Deploy view shows its own keys, which depend on the phase.
        View::Deploy => &[(Action::Help, "help")],
    };
    let mut spans = Vec::new();
    for (action, label) in actions {
        spans.push(Span::styled(app.keymap.hint(*action), theme.key));
        spans.push(Span::styled(format!(" {label}  "), theme.dim));
    }
    spans.push(Span::styled(app.keymap.hint(Action::Quit), theme.key));
    spans.push(Span::styled(" quit", theme.dim));
    Line::from(spans)
}
