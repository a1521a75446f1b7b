//! Every container of every host in one table.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, TableState};

use super::{ellipsize, state_style};
use crate::tui::app::App;
use crate::tui::state::containers::{ContainersState, GroupBy, SortKey};
use crate::tui::theme::Theme;

/// Which columns fit: the wide set from 120 columns; PORTS only when
/// something publishes a port (names keep the room).
#[derive(Clone, Copy)]
struct Columns {
    wide: bool,
    ports: bool,
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let rows = app.state.containers.rows(&app.fleet);
    let selected = app.state.containers.selected_index(&app.fleet, &rows);
    let wide = area.width >= 120;
    let cols = Columns {
        wide,
        ports: wide
            && rows.iter().any(|r| {
                app.fleet.hosts[r.host]
                    .containers
                    .get(r.index)
                    .is_some_and(|c| !c.ports.is_empty())
            }),
    };
    // Build only the rows that fit: with 1,000 containers the rest is waste.
    let height = usize::from(area.height.saturating_sub(2)).max(1);
    let offset = selected.map_or(0, |s| (s + 1).saturating_sub(height));
    let table_rows: Vec<Row> = rows
        .iter()
        .skip(offset)
        .take(height)
        .filter_map(|r| row(app, *r, cols, theme))
        .collect();
    let table = super::list_table(
        table_rows,
        widths(cols),
        header(app, cols, theme),
        title(app, rows.len(), theme),
        theme,
    )
    .column_spacing(1);
    let mut state = TableState::default().with_selected(selected.map(|s| s - offset));
    frame.render_stateful_widget(table, area, &mut state);
}

/// The column names, the sorted one with its direction.
fn header(app: &App, cols: Columns, theme: &Theme) -> Row<'static> {
    let header_cells: Vec<&str> = if cols.wide {
        let mut h = vec![
            "", "HOST", "NAME", "SERVICE", "IMAGE", "STATE", "HEALTH", "RST", "CPU%", "MEM",
        ];
        if cols.ports {
            h.push("PORTS");
        }
        h.push("STATUS");
        h
    } else {
        vec!["", "HOST", "NAME", "IMAGE", "STATE", "HEALTH"]
    };
    let sort_col = match app.state.containers.sort {
        SortKey::Host => "HOST",
        SortKey::Name => "NAME",
        SortKey::Service => "SERVICE",
        SortKey::Image => "IMAGE",
        SortKey::State => "STATE",
        SortKey::Health => "HEALTH",
    };
    let arrow = if app.state.containers.reverse {
        "▼"
    } else {
        "▲"
    };
    Row::new(header_cells.into_iter().map(|h| {
        if h == sort_col {
            Cell::from(format!("{h}{arrow}"))
        } else {
            Cell::from(h)
        }
    }))
    .style(theme.header)
}

/// One container's row; dimmed when its host's view of it is stale.
fn row<'a>(
    app: &'a App,
    r: crate::tui::state::containers::Row,
    cols: Columns,
    theme: &Theme,
) -> Option<Row<'a>> {
    let host = app.fleet.hosts.get(r.host)?;
    let c = host.containers.get(r.index)?;
    let key = ContainersState::key_of(&app.fleet, r)?;
    let mark = if app.state.containers.marked.contains(&key) {
        "●"
    } else {
        " "
    };
    let dim = host.stale || !host.is_up();
    let state = if dim {
        format!("{}?", c.state)
    } else {
        c.state.to_string()
    };
    let health = c.health.as_ref().map_or("-", |h| h.as_str()).to_owned();
    let mut cells = vec![
        Cell::from(Span::styled(mark, theme.marked)),
        Cell::from(c.host.clone()),
        Cell::from(c.name.clone()),
    ];
    if cols.wide {
        cells.push(Cell::from(c.service().to_owned()));
    }
    cells.push(Cell::from(ellipsize(
        &c.image,
        if cols.wide { 40 } else { 28 },
    )));
    cells.push(Cell::from(Span::styled(state, state_style(theme, c))));
    cells.push(Cell::from(Span::styled(health, state_style(theme, c))));
    if cols.wide {
        let stats = app.state.containers.stats.get(&key);
        let restarts = c.restart_count.map_or("-".to_owned(), |n| n.to_string());
        let restart_style = if c.restart_count.unwrap_or(0) > 0 {
            theme.restarting
        } else {
            theme.dim
        };
        cells.push(Cell::from(Span::styled(restarts, restart_style)));
        cells.push(Cell::from(
            stats
                .and_then(|s| s.cpu_percent)
                .map_or("-".to_owned(), |p| format!("{p:.1}")),
        ));
        cells.push(Cell::from(stats.map_or("-".to_owned(), |s| {
            crate::human::bytes_compact(s.last.mem_used)
        })));
        // host:port→container port; the first, and how many more.
        let ports = match c.ports.as_slice() {
            [] => "-".to_owned(),
            [one] => one.clone(),
            [first, rest @ ..] => format!("{first} +{}", rest.len()),
        };
        if cols.ports {
            cells.push(Cell::from(Span::styled(ports, theme.dim)));
        }
        cells.push(Cell::from(c.status.clone()));
    }
    let row = Row::new(cells);
    Some(if dim { row.style(theme.stale) } else { row })
}

