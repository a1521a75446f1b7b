//! A container's configuration: image, command, env (secrets masked), mounts,
//! ports, labels, restart policy and count, health log.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline, Wrap};

use crate::fleet::{ContainerDetails, ContainerState};
use crate::tui::app::App;
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(ins) = &app.state.inspect else {
        return;
    };
    let title = Span::styled(format!(" {} @ {} ", ins.name, ins.host_name), theme.title);
    let lines = match &ins.details {
        None => vec![Line::from(Span::styled("loading…", theme.dim))],
        Some(Err(e)) => vec![Line::from(Span::styled(
            format!("inspect failed: {e}"),
            theme.error,
        ))],
        Some(Ok(d)) => detail_lines(d, theme),
    };
    // CPU and memory history above the details, once there are readings.
    let history = ins
        .keys(&app.fleet)
        .into_iter()
        .find_map(|k| app.state.containers.stats.get(&k))
        .filter(|s| !s.mem_history.is_empty());
    let area = match history {
        Some(stats) if area.height > 8 => {
            let [graphs, rest] =
                Layout::vertical([Constraint::Length(4), Constraint::Fill(1)]).areas(area);
            let [cpu, mem] =
                Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(graphs);
            let cpu_now = stats
                .cpu_percent
                .map_or("-".to_owned(), |p| format!("{p:.1}%"));
            let cpu_data: Vec<u64> = stats.cpu_history.iter().copied().collect();
            let mem_data: Vec<u64> = stats.mem_history.iter().copied().collect();
            let graph = |title: String, data: &[u64], style| {
                Sparkline::default()
                    .block(
                        Block::default()
                            .borders(Borders::TOP)
                            .border_style(theme.border)
                            .title(Span::styled(title, theme.key)),
                    )
                    .data(data.to_vec())
                    .style(style)
            };
            let samples = stats.mem_history.len();
            frame.render_widget(
                graph(
                    format!(" CPU {cpu_now} (last {samples} readings) "),
                    &cpu_data,
                    theme.running,
                ),
                cpu,
            );
            frame.render_widget(
                graph(
                    format!(" MEM {} ", crate::human::bytes_compact(stats.last.mem_used)),
                    &mem_data,
                    theme.starting,
                ),
                mem,
            );
            rest
        }
        _ => area,
    };
    let para = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((u16::try_from(ins.scroll).unwrap_or(u16::MAX), 0))
        .block(
            Block::default()
                .borders(Borders::TOP)
                .border_style(theme.border)
                .title(title),
        );
    frame.render_widget(para, area);
}

fn detail_lines(d: &ContainerDetails, theme: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let field = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<15}"), theme.key),
            Span::raw(v),
        ])
    };
    let join = |v: &[String]| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.join(" ")
        }
    };
    out.push(field(
        "image",
        format!(
            "{} ({})",
            d.image,
            d.image_id.get(..19).unwrap_or(&d.image_id)
        ),
    ));
    let exit = match d.exit_code {
        Some(code) if d.state != ContainerState::Running => format!(", exit code {code}"),
        _ => String::new(),
    };
    out.push(field("state", format!("{}{exit}", d.state)));
    out.push(field(
        "health",
        d.health.clone().unwrap_or_else(|| "no health check".into()),
    ));
    out.push(field("started", d.started_at.clone()));
    if d.state != ContainerState::Running {
        out.push(field("finished", d.finished_at.clone()));
    }
    out.push(field(
        "restarts",
        format!("{} (policy: {})", d.restart_count, d.restart_policy),
    ));
    if d.oom_killed {
        out.push(Line::from(Span::styled("OOM-killed", theme.error)));
    }
    out.push(field("entrypoint", join(&d.entrypoint)));
    out.push(field("command", join(&d.command)));
    let section = |name: &str, items: &[String], out: &mut Vec<Line<'static>>| {
        out.push(Line::from(Span::styled(
            format!("{name} ({})", items.len()),
            theme.header,
        )));
        for i in items {
            out.push(Line::from(format!("  {i}")));
        }
    };
    section("env", &d.env, &mut out);
    section("mounts", &d.mounts, &mut out);
    section("ports", &d.ports, &mut out);
    let labels: Vec<String> = d.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    section("labels", &labels, &mut out);
    out.extend(health_log_lines(d, theme));
    out
}

