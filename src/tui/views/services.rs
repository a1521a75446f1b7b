//! Services × hosts matrix: image tag and state per cell, version drift highlighted.

use std::collections::BTreeMap;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use super::state_style;
use crate::fleet::{ContainerInfo, ContainerState, Health, majority_image};
use crate::tui::app::App;
use crate::tui::theme::Theme;

/// `repo:tag` → `tag`; untagged → the last path segment.
fn short_image(image: &str) -> &str {
    match image.rsplit_once(':') {
        Some((_, tag)) if !tag.contains('/') => tag,
        _ => image.rsplit('/').next().unwrap_or(image),
    }
}

fn symbol(c: &ContainerInfo) -> &'static str {
    match (&c.state, &c.health) {
        (_, Some(Health::Unhealthy)) => "✗",
        (ContainerState::Restarting, _) => "↻",
        (ContainerState::Running, Some(Health::Starting)) => "…",
        (ContainerState::Running, _) => "●",
        _ => "■",
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let services = app.fleet.service_names();
    let mut header = vec![Cell::from("SERVICE")];
    header.extend(app.fleet.hosts.iter().enumerate().map(|(i, h)| {
        let style = if i == app.state.services.col {
            theme.tab_active
        } else if h.is_up() {
            theme.header
        } else {
            theme.down
        };
        Cell::from(Span::styled(h.spec.name.clone(), style))
    }));
    // One pass: service → per-host containers (the matrix is services × hosts).
    let mut grid: BTreeMap<&str, Vec<Vec<&ContainerInfo>>> = BTreeMap::new();
    for (i, h) in app.fleet.hosts.iter().enumerate() {
        for c in &h.containers {
            grid.entry(c.service())
                .or_insert_with(|| vec![Vec::new(); app.fleet.hosts.len()])[i]
                .push(c);
        }
    }
    let height = usize::from(area.height.saturating_sub(2)).max(1);
    let selected = app.state.services.row.min(services.len().saturating_sub(1));
    let offset = (selected + 1).saturating_sub(height);
    let rows: Vec<Row> = services
        .iter()
        .skip(offset)
        .take(height)
        .map(|svc| {
            let cols = grid
                .get(svc.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let members = || cols.iter().flatten().copied();
            let majority = majority_image(members());
            let drift = members().any(|c| Some(&c.image) != majority.as_ref());
            let name_style = if drift {
                theme.drift
            } else {
                theme.dim.patch(ratatui::style::Style::default())
            };
            let mut cells = vec![Cell::from(Line::from(vec![
                Span::raw(svc.clone()),
                if drift {
                    Span::styled(" drift", name_style)
                } else {
                    Span::raw("")
                },
            ]))];
            for (i, h) in app.fleet.hosts.iter().enumerate() {
                let here: &[&ContainerInfo] = cols.get(i).map(Vec::as_slice).unwrap_or_default();
                let cell = match here {
                    [] => Line::from(Span::styled("·", theme.dim)),
                    list => {
                        let mut spans = Vec::new();
                        for c in list {
                            let tag_style = if Some(&c.image) != majority.as_ref() {
                                theme.drift
                            } else {
                                ratatui::style::Style::default()
                            };
                            spans.push(Span::styled(
                                format!("{} ", symbol(c)),
                                state_style(theme, c),
                            ));
                            spans.push(Span::styled(short_image(&c.image).to_owned(), tag_style));
                            spans.push(Span::raw(" "));
                        }
                        Line::from(spans)
                    }
                };
                let cell = Cell::from(cell);
                cells.push(if h.is_up() {
                    cell
                } else {
                    cell.style(theme.stale)
                });
            }
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![Constraint::Max(22)];
    widths.extend(app.fleet.hosts.iter().map(|_| Constraint::Max(18)));
    let table = Table::new(rows, widths)
        .header(Row::new(header))
        .row_highlight_style(theme.selected)
        .highlight_symbol("▶")
        .block(
            Block::default()
                .borders(Borders::TOP)
                .border_style(theme.border)
                .title(Line::from(vec![
                    Span::styled(
                        format!(" Services × hosts ({} services) ", services.len()),
                        theme.title,
                    ),
                    Span::styled(
                        "● up  ✗ unhealthy  ↻ restarting  ■ stopped  · absent ",
                        theme.dim,
                    ),
                ])),
        );
    let mut state = TableState::default().with_selected(Some(selected - offset));
    frame.render_stateful_widget(table, area, &mut state);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::testutil::{app, press, sample_fleet};
    use crate::tui::views::snapshot;

    #[test]
    fn drift_is_detected_against_the_majority() {
        let fleet = sample_fleet();
        let web: Vec<&ContainerInfo> = fleet
            .containers()
            .filter(|c| c.service() == "web")
            .collect();
        assert_eq!(
            majority_image(web.into_iter()).as_deref(),
            Some("flotilla-test/app:v1")
        );
        assert_eq!(short_image("registry:5000/app:v2"), "v2");
        assert_eq!(short_image("registry:5000/app"), "app");
    }

    #[test]
    fn services_matrix() {
        let mut app = app();
        press(&mut app, '3');
        insta::assert_snapshot!(snapshot::render(&mut app, 100, 14));
        insta::assert_snapshot!("services_80x24", snapshot::render(&mut app, 80, 24));
    }
}
