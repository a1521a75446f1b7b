//! The confirmation dialog (names exactly what and where) and the input line.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::ops::ContainerAction;
use crate::tui::action::{Action, Keymap};
use crate::tui::app::{ActionTarget, App};
use crate::tui::theme::Theme;

/// Lines shown before "… and N more".
const MAX_LISTED: usize = 10;

pub fn confirm(
    frame: &mut Frame,
    theme: &Theme,
    keymap: &Keymap,
    action: ContainerAction,
    targets: &[ActionTarget],
) {
    let listed = targets.len().min(MAX_LISTED);
    let height = u16::try_from(listed).unwrap_or(10) + 6 + u16::from(targets.len() > MAX_LISTED);
    let [area] = Layout::horizontal([Constraint::Max(64)])
        .flex(Flex::Center)
        .areas(frame.area());
    let [area] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let mut lines = vec![Line::from(vec![
        Span::raw(format!("{} ", capitalize(action.verb()))),
        Span::styled(format!("{} container(s)", targets.len()), theme.unhealthy),
        Span::raw(":"),
    ])];
    for t in targets.iter().take(MAX_LISTED) {
        lines.push(Line::from(vec![
            Span::raw("  "),
            Span::styled(t.name.clone(), theme.title),
            Span::raw(" on "),
            Span::styled(t.host_name.clone(), theme.key),
        ]));
    }
    if targets.len() > MAX_LISTED {
        lines.push(Line::from(format!(
            "  … and {} more",
            targets.len() - MAX_LISTED
        )));
    }
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled(keymap.dialog_hint(Action::Confirm), theme.key),
        Span::raw(" confirm   "),
        Span::styled(keymap.dialog_hint(Action::Cancel), theme.key),
        Span::raw(" cancel"),
    ]));
    let para = Paragraph::new(lines).wrap(Wrap { trim: false }).block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(theme.unhealthy)
            .title(Span::styled(
                format!(" Confirm {} ", action.verb()),
                theme.title,
            )),
    );
    frame.render_widget(Clear, area);
    frame.render_widget(para, area);
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

/// The one-line prompt over the footer.
pub fn input(frame: &mut Frame, area: Rect, theme: &Theme, prompt: &str, text: &str) {
    let line = Line::from(vec![
        Span::styled(prompt.to_owned(), theme.key),
        Span::raw(text.to_owned()),
        Span::styled("█", theme.dim),
    ]);
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(line), area);
}

/// Abort the running deploy? Names the service and what happens.
pub fn confirm_abort(frame: &mut Frame, theme: &Theme, app: &App) {
    let service = app
        .state
        .deploy
        .current
        .as_ref()
        .map_or("", |d| d.service.as_str());
    let [area] = Layout::horizontal([Constraint::Max(64)])
        .flex(Flex::Center)
        .areas(frame.area());
    let [area] = Layout::vertical([Constraint::Length(7)])
        .flex(Flex::Center)
        .areas(area);
    let lines = vec![
        Line::from(vec![
            Span::raw("Abort the deploy of "),
            Span::styled(service.to_owned(), theme.unhealthy),
            Span::raw("?"),
        ]),
        Line::from("The hosts in flight are rolled back; the rest stay untouched."),
        Line::default(),
        Line::from(vec![
            Span::styled(app.keymap.dialog_hint(Action::Confirm), theme.key),
            Span::raw(" abort   "),
            Span::styled("any other key", theme.key),
            Span::raw(" keep going"),
        ]),
    ];
    let para = Paragraph::new(lines).wrap(Wrap { trim: false }).block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(theme.unhealthy)
            .title(Span::styled(" Confirm abort ", theme.title)),
    );
    frame.render_widget(Clear, area);
    frame.render_widget(para, area);
}

#[cfg(test)]
mod tests {
    use crate::tui::testutil::{app, type_text};
    use crate::tui::views::snapshot;

    #[test]
    fn confirm_dialog_names_containers_and_hosts() {
        let mut app = app();
        type_text(&mut app, "j jj r");
        let screen = snapshot::render(&mut app, 80, 24);
        assert!(screen.contains("shop-crashloop-1 on fleet-1"), "{screen}");
        insta::assert_snapshot!(screen);
    }

    #[test]
    fn command_palette_prompt() {
        let mut app = app();
        type_text(&mut app, ":logs");
        insta::assert_snapshot!(snapshot::render(&mut app, 60, 6));
    }
}
