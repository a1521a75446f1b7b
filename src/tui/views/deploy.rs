//! The Deploy view: the plan first, then live per-host progress, then the outcome.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use super::ellipsize;
use crate::human::bytes_compact;
use crate::ops::deploy::event::down_label;
use crate::ops::deploy::{HostOutcome, Job, RunOutcome};
use crate::tui::action::{Action, Keymap};
use crate::tui::app::App;
use crate::tui::state::deploy::{DeployRequest, DeployState, HostRow, Pause, Phase};
use crate::tui::theme::Theme;

/// Notes shown under the table, newest last.
const NOTES_SHOWN: usize = 4;
/// Audit records listed under "last deploys".
const LAST_DEPLOYS: usize = 3;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(d) = &app.state.deploy.current else {
        let text = Paragraph::new("no deploy: select a service and press D");
        frame.render_widget(text, area);
        return;
    };
    let mut head = head_lines(d, &app.keymap, theme);
    // The keys line stays visible however the lines above wrap.
    let keys = head.pop().unwrap_or_default();
    let mut notes: Vec<Line> = d
        .notes
        .iter()
        .rev()
        .take(NOTES_SHOWN)
        .rev()
        .map(|n| Line::from(Span::styled(n.clone(), theme.dim)))
        .collect();
    let last = last_deploys(app, d);
    if !last.is_empty() {
        notes.push(Line::from(Span::styled("last deploys:", theme.header)));
        notes.extend(last.into_iter().map(|r| {
            Line::from(format!(
                "  {}  {}  {}  {}  {}",
                r.time, r.user, r.host, r.action, r.result
            ))
        }));
    }
    let head_rows: usize = head
        .iter()
        .map(|l| l.width().div_ceil(usize::from(area.width.max(1))).max(1))
        .sum();
    let [top, table, keys_area, bottom] = Layout::vertical([
        Constraint::Length(u16::try_from(head_rows + 1).unwrap_or(4)),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(u16::try_from(notes.len()).unwrap_or(0)),
    ])
    .areas(area);
    let title = match (&d.request, &d.summary) {
        (_, Some(s)) => format!(
            " {} {} ({}) ",
            capitalize(s.kind.kind()),
            s.service,
            s.deploy_id
        ),
        (DeployRequest::Deploy { image }, None) => format!(" Deploy {} → {image} ", d.service),
        (DeployRequest::Rollback, None) => format!(" Rollback {} ", d.service),
    };
    frame.render_widget(
        Paragraph::new(head).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::TOP)
                .border_style(theme.border)
                .title(Span::styled(title, theme.title)),
        ),
        top,
    );
    render_rows(frame, table, d, theme);
    frame.render_widget(Paragraph::new(keys), keys_area);
    frame.render_widget(Paragraph::new(notes), bottom);
}

/// The service's last host-final deploy records, newest last (the audit log
/// is loaded on entering the view and when a run ends).
fn last_deploys<'a>(app: &'a App, d: &DeployState) -> Vec<&'a crate::ops::AuditRecord> {
    let mut found: Vec<&crate::ops::AuditRecord> = app
        .state
        .audit
        .records
        .iter()
        .rev()
        .filter(|r| {
            r.action.ends_a_host()
                && d.rows
                    .iter()
                    .any(|row| row.host == r.host && row.container == r.container)
        })
        .take(LAST_DEPLOYS)
        .collect();
    found.reverse();
    found
}

