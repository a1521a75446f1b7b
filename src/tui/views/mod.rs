//! Rendering: one module per view, all reading `App` and the one `Theme`.

pub mod audit;
pub mod containers;
pub mod deploy;
pub mod dialog;
pub mod disk;
pub mod header;
pub mod help;
pub mod hosts;
pub mod inspect;
pub mod logs;
pub mod services;
pub mod timeline;
pub mod top;
pub mod triage;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};

use super::app::{App, Overlay, View};
use super::theme::Theme;

/// The list views' table: a selection cursor, a top border with the title.
pub fn list_table<'a>(
    rows: Vec<ratatui::widgets::Row<'a>>,
    widths: Vec<Constraint>,
    header: ratatui::widgets::Row<'a>,
    title: ratatui::text::Line<'a>,
    theme: &Theme,
) -> ratatui::widgets::Table<'a> {
    use ratatui::widgets::{Block, Borders, Table};
    Table::new(rows, widths)
        .header(header)
        .row_highlight_style(theme.selected)
        .highlight_symbol("▶")
        .block(
            Block::default()
                .borders(Borders::TOP)
                .border_style(theme.border)
                .title(title),
        )
}

/// A titled list with a header row and a selection cursor, as the list views
/// draw it; `selected` is clamped to the rows (none when there are none).
pub fn render_list(
    frame: &mut ratatui::Frame,
    area: ratatui::layout::Rect,
    theme: &Theme,
    (header, rows): (ratatui::widgets::Row, Vec<ratatui::widgets::Row>),
    widths: &[Constraint],
    title: String,
    selected: usize,
) {
    use ratatui::text::{Line, Span};
    use ratatui::widgets::TableState;
    let count = rows.len();
    let table = list_table(
        rows,
        widths.to_vec(),
        header.style(theme.header),
        Line::from(Span::styled(title, theme.title)),
        theme,
    );
    let selected = (count > 0).then(|| selected.min(count - 1));
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    let [head, tabs, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    header::summary(frame, head, app, theme);
    header::tabs(frame, tabs, app, theme);
    match app.view {
        View::Hosts => hosts::render(frame, body, app, theme),
        View::Containers => containers::render(frame, body, app, theme),
        View::Services => services::render(frame, body, app, theme),
        View::Audit => audit::render(frame, body, app, theme),
        View::Triage => triage::render(frame, body, app, theme),
        View::Timeline => timeline::render(frame, body, app, theme),
        View::Top => top::render(frame, body, app, theme),
        View::Disk => disk::render(frame, body, app, theme),
        View::Logs => logs::render(frame, body, app, theme),
        View::Inspect => inspect::render(frame, body, app, theme),
        View::Deploy => deploy::render(frame, body, app, theme),
    }
    header::footer(frame, foot, app, theme);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help { scroll } => help::render(frame, app, theme, *scroll),
        Overlay::Confirm { action, targets } => {
            dialog::confirm(frame, theme, &app.keymap, *action, targets)
        }
        Overlay::Input { kind, text } => {
            dialog::input(frame, foot, theme, &prompt(app, *kind), text)
        }
        Overlay::ConfirmAbort => dialog::confirm_abort(frame, theme, app),
        Overlay::ConfirmPrune(plan) => dialog::confirm_prune(frame, theme, app, plan),
        Overlay::HostKey {
            host_name,
            address,
            problem,
            ..
        } => dialog::host_key(frame, theme, &app.keymap, host_name, address, problem),
    }
}

fn prompt(app: &App, kind: super::app::InputKind) -> String {
    use super::app::InputKind;
    match kind {
        InputKind::Filter => "filter> ".into(),
        InputKind::Search => "search> ".into(),
        InputKind::Command => ":".into(),
        InputKind::SavePath => "save logs to> ".into(),
        InputKind::DeployImage => format!(
            "deploy {} image> ",
            app.state.deploy.target.as_deref().unwrap_or("?")
        ),
    }
}

/// A state cell's style by Docker state, health and exit code.
pub fn state_style(theme: &Theme, c: &crate::fleet::ContainerInfo) -> ratatui::style::Style {
    use crate::fleet::{ContainerState as S, Health};
    match (&c.state, &c.health) {
        (_, Some(Health::Unhealthy)) => theme.unhealthy,
        (S::Restarting | S::Dead, _) => theme.restarting,
        (S::Exited, _) if c.exit_code.unwrap_or(0) != 0 => theme.exited_bad,
        (S::Exited | S::Created, _) => theme.exited,
        (_, Some(Health::Starting)) => theme.starting,
        (S::Running, _) => theme.running,
        _ => theme.dim,
    }
}

/// Truncates to `width` columns with an ellipsis (never wider, whatever the
/// characters' widths).
pub fn ellipsize(s: &str, width: usize) -> String {
    use unicode_truncate::UnicodeTruncateStr;
    use unicode_width::UnicodeWidthStr;
    if s.width() <= width {
        return s.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let (kept, _) = s.unicode_truncate(width - 1);
    format!("{kept}…")
}

#[cfg(test)]
mod tests {
    use super::ellipsize;
    use unicode_width::UnicodeWidthStr;

    #[test]
    fn ellipsize_never_overflows_the_column() {
        assert_eq!(ellipsize("shop-web-1", 20), "shop-web-1");
        assert_eq!(ellipsize("shop-web-1", 6), "shop-…");
        assert_eq!(ellipsize("shop-web-1", 0), "");
        // Wide characters: two columns each; the cut never splits one.
        for width in 0..12 {
            let out = ellipsize("日本語のコンテナ名", width);
            assert!(out.width() <= width, "{out:?} wider than {width}");
        }
        assert_eq!(ellipsize("日本語のコンテナ名", 6), "日本…");
        let long = "x".repeat(100_000);
        assert_eq!(ellipsize(&long, 5).width(), 5);
    }
}

#[cfg(test)]
pub mod snapshot {
    //! Renders the whole screen into a string for insta.
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::super::app::App;
    use super::super::theme::Theme;

    /// The screen with its styles, for what text alone cannot show.
    pub fn buffer(app: &mut App, width: u16, height: u16) -> ratatui::buffer::Buffer {
        app.update(super::super::app::AppEvent::Resize { width, height });
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
        let theme = Theme::builtin(false);
        terminal
            .draw(|f| super::draw(f, app, &theme))
            .expect("draw");
        terminal.backend().buffer().clone()
    }

    pub fn render(app: &mut App, width: u16, height: u16) -> String {
        let buffer = buffer(app, width, height);
        let mut out = String::new();
        for y in 0..height {
            let mut line = String::new();
            for x in 0..width {
                line.push_str(buffer[(x, y)].symbol());
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}
