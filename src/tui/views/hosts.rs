//! Hosts: connection state, RTT, Docker version, container counts, and
//! what Docker holds on disk.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, TableState};

use crate::fleet::{ContainerState, Health, HostState, Link};
use crate::tui::app::App;
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let header = Row::new([
        "HOST",
        "ADDRESS",
        "STATE",
        "RTT",
        "DOCKER",
        "VIA",
        "RUNNING",
        "PROBLEMS",
        "DOCKER DISK",
    ])
    .style(theme.header);
    let disks = &app.state.hosts.disks;
    let rows: Vec<Row> = app
        .fleet
        .hosts
        .iter()
        .map(|h| {
            let disk = disk_cell(disks.get(&h.spec.name), theme);
            host_row(h, disk, theme)
        })
        .collect();
    let widths = [
        Constraint::Max(14),
        Constraint::Max(16),
        // STATE and DOCKER DISK share what the others leave.
        Constraint::Fill(1),
        Constraint::Length(8),
        Constraint::Max(26),
        Constraint::Max(11),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Fill(2),
    ];
    let title = Line::from(Span::styled(
        format!(" Hosts ({}) ", app.fleet.hosts.len()),
        theme.title,
    ));
    let table = super::list_table(rows, widths.to_vec(), header, title, theme);
    let mut state = TableState::default().with_selected(Some(app.state.hosts.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

/// One host's row: its link, round trip, Docker, container counts and disk.
fn host_row(h: &HostState, disk: Cell<'static>, theme: &Theme) -> Row<'static> {
    let (state, style) = link_state(&h.link, theme);
    let info = h.info.as_ref();
    let running = h.containers.iter().filter(|c| c.is_running()).count();
    let problems = h
        .containers
        .iter()
        .filter(|c| {
            c.health == Some(Health::Unhealthy)
                || c.state == ContainerState::Restarting
                || (c.state == ContainerState::Exited && c.exit_code.unwrap_or(0) != 0)
        })
        .count();
    Row::new(vec![
        Cell::from(h.spec.name.clone()),
        Cell::from(h.spec.address.clone()),
        Cell::from(Span::styled(state, style)),
        Cell::from(
            h.rtt
                .filter(|_| h.is_up())
                .map_or("-".into(), |d| format!("{:.1}ms", d.as_secs_f64() * 1000.0)),
        ),
        Cell::from(info.map_or("-".into(), |i| {
            format!("{} (API {})", i.docker_version, i.api_version)
        })),
        Cell::from(info.map_or("-".into(), |i| i.tunnel.clone())),
        Cell::from(format!("{running}/{}", h.containers.len())),
        Cell::from(Span::styled(
            problems.to_string(),
            if problems > 0 {
                theme.unhealthy
            } else {
                theme.dim
            },
        )),
        disk,
    ])
}

/// The DOCKER DISK column: what Docker holds, or why that is not known.
fn disk_cell(
    disk: Option<&Result<crate::fleet::disk::DockerDisk, String>>,
    theme: &Theme,
) -> Cell<'static> {
    match disk {
        Some(Ok(d)) => Cell::from(d.compact()),
        Some(Err(e)) => Cell::from(Span::styled(format!("not read: {e}"), theme.dim)),
        None => Cell::from(Span::styled("-", theme.dim)),
    }
}

/// The STATE column: the link in words, and its colour.
fn link_state(link: &Link, theme: &Theme) -> (String, Style) {
    match link {
        Link::Up { .. } => ("up".to_owned(), theme.ok),
        Link::Connecting { attempt: 0 } => ("connecting".to_owned(), theme.starting),
        Link::Connecting { attempt } => (format!("reconnecting (#{attempt})"), theme.starting),
        Link::Down {
            reason,
            retry_in: Some(d),
        } => (
            format!("down, retry in {}s: {reason}", d.as_secs()),
            theme.down,
        ),
        Link::Down {
            reason,
            retry_in: None,
        } => (format!("down: {reason}"), theme.down),
    }
}

#[cfg(test)]
mod tests {
    use crate::tui::testutil::{app, press};
    use crate::tui::views::snapshot;

    #[test]
    fn hosts_view_shows_up_and_down_hosts() {
        let mut app = app();
        press(&mut app, '1');
        let gib = 1u64 << 30;
        let disk = crate::fleet::disk::DockerDisk {
            images_bytes: 12 * gib / 10,
            containers_bytes: 40 << 20,
            volumes_bytes: 3 * gib,
            reclaimable_bytes: 21 * gib / 10,
            ..Default::default()
        };
        app.state.hosts.disks = [
            ("fleet-1".to_owned(), Ok(disk)),
            (
                "fleet-2".to_owned(),
                Err("/system/df not answered within 15s".to_owned()),
            ),
        ]
        .into();
        insta::assert_snapshot!(snapshot::render(&mut app, 150, 12));
        insta::assert_snapshot!("hosts_80x24", snapshot::render(&mut app, 80, 24));
        // Wide enough for the whole DOCKER DISK column.
        insta::assert_snapshot!("hosts_190x8", snapshot::render(&mut app, 190, 8));
    }
}
