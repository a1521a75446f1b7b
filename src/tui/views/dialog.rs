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

/// An unknown host key (trust it?) or a changed one (a warning, no way to
/// accept it here).
pub fn host_key(
    frame: &mut Frame,
    theme: &Theme,
    keymap: &Keymap,
    host_name: &str,
    address: &str,
    problem: &crate::fleet::HostKeyProblem,
) {
    let (title, border, lines) = match problem {
        crate::fleet::HostKeyProblem::Unknown { .. } => (
            " Unknown host key ",
            theme.starting,
            unknown_key(theme, keymap, host_name, address, problem),
        ),
        crate::fleet::HostKeyProblem::Changed { .. } => (
            " HOST KEY HAS CHANGED ",
            theme.error,
            changed_key(theme, keymap, host_name, address, problem),
        ),
    };
    let height = u16::try_from(lines.len()).unwrap_or(20) + 2;
    let [area] = Layout::horizontal([Constraint::Max(84)])
        .flex(Flex::Center)
        .areas(frame.area());
    let [area] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let para = Paragraph::new(lines).wrap(Wrap { trim: false }).block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(border)
            .title(Span::styled(title, border)),
    );
    frame.render_widget(Clear, area);
    frame.render_widget(para, area);
}

/// A `label   value` line of a key dialog.
fn field<'a>(theme: &Theme, label: &str, value: String) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{label:<12}"), theme.dim),
        Span::raw(value),
    ])
}

fn unknown_key<'a>(
    theme: &Theme,
    keymap: &Keymap,
    host_name: &str,
    address: &str,
    problem: &crate::fleet::HostKeyProblem,
) -> Vec<Line<'a>> {
    let crate::fleet::HostKeyProblem::Unknown {
        name,
        key_type,
        fingerprint,
        file,
        ..
    } = problem
    else {
        return Vec::new();
    };
    let field = |label: &str, value: String| field(theme, label, value);
    vec![
        Line::from(format!(
            "{host_name} presents a key flotilla has never seen."
        )),
        Line::default(),
        field("host", format!("{host_name} ({address})")),
        field("address", name.clone()),
        field("key type", key_type.clone()),
        field("fingerprint", fingerprint.clone()),
        field("records in", file.display().to_string()),
        Line::default(),
        Line::from("Compare the fingerprint with the host's own"),
        Line::from("(ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) before trusting it."),
        Line::default(),
        Line::from(vec![
            Span::styled(keymap.dialog_hint(Action::Confirm), theme.key),
            Span::raw(" trust and connect   "),
            Span::styled(keymap.dialog_hint(Action::Cancel), theme.key),
            Span::raw(" leave it refused"),
        ]),
    ]
}

fn changed_key<'a>(
    theme: &Theme,
    keymap: &Keymap,
    host_name: &str,
    address: &str,
    problem: &crate::fleet::HostKeyProblem,
) -> Vec<Line<'a>> {
    let crate::fleet::HostKeyProblem::Changed {
        name,
        presented,
        file,
        line,
        recorded,
    } = problem
    else {
        return Vec::new();
    };
    let field = |label: &str, value: String| field(theme, label, value);
    vec![
        Line::from(Span::styled(
            format!("{host_name} presents a different key than the one recorded."),
            theme.error,
        )),
        Line::from(Span::styled(
            "Someone may be intercepting the connection (man-in-the-middle).",
            theme.error,
        )),
        Line::default(),
        field("host", format!("{host_name} ({address})")),
        field("address", name.clone()),
        field("presented", presented.clone()),
        field(
            "recorded",
            format!("{recorded} at {}:{line}", file.display()),
        ),
        Line::default(),
        Line::from("flotilla never replaces a recorded key. If the change is legitimate,"),
        Line::from(format!(
            "remove the old one (ssh-keygen -R '{name}' -f {})",
            file.display()
        )),
        Line::from("and verify the new one."),
        Line::default(),
        Line::from(vec![
            Span::styled(keymap.dialog_hint(Action::Cancel), theme.key),
            Span::raw(" close (the host stays refused)"),
        ]),
    ]
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

