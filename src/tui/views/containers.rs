//! Every container of every host in one table.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use super::{ellipsize, state_style};
use crate::tui::app::App;
use crate::tui::table::{ContainersState, GroupBy, SortKey};
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let rows = app.table.rows(&app.fleet);
    let selected = app.table.selected_index(&app.fleet, &rows);
    let wide = area.width >= 120;
    let header_cells: Vec<&str> = if wide {
        vec![
            "", "HOST", "NAME", "SERVICE", "IMAGE", "STATE", "HEALTH", "STATUS",
        ]
    } else {
        vec!["", "HOST", "NAME", "IMAGE", "STATE", "HEALTH"]
    };
    let sort_col = match app.table.sort {
        SortKey::Host => "HOST",
        SortKey::Name => "NAME",
        SortKey::Service => "SERVICE",
        SortKey::Image => "IMAGE",
        SortKey::State => "STATE",
        SortKey::Health => "HEALTH",
    };
    let arrow = if app.table.reverse { "▼" } else { "▲" };
    let header = Row::new(header_cells.iter().map(|h| {
        if *h == sort_col {
            Cell::from(format!("{h}{arrow}"))
        } else {
            Cell::from(*h)
        }
    }))
    .style(theme.style("header"));

    let table_rows: Vec<Row> = rows
        .iter()
        .filter_map(|r| {
            let host = app.fleet.hosts.get(r.host)?;
            let c = host.containers.get(r.index)?;
            let key = ContainersState::key_of(&app.fleet, *r)?;
            let mark = if app.table.marked.contains(&key) {
                "●"
            } else {
                " "
            };
            let dim = host.stale || !host.is_up();
            let state = if dim {
                format!("{}?", c.state)
            } else {
                c.state.clone()
            };
            let health = c.health.clone().unwrap_or_else(|| "-".into());
            let mut cells = vec![
                Cell::from(Span::styled(mark, theme.style("marked"))),
                Cell::from(c.host.clone()),
                Cell::from(c.name.clone()),
            ];
            if wide {
                cells.push(Cell::from(c.service().to_owned()));
            }
            cells.push(Cell::from(ellipsize(&c.image, if wide { 40 } else { 28 })));
            cells.push(Cell::from(Span::styled(state, state_style(theme, c))));
            cells.push(Cell::from(Span::styled(health, state_style(theme, c))));
            if wide {
                cells.push(Cell::from(c.status.clone()));
            }
            let row = Row::new(cells);
            Some(if dim {
                row.style(theme.style("stale"))
            } else {
                row
            })
        })
        .collect();

    let widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Length(1),
            Constraint::Max(14),
            Constraint::Fill(2),
            Constraint::Max(14),
            Constraint::Fill(2),
            Constraint::Length(11),
            Constraint::Length(10),
            Constraint::Fill(2),
        ]
    } else {
        vec![
            Constraint::Length(1),
            Constraint::Max(10),
            Constraint::Fill(2),
            Constraint::Fill(2),
            Constraint::Length(11),
            Constraint::Length(9),
        ]
    };
    let group = match app.table.group {
        GroupBy::Host => "by host",
        GroupBy::Service => "by service",
    };
    let mut title = vec![
        Span::styled(
            format!(" Containers ({}) ", rows.len()),
            theme.style("title"),
        ),
        Span::styled(format!("{group} "), theme.style("dim")),
    ];
    if !app.table.filter.is_empty() {
        title.push(Span::styled(
            format!("filter: {} ", app.table.filter.text()),
            theme.style("match"),
        ));
    }
    if !app.table.marked.is_empty() {
        title.push(Span::styled(
            format!(" {} marked ", app.table.marked.len()),
            theme.style("marked"),
        ));
    }
    let table = Table::new(table_rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(theme.style("selected"))
        .highlight_symbol("▶")
        .block(
            Block::default()
                .borders(Borders::TOP)
                .border_style(theme.style("border"))
                .title(Line::from(title)),
        );
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);
}

#[cfg(test)]
mod tests {
    use crate::tui::action::Keymap;
    use crate::tui::app::{App, AppEvent, Settings};
    use crate::tui::testutil::sample_fleet;
    use crate::tui::views::snapshot;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn app() -> App {
        App::new(sample_fleet(), Keymap::default(), Settings::default())
    }

    #[test]
    fn containers_80x24() {
        insta::assert_snapshot!(snapshot::render(&mut app(), 80, 24));
    }

    #[test]
    fn containers_wide_with_marks_and_filter() {
        let mut app = app();
        for c in [' ', ' ', '/', 'w', 'e', 'b'] {
            app.update(AppEvent::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )));
        }
        app.update(AppEvent::Key(KeyEvent::new(
            KeyCode::Enter,
            KeyModifiers::NONE,
        )));
        insta::assert_snapshot!(snapshot::render(&mut app, 160, 20));
    }

    #[test]
    fn containers_grouped_by_service_sorted_by_health() {
        let mut app = app();
        for c in ['b', 'o', 'o', 'o', 'o', 'o'] {
            app.update(AppEvent::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )));
        }
        insta::assert_snapshot!(snapshot::render(&mut app, 130, 22));
    }
}