/// The health log's probes under a heading, each coloured by its exit code.
fn health_log_lines(d: &ContainerDetails, theme: &Theme) -> Vec<Line<'static>> {
    let mut out = vec![Line::from(Span::styled(
        format!("health log ({})", d.health_log.len()),
        theme.header,
    ))];
    for p in &d.health_log {
        let style = if p.exit_code == Some(0) {
            theme.ok
        } else {
            theme.error
        };
        out.push(Line::from(vec![
            Span::raw(format!("  {} ", p.start.get(..19).unwrap_or(&p.start))),
            Span::styled(
                format!("exit {}", p.exit_code.map_or("?".into(), |c| c.to_string())),
                style,
            ),
            Span::raw(format!(
                " {}",
                crate::redact::clean(&p.output).replace('\n', " ")
            )),
        ]));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::fleet::details::HealthProbe;
    use crate::fleet::{ContainerDetails, FleetEvent, HostEvent};
    use crate::tui::app::AppEvent;
    use crate::tui::testutil::{app, press};
    use crate::tui::views::snapshot;

    #[test]
    fn inspect_shows_config_with_secrets_masked() {
        let mut app = app();
        press(&mut app, 'i');
        insta::assert_snapshot!("inspect_loading", snapshot::render(&mut app, 80, 10));
        let details = ContainerDetails {
            id: "batch10123456789abcdef".into(),
            name: "shop-batch-1".into(),
            image: "flotilla-test/base:latest".into(),
            image_id: "sha256:0123456789abcdef0123".into(),
            command: vec!["sh".into(), "-c".into(), "exit 3".into()],
            entrypoint: vec![],
            env: vec![
                "PATH=/bin".into(),
                crate::redact::mask_env("DB_PASSWORD=hunter2"),
            ],
            mounts: vec!["/srv/data → /data (rw)".into()],
            ports: vec![],
            labels: [("com.docker.compose.service".to_owned(), "batch".to_owned())]
                .into_iter()
                .collect(),
            restart_policy: "no".into(),
            restart_count: 0,
            state: "exited".into(),
            started_at: "2026-11-25T19:49:36.1Z".into(),
            finished_at: "2026-11-25T19:49:36.2Z".into(),
            exit_code: Some(3),
            oom_killed: false,
            health: None,
            health_log: vec![HealthProbe {
                start: "2026-11-25T19:49:40.000Z".into(),
                exit_code: Some(1),
                output: "GET /health 503 password=hunter3\x1b]0;TITLE\x07\x1b[2J".into(),
            }],
        };
        app.update(AppEvent::Fleet(FleetEvent {
            host: 0,
            kind: HostEvent::Inspected {
                container: "shop-batch-1".into(),
                details: Ok(Box::new(details)),
            },
        }));
        let screen = snapshot::render(&mut app, 80, 28);
        assert!(!screen.contains("hunter2"));
        assert!(!screen.contains("hunter3") && !screen.contains("TITLE"));
        insta::assert_snapshot!("inspect_loaded", screen);
    }

    #[test]
    fn cpu_and_memory_history_as_sparklines() {
        use crate::fleet::model::StatsSample;
        let mut app = app();
        press(&mut app, 'i');
        for i in 0..8u64 {
            let sample = StatsSample {
                cpu_total: i * i * 1_000_000,
                system_total: i * 100_000_000,
                online_cpus: 2,
                mem_used: (16 + i * 4) * 1024 * 1024,
                mem_limit: 1 << 30,
            };
            app.update(AppEvent::Fleet(FleetEvent {
                host: 0,
                kind: HostEvent::Stats {
                    samples: vec![("batch10123456789abcdef".into(), sample)],
                },
            }));
        }
        let screen = snapshot::render(&mut app, 80, 14);
        assert!(screen.contains("CPU 26.0% (last 8 readings)"), "{screen}");
        assert!(screen.contains("MEM 44.0M"), "{screen}");
        insta::assert_snapshot!(screen);
    }
}