fn head_lines(d: &DeployState, keys: &Keymap, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    match d.phase {
        Phase::Preparing => lines.push(Line::from("probing the hosts and planning…")),
        Phase::Failed => lines.push(Line::from(Span::styled(
            format!("cannot deploy: {}", d.error.clone().unwrap_or_default()),
            theme.error,
        ))),
        _ => {}
    }
    let Some(s) = &d.summary else {
        return lines;
    };
    let batches = s.plan.batches.len();
    let hosts = s.plan.hosts().count();
    lines.push(Line::from(format!(
        "{}{} host(s) in {batches} batch(es), max_fail {}",
        s.image
            .as_ref()
            .map_or_else(String::new, |i| format!("image {i} · ")),
        hosts,
        s.plan.max_fail
    )));
    if let Some(cmd) = &s.pre_deploy {
        lines.push(Line::from(Span::styled(
            format!(
                "pre_deploy runs first: {cmd} — database schema changes are not undone by a rollback"
            ),
            theme.unhealthy,
        )));
    }
    if let Some(r) = &s.refusal {
        lines.push(Line::from(Span::styled(
            format!("REFUSED: {r}"),
            theme.error,
        )));
    }
    lines.push(Line::from(what_now(
        d,
        s.refusal.is_some(),
        s.plan.is_empty(),
        batches,
        keys,
        theme,
    )));
    lines
}

/// What the run is doing and which keys act on it now.
fn what_now(
    d: &DeployState,
    refused: bool,
    empty: bool,
    batches: usize,
    keys: &Keymap,
    theme: &Theme,
) -> Span<'static> {
    let k = |a: Action| keys.hint(a);
    match (d.phase, d.pause) {
        (Phase::Planned, _) if refused => Span::styled(
            format!("{} close (nothing will change)", k(Action::Back)),
            theme.dim,
        ),
        (Phase::Planned, _) if empty => Span::styled(
            format!("nothing to change; {} close", k(Action::Back)),
            theme.dim,
        ),
        (Phase::Planned, _) => Span::styled(
            format!(
                "{} start   {} cancel (nothing changed yet)",
                k(Action::DeployStart),
                k(Action::Back)
            ),
            theme.key,
        ),
        (Phase::Running, Pause::Requested) => Span::styled(
            format!(
                "pausing after the current batch…   {} continue   {} abort",
                k(Action::DeployContinue),
                k(Action::DeployAbort)
            ),
            theme.starting,
        ),
        (Phase::Running, Pause::Paused) => Span::styled(
            format!(
                "PAUSED   {} continue   {} abort (rolls back in-flight hosts)",
                k(Action::DeployContinue),
                k(Action::DeployAbort)
            ),
            theme.starting,
        ),
        (Phase::Running, Pause::No) => Span::styled(
            format!(
                "running batch {}/{batches}   {} pause after batch   {} abort   {} hide",
                d.batch.unwrap_or(1),
                k(Action::DeployPause),
                k(Action::DeployAbort),
                k(Action::Back)
            ),
            theme.running,
        ),
        (Phase::Finished, _) => finished_line(d, keys, theme),
        (Phase::Preparing | Phase::Failed, _) => Span::raw(""),
    }
}

/// How the run ended, in numbers, and the keys that act on it now; or why
/// it could not run.
fn finished_line(d: &DeployState, keys: &Keymap, theme: &Theme) -> Span<'static> {
    let k = |a: Action| keys.hint(a);
    match &d.finished {
        Some(f) => {
            let style = match f.outcome {
                RunOutcome::Succeeded => theme.healthy,
                _ => theme.error,
            };
            let reason = f
                .reason
                .as_ref()
                .map_or_else(String::new, |r| format!(" ({r})"));
            Span::styled(
                format!(
                    "{}{reason}: {} deployed, {} failed, {} skipped in {:.1}s   {} roll back   {} close",
                    RunOutcome::label(f.outcome),
                    f.deployed,
                    f.failed,
                    f.skipped,
                    f.elapsed_ms as f64 / 1000.0,
                    k(Action::DeployRollback),
                    k(Action::Back)
                ),
                style,
            )
        }
        None => Span::styled(
            d.error.clone().unwrap_or_else(|| "finished".into()),
            theme.error,
        ),
    }
}