fn widths(cols: Columns) -> Vec<Constraint> {
    if cols.wide {
        vec![
            Constraint::Length(1),
            Constraint::Max(14),
            Constraint::Fill(2),
            Constraint::Max(14),
            Constraint::Fill(2),
            Constraint::Length(11),
            Constraint::Length(10),
            Constraint::Length(4),
            Constraint::Length(5),
            Constraint::Length(7),
        ]
        .into_iter()
        .chain(cols.ports.then_some(Constraint::Max(22)))
        .chain([Constraint::Fill(2)])
        .collect()
    } else {
        vec![
            Constraint::Length(1),
            Constraint::Max(10),
            Constraint::Fill(2),
            Constraint::Fill(2),
            Constraint::Length(11),
            Constraint::Length(9),
        ]
    }
}

/// The count, grouping, filter and marks.
fn title(app: &App, count: usize, theme: &Theme) -> Line<'static> {
    let group = match app.state.containers.group {
        GroupBy::Host => "by host",
        GroupBy::Service => "by service",
    };
    let mut title = vec![
        Span::styled(format!(" Containers ({count}) "), theme.title),
        Span::styled(format!("{group} "), theme.dim),
    ];
    if !app.state.containers.filter.is_empty() {
        title.push(Span::styled(
            format!("filter: {} ", app.state.containers.filter.text()),
            theme.search_match,
        ));
    }
    if !app.state.containers.marked.is_empty() {
        title.push(Span::styled(
            format!(" {} marked ", app.state.containers.marked.len()),
            theme.marked,
        ));
    }
    Line::from(title)
}

#[cfg(test)]
mod tests {
    use crate::tui::app::AppEvent;
    use crate::tui::testutil::{app, press_code, type_text};
    use crate::tui::views::snapshot;
    use crossterm::event::KeyCode;

    #[test]
    fn containers_80x24() {
        insta::assert_snapshot!(snapshot::render(&mut app(), 80, 24));
    }

    #[test]
    fn containers_wide_with_marks_and_filter() {
        let mut app = app();
        type_text(&mut app, "  /web");
        press_code(&mut app, KeyCode::Enter);
        insta::assert_snapshot!(snapshot::render(&mut app, 160, 20));
    }

    #[test]
    fn cpu_and_memory_come_from_two_stats_readings() {
        use crate::fleet::model::StatsSample;
        use crate::fleet::{FleetEvent, HostCommand, HostEvent};
        use crate::tui::app::AppEffect;
        let mut app = app();
        let effects = app.update(AppEvent::StatsTick);
        let asked: Vec<usize> = effects
            .iter()
            .filter_map(|e| match e {
                AppEffect::Host(h, HostCommand::Stats { ids }) if !ids.is_empty() => Some(*h),
                _ => None,
            })
            .collect();
        assert_eq!(asked, [0, 1], "running containers of up hosts only");
        let web = app.fleet.hosts[0]
            .containers
            .iter()
            .find(|c| c.name == "shop-web-1")
            .map(|c| c.id.clone())
            .unwrap_or_default();
        let sample = |cpu: u64, sys: u64| StatsSample {
            cpu_total: cpu,
            system_total: sys,
            online_cpus: 2,
            mem_used: 3 * 1024 * 1024 / 2,
            mem_limit: 0,
        };
        for s in [sample(0, 0), sample(25_000, 1_000_000)] {
            app.update(AppEvent::Fleet(FleetEvent {
                host: 0,
                kind: HostEvent::Stats {
                    samples: vec![(web.clone(), s)],
                },
            }));
        }
        let screen = snapshot::render(&mut app, 160, 12);
        let row = screen
            .lines()
            .find(|l| l.contains("fleet-1") && l.contains("shop-web-1"))
            .unwrap_or_default();
        assert!(row.contains("5.0") && row.contains("1.5M"), "{row}");
        assert!(
            screen
                .lines()
                .any(|l| l.contains("shop-crashloop-1") && l.contains(" 7 ")),
            "restart count shown: {screen}"
        );
    }

    #[test]
    fn containers_grouped_by_service_sorted_by_health() {
        let mut app = app();
        type_text(&mut app, "booooo");
        insta::assert_snapshot!(snapshot::render(&mut app, 130, 22));
    }
}
