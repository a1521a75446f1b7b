//! `?`: every key, generated from the keymap itself.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, app: &App, theme: &Theme, scroll: usize) {
    let area = frame.area();
    let [area] = Layout::horizontal([Constraint::Max(76)])
        .flex(Flex::Center)
        .areas(area);
    let [area] = Layout::vertical([Constraint::Percentage(90)])
        .flex(Flex::Center)
        .areas(area);
    let mut lines = vec![Line::from(Span::styled(
        "Keys (override in config: [keys] action = [\"key\", …])",
        theme.dim,
    ))];
    for action in Action::all() {
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:<16}", app.keymap.keys_for(action).join(" ")),
                theme.key,
            ),
            Span::styled(format!("{:<16}", action.name()), theme.dim),
            Span::raw(action.describe()),
        ]));
    }
    lines.push(Line::from(Span::styled(
        "Filter: words, host: state: health: service: image:, /regex/   Search: text or re:REGEX",
        theme.dim,
    )));
    let para = Paragraph::new(lines)
        .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0))
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border)
                .title(Span::styled(" Help — any other key closes ", theme.title)),
        );
    frame.render_widget(Clear, area);
    frame.render_widget(para, area);
}

#[cfg(test)]
mod tests {
    use crate::tui::action::Action;
    use crate::tui::testutil::{app, press};
    use crate::tui::views::snapshot;

    #[test]
    fn help_lists_every_action_from_the_keymap() {
        let mut app = app();
        press(&mut app, '?');
        let screen = snapshot::render(&mut app, 100, 66);
        for a in Action::all() {
            assert!(screen.contains(a.name()), "{a:?} missing from help");
        }
        insta::assert_snapshot!(screen);
    }
}