fn render_rows(frame: &mut Frame, area: Rect, d: &DeployState, theme: &Theme) {
    let header =
        Row::new(["BATCH", "HOST", "CONTAINER", "CURRENT → NEW", "STATUS"]).style(theme.header);
    let rows: Vec<Row> = d
        .rows
        .iter()
        .map(|r| {
            let (status, style) = status(r, d.phase, theme);
            let batch = if r.batch == 0 {
                "-".to_owned()
            } else if d.batch == Some(r.batch) && d.phase == Phase::Running {
                format!("▶ {}", r.batch)
            } else {
                r.batch.to_string()
            };
            Row::new(vec![
                Cell::from(batch),
                Cell::from(r.host.clone()),
                Cell::from(r.container.clone()),
                Cell::from(format!("{} → {}", short(&r.from), short(&r.to))),
                Cell::from(Span::styled(status, style)),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Max(12),
            Constraint::Max(12),
            Constraint::Max(18),
            Constraint::Fill(1),
        ],
    )
    .header(header);
    frame.render_widget(table, area);
}

/// Registry and repository paths make images long; the tail is what differs.
fn short(image: &str) -> String {
    ellipsize(image.rsplit('/').next().unwrap_or(image), 24)
}

fn status(r: &HostRow, phase: Phase, theme: &Theme) -> (String, Style) {
    if let Some(o) = r.outcome {
        let style = match o {
            HostOutcome::Deployed | HostOutcome::UpToDate | HostOutcome::Restored => theme.healthy,
            HostOutcome::Skipped => theme.dim,
            _ => theme.error,
        };
        let mut text = HostOutcome::label(o).to_owned();
        if let Some(ms) = r.down_ms {
            text.push_str(&format!(", {}", down_label(ms)));
        }
        if let Some(e) = &r.error {
            text.push_str(&format!(": {e}"));
        }
        return (text, style);
    }
    if let Some((health, left)) = &r.wait {
        return (format!("health: {health}, {left}s left"), theme.starting);
    }
    if let Some(step) = r.step {
        let mut text = step.label().to_owned();
        if let Some((bytes, total)) = r.bytes {
            text.push_str(&match total {
                Some(t) => format!(" {} / {}", bytes_compact(bytes), bytes_compact(t)),
                None => format!(" {}", bytes_compact(bytes)),
            });
        } else if !r.detail.is_empty() {
            text.push_str(&format!(" ({})", r.detail));
        }
        return (text, theme.running);
    }
    let planned = match r.job {
        Job::Deploy => "will deploy",
        Job::Finish => "will finish (half done)",
        Job::Restore => "will restore old container",
        Job::Keep => "unchanged",
    };
    let mut text = planned.to_owned();
    if let (Some(order), Job::Deploy) = (&r.order, r.job) {
        text.push_str(&format!(", {order}"));
    }
    if let Some(n) = &r.note {
        text.push_str(&format!(" ({n})"));
    }
    let style = if phase == Phase::Running && r.job != Job::Keep {
        theme.dim
    } else {
        Style::default()
    };
    (
        if phase == Phase::Running && r.job != Job::Keep {
            "waiting".to_owned()
        } else {
            text
        },
        style,
    )
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

#[cfg(test)]
mod tests {
    use crate::ops::deploy::DeployEvent;
    use crate::ops::deploy::HostOutcome;
    use crate::ops::deploy::event::{Step, Timings};
    use crate::tui::app::AppEvent;
    use crate::tui::testutil::{planned, press, step};
    use crate::tui::views::snapshot;

    #[test]
    fn deploy_plan_screen() {
        let mut app = planned();
        let screen = snapshot::render(&mut app, 80, 24);
        assert!(
            screen.contains("not undone by a rollback") || screen.contains("not undone"),
            "{screen}"
        );
        let wide = snapshot::render(&mut app, 140, 16);
        assert!(wide.contains("will deploy, start-first"), "{wide}");
        assert!(wide.contains("will deploy, stop-first"), "{wide}");
        insta::assert_snapshot!("deploy_plan_80x24", screen);
        insta::assert_snapshot!("deploy_plan_140x16", snapshot::render(&mut app, 140, 16));
    }

    #[test]
    fn last_deploys_come_from_the_audit_log() {
        let mut app = planned();
        let record = |host: &str, action: &str| crate::ops::AuditRecord {
            time: "2026-11-25T20:00:00Z".parse().expect("time"),
            user: "ops".into(),
            host: host.into(),
            container: "shop-web-1".into(),
            action: action.into(),
            result: "ok".into(),
            logs: None,
        };
        app.update(AppEvent::AuditLoaded(vec![
            record("fleet-1", "deploy:deployed app:v0 -> app:v1 [d0]"),
            record("fleet-1", "deploy:lock app:v0 -> app:v1 [d0]"),
            record("fleet-9", "deploy:deployed app:v0 -> app:v1 [d0]"),
        ]));
        let screen = snapshot::render(&mut app, 140, 24);
        assert!(screen.contains("last deploys:"), "{screen}");
        assert!(
            screen.contains("fleet-1  deploy:deployed app:v0 -> app:v1 [d0]  ok"),
            "{screen}"
        );
        assert!(!screen.contains("deploy:lock"), "{screen}");
        assert!(!screen.contains("fleet-9"), "{screen}");
    }

    #[test]
    fn deploy_mid_run_screen() {
        let mut app = planned();
        press(&mut app, 'y');
        for ev in [
            DeployEvent::BatchStarted {
                index: 0,
                hosts: vec!["fleet-1".into()],
            },
            DeployEvent::ImageSource {
                image: "flotilla-test/app:v2".into(),
                source: "fleet-2".into(),
            },
            DeployEvent::HostDone {
                host: "fleet-1".into(),
                container: "shop-web-1".into(),
                outcome: HostOutcome::Deployed,
                image: "flotilla-test/app:v2".into(),
                error: None,
                timings: Timings {
                    down_ms: Some(0),
                    ..Timings::default()
                },
            },
            DeployEvent::BatchStarted {
                index: 1,
                hosts: vec!["fleet-3".into()],
            },
        ] {
            app.update(AppEvent::Deploy(ev));
        }
        app.update(step("fleet-3", Step::WaitingForHealth));
        app.update(AppEvent::Deploy(DeployEvent::HealthWait {
            host: "fleet-3".into(),
            replica: None,
            status: "starting".into(),
            remaining_s: 57,
        }));
        let wide = snapshot::render(&mut app, 140, 16);
        assert!(wide.contains("done, down 0 ms"), "{wide}");
        insta::assert_snapshot!("deploy_running_80x24", snapshot::render(&mut app, 80, 24));
        insta::assert_snapshot!("deploy_running_140x16", snapshot::render(&mut app, 140, 16));
    }

    #[test]
    fn a_scaled_service_shows_its_replica_count_and_the_replica_in_flight() {
        use crate::ops::deploy::{Job, PlannedHost, PlannedReplica, ReplicaRef};
        let mut app = crate::tui::testutil::app_on_web();
        crate::tui::testutil::ask_v2(&mut app);
        let mut plan = crate::tui::testutil::web_plan();
        let replicas = (1..=3)
            .map(|i| PlannedReplica {
                container: format!("shop-api-{i}"),
                from: "flotilla-test/app:v1".into(),
                to: "flotilla-test/app:v2".into(),
                job: Job::Deploy,
                note: None,
            })
            .collect();
        plan.plan.batches[0] = vec![PlannedHost::new("fleet-1", replicas)];
        app.update(AppEvent::DeployPrepared(Ok(plan)));
        press(&mut app, 'y');
        app.update(AppEvent::Deploy(DeployEvent::HealthWait {
            host: "fleet-1".into(),
            replica: Some(ReplicaRef {
                container: "shop-api-2".into(),
                index: 2,
                total: 3,
            }),
            status: "starting".into(),
            remaining_s: 41,
        }));
        let screen = snapshot::render(&mut app, 100, 16);
        assert!(screen.contains("×3 shop-api"), "{screen}");
        assert!(
            screen.contains("health: shop-api-2 (2/3) starting, 41s left"),
            "{screen}"
        );
        insta::assert_snapshot!("deploy_replicas_100x16", screen);
    }
}