/// Remove what a host's prune plan lists? Counts per kind and the space.
pub fn confirm_prune(
    frame: &mut Frame,
    theme: &Theme,
    app: &App,
    plan: &crate::ops::prune::HostPlan,
) {
    use crate::ops::prune::Kind;
    let count = |k: Kind| plan.remove.iter().filter(|i| i.kind == k).count();
    let [area] = Layout::horizontal([Constraint::Max(76)])
        .flex(Flex::Center)
        .areas(frame.area());
    let [area] = Layout::vertical([Constraint::Length(9)])
        .flex(Flex::Center)
        .areas(area);
    let lines = vec![
        Line::from(vec![
            Span::raw("Prune "),
            Span::styled(plan.host.clone(), theme.unhealthy),
            Span::raw(format!(
                ": {} container(s), {} image(s), {} volume(s), {}?",
                count(Kind::Container),
                count(Kind::Image),
                count(Kind::Volume),
                crate::human::bytes(plan.bytes())
            )),
        ]),
        Line::from("Exactly the rows listed; rollback images and what runs stay."),
        Line::from("Each removal is audited; Docker refuses what came into use since."),
        Line::default(),
        Line::from(vec![
            Span::styled(app.keymap.dialog_hint(Action::Confirm), theme.key),
            Span::raw(" prune   "),
            Span::styled(app.keymap.dialog_hint(Action::Cancel), theme.key),
            Span::raw(" cancel"),
        ]),
    ];
    let para = Paragraph::new(lines).wrap(Wrap { trim: false }).block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(theme.unhealthy)
            .title(Span::styled(" Confirm prune ", theme.title)),
    );
    frame.render_widget(Clear, area);
    frame.render_widget(para, area);
}

#[cfg(test)]
mod tests {
    use crate::fleet::{FleetEvent, HostCommand, HostEvent, HostKeyProblem};
    use crate::tui::app::{AppEffect, AppEvent, Overlay};
    use crate::tui::testutil::{app, press, type_text};
    use crate::tui::views::snapshot;

    fn unknown() -> HostKeyProblem {
        HostKeyProblem::Unknown {
            name: "127.0.10.3".into(),
            key_type: "ssh-ed25519".into(),
            fingerprint: "SHA256:q0Xh4nQWvGm1Y1yqR6c6rj1dDkqoaK2sQ1dbr8B6r1Q".into(),
            file: "/home/ops/.ssh/known_hosts".into(),
            key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBifvGu7kTL+p7g8D4J9JOruqOCAIEKz7BOWjEE7SHMw"
                .into(),
        }
    }

    fn refused(problem: HostKeyProblem) -> AppEvent {
        AppEvent::Fleet(FleetEvent {
            host: 2,
            kind: HostEvent::HostKey(problem),
        })
    }

    #[test]
    fn an_unknown_key_is_trusted_only_with_a_yes() {
        let mut app = app();
        app.update(refused(unknown()));
        let screen = snapshot::render(&mut app, 90, 24);
        assert!(
            screen.contains("SHA256:q0Xh4nQWvGm1Y1yqR6c6rj1dDkqoaK2sQ1dbr8B6r1Q"),
            "{screen}"
        );
        insta::assert_snapshot!(screen);
        // Other keys leave the question open.
        assert!(press(&mut app, 'j').is_empty());
        let effects = press(&mut app, 'y');
        match effects.as_slice() {
            [AppEffect::Host(2, HostCommand::TrustKey { name, key, file })] => {
                assert_eq!(name, "127.0.10.3");
                assert!(key.starts_with("ssh-ed25519 AAAA"));
                assert_eq!(file.to_str(), Some("/home/ops/.ssh/known_hosts"));
            }
            other => panic!("expected TrustKey, got {other:?}"),
        }
        assert_eq!(app.overlay, Overlay::None);
    }

    #[test]
    fn a_declined_key_is_not_asked_again() {
        let mut app = app();
        app.update(refused(unknown()));
        assert!(press(&mut app, 'n').is_empty());
        assert_eq!(app.overlay, Overlay::None);
        // The actor retries and refuses the same key again: no new dialog.
        app.update(refused(unknown()));
        assert_eq!(app.overlay, Overlay::None);
    }

    #[test]
    fn a_changed_key_is_a_warning_that_cannot_be_accepted() {
        let mut app = app();
        app.update(refused(HostKeyProblem::Changed {
            name: "127.0.10.3".into(),
            presented: "ssh-ed25519 SHA256:NEWNEWNEWq0Xh4nQWvGm1Y1yqR6c6rj1dDkqoaK2sQ1d".into(),
            file: "/home/ops/.ssh/known_hosts".into(),
            line: 7,
            recorded: "ssh-rsa SHA256:OLDOLDOLDbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb".into(),
        }));
        let screen = snapshot::render(&mut app, 90, 26);
        assert!(screen.contains("HOST KEY HAS CHANGED"), "{screen}");
        assert!(screen.contains("known_hosts:7"), "{screen}");
        insta::assert_snapshot!(screen);
        assert!(press(&mut app, 'y').is_empty(), "no way to accept it");
        assert_eq!(app.overlay, Overlay::None);
    }

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
