//! The keymap vocabulary: every user intent is an `Action`, whose snake_case
//! name is what `[keys]` in the config and the help screen use.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    Quit,
    Back,
    /// Dialogs: yes.
    Confirm,
    /// Dialogs: no.
    Cancel,
    NextView,
    PrevView,
    ViewHosts,
    ViewContainers,
    ViewServices,
    ViewAudit,
    ViewTriage,
    ViewTimeline,
    ViewTop,
    ViewDisk,
    Prune,
    Volumes,
    Events,
    Snapshot,
    Silence,
    Deploy,
    DeployStart,
    DeployPause,
    DeployContinue,
    DeployAbort,
    DeployRollback,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Left,
    Right,
    Mark,
    Open,
    ServiceLogs,
    Inspect,
    Shell,
    Restart,
    Stop,
    Start,
    Kill,
    Find,
    NextMatch,
    PrevMatch,
    SortNext,
    SortReverse,
    GroupBy,
    Follow,
    Timestamps,
    Wrap,
    FilterMode,
    SaveLogs,
    Command,
    Help,
}

impl Action {
    /// Every action, in help order.
    pub fn all() -> impl Iterator<Item = Action> {
        <Action as strum::IntoEnumIterator>::iter()
    }

    /// The config / help name (`restart`, `next_view`, …).
    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn from_name(name: &str) -> Option<Action> {
        name.parse().ok()
    }

    /// Confirm and Cancel answer dialogs, so their keys may also mean
    /// something else outside one.
    pub fn is_dialog(self) -> bool {
        matches!(self, Action::Confirm | Action::Cancel)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Action::Quit => "quit flotilla",
            Action::Back => "close dialog / leave view / clear filter",
            Action::Confirm => "dialogs: yes, do it",
            Action::Cancel => "dialogs: no, leave it",
            Action::NextView => "next view",
            Action::PrevView => "previous view",
            Action::ViewHosts => "hosts view",
            Action::ViewContainers => "containers view",
            Action::ViewServices => "services × hosts matrix",
            Action::ViewAudit => "audit trail",
            Action::ViewTriage => "triage: what is broken, most severe first",
            Action::ViewTimeline => "timeline: what changed across the fleet (last hour)",
            Action::ViewDisk => "disk: what a prune would remove per host, and what it keeps",
            Action::Prune => "disk view: prune the selected host (asks first)",
            Action::Volumes => "disk view: include unused anonymous volumes (again: leave out)",
            Action::ViewTop => "top: containers ranked by CPU, memory, network, I/O (o: next)",
            Action::Events => "triage: the selected problem's events in the timeline",
            Action::Snapshot => "write an incident snapshot (Markdown + JSON)",
            Action::Silence => {
                "triage: silence the selected problem's alerts for 1h (again: end it)"
            }
            Action::Deploy => "deploy the selected service (plan first)",
            Action::DeployStart => "deploy view: run the plan shown",
            Action::DeployPause => "deploy view: pause after the current batch",
            Action::DeployContinue => "deploy view: continue a paused deploy",
            Action::DeployAbort => "deploy view: abort (rolls back in flight)",
            Action::DeployRollback => "deploy view: roll the finished deploy back",
            Action::Up => "move up",
            Action::Down => "move down",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "go to top",
            Action::Bottom => "go to bottom (logs: follow)",
            Action::Left => "previous column (matrix)",
            Action::Right => "next column (matrix)",
            Action::Mark => "mark / unmark container for an action",
            Action::Open => "open logs of the selection",
            Action::ServiceLogs => "merged logs of the selection's service, all hosts",
            Action::Inspect => "inspect container",
            Action::Shell => "open a shell in the container (exit returns here)",
            Action::Restart => "restart selected container(s)",
            Action::Stop => "stop selected container(s)",
            Action::Start => "start selected container(s)",
            Action::Kill => "kill selected container(s)",
            Action::Find => "filter table / search logs",
            Action::NextMatch => "next search match",
            Action::PrevMatch => "previous search match",
            Action::SortNext => "sort by next column",
            Action::SortReverse => "reverse sort order",
            Action::GroupBy => "group by host / service",
            Action::Follow => "logs: follow on/off",
            Action::Timestamps => "logs: timestamps on/off",
            Action::Wrap => "logs: wrap on/off",
            Action::FilterMode => "logs: show only matching lines",
            Action::SaveLogs => "logs: save to file",
            Action::Command => {
                "command palette (:hosts :ps :services :audit :logs NAME :since 10m :tail N :q)"
            }
            Action::Help => "this help",
        }
    }
}

/// A key chord: code plus modifiers (shift is folded into the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub code: KeyCodeOrd,
    pub ctrl: bool,
    pub alt: bool,
}

/// `KeyCode` subset that can be ordered and parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyCodeOrd {
    Char(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    Backspace,
    Delete,
    F(u8),
}

impl Key {
    pub fn from_event(ev: &KeyEvent) -> Option<Key> {
        let code = match ev.code {
            KeyCode::Char(c) => KeyCodeOrd::Char(c),
            KeyCode::Enter => KeyCodeOrd::Enter,
            KeyCode::Esc => KeyCodeOrd::Esc,
            KeyCode::Tab => KeyCodeOrd::Tab,
            KeyCode::BackTab => KeyCodeOrd::BackTab,
            KeyCode::Up => KeyCodeOrd::Up,
            KeyCode::Down => KeyCodeOrd::Down,
            KeyCode::Left => KeyCodeOrd::Left,
            KeyCode::Right => KeyCodeOrd::Right,
            KeyCode::PageUp => KeyCodeOrd::PageUp,
            KeyCode::PageDown => KeyCodeOrd::PageDown,
            KeyCode::Home => KeyCodeOrd::Home,
            KeyCode::End => KeyCodeOrd::End,
            KeyCode::Backspace => KeyCodeOrd::Backspace,
            KeyCode::Delete => KeyCodeOrd::Delete,
            KeyCode::F(n) => KeyCodeOrd::F(n),
            _ => return None,
        };
        Some(Key {
            code,
            ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
            alt: ev.modifiers.contains(KeyModifiers::ALT),
        })
    }

    /// Parses `q`, `G`, `ctrl-c`, `alt-x`, `enter`, `esc`, `tab`, `backtab`,
    /// `up`, `pgdn`, `f1`, `space`, `?`.
    pub fn parse(spec: &str) -> Result<Key, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = spec;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "enter" => KeyCodeOrd::Enter,
            "esc" => KeyCodeOrd::Esc,
            "tab" => KeyCodeOrd::Tab,
            "backtab" | "shift-tab" => KeyCodeOrd::BackTab,
            "up" => KeyCodeOrd::Up,
            "down" => KeyCodeOrd::Down,
            "left" => KeyCodeOrd::Left,
            "right" => KeyCodeOrd::Right,
            "pgup" | "pageup" => KeyCodeOrd::PageUp,
            "pgdn" | "pagedown" => KeyCodeOrd::PageDown,
            "home" => KeyCodeOrd::Home,
            "end" => KeyCodeOrd::End,
            "backspace" => KeyCodeOrd::Backspace,
            "delete" | "del" => KeyCodeOrd::Delete,
            "space" => KeyCodeOrd::Char(' '),
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCodeOrd::F(f[1..].parse().map_err(|_| format!("bad key {spec:?}"))?)
            }
            s if s.chars().count() == 1 => KeyCodeOrd::Char(
                s.chars()
                    .next()
                    .ok_or_else(|| format!("bad key {spec:?}"))?,
            ),
            _ => {
                return Err(format!(
                    "unknown key {spec:?} (examples: q, G, ctrl-c, enter, pgdn, f1, space)"
                ));
            }
        };
        Ok(Key { code, ctrl, alt })
    }

    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCodeOrd::Char(' ') => "space".to_owned(),
            KeyCodeOrd::Char(c) => c.to_string(),
            KeyCodeOrd::Enter => "enter".into(),
            KeyCodeOrd::Esc => "esc".into(),
            KeyCodeOrd::Tab => "tab".into(),
            KeyCodeOrd::BackTab => "shift-tab".into(),
            KeyCodeOrd::Up => "↑".into(),
            KeyCodeOrd::Down => "↓".into(),
            KeyCodeOrd::Left => "←".into(),
            KeyCodeOrd::Right => "→".into(),
            KeyCodeOrd::PageUp => "pgup".into(),
            KeyCodeOrd::PageDown => "pgdn".into(),
            KeyCodeOrd::Home => "home".into(),
            KeyCodeOrd::End => "end".into(),
            KeyCodeOrd::Backspace => "backspace".into(),
            KeyCodeOrd::Delete => "del".into(),
            KeyCodeOrd::F(n) => format!("f{n}"),
        };
        match (self.ctrl, self.alt) {
            (true, _) => format!("ctrl-{base}"),
            (_, true) => format!("alt-{base}"),
            _ => base,
        }
    }
}

/// Key → action, with the defaults overridable per action. Dialogs have a
/// layer of their own: `y` confirms there and starts a deploy elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: BTreeMap<Key, Action>,
    dialog: BTreeMap<Key, Action>,
}

const DEFAULTS: &[(Action, &[&str])] = &[
    (Action::Quit, &["q", "ctrl-c"]),
    (Action::Back, &["esc"]),
    (Action::Confirm, &["y", "Y", "enter"]),
    (Action::Cancel, &["n", "N", "esc", "q"]),
    (Action::NextView, &["tab"]),
    (Action::PrevView, &["backtab"]),
    (Action::ViewHosts, &["1"]),
    (Action::ViewContainers, &["2"]),
    (Action::ViewServices, &["3"]),
    (Action::ViewAudit, &["4"]),
    (Action::ViewTriage, &["5"]),
    (Action::ViewTimeline, &["6"]),
    (Action::ViewTop, &["7"]),
    (Action::ViewDisk, &["8"]),
    (Action::Prune, &["P"]),
    (Action::Volumes, &["V"]),
    (Action::Events, &["T"]),
    (Action::Snapshot, &["S"]),
    (Action::Silence, &["z"]),
    (Action::Deploy, &["D"]),
    (Action::DeployStart, &["y"]),
    (Action::DeployPause, &["p"]),
    (Action::DeployContinue, &["c"]),
    (Action::DeployAbort, &["A"]),
    (Action::DeployRollback, &["R"]),
    (Action::Up, &["k", "up"]),
    (Action::Down, &["j", "down"]),
    (Action::PageUp, &["pgup", "ctrl-b"]),
    (Action::PageDown, &["pgdn", "ctrl-f"]),
    (Action::Top, &["g", "home"]),
    (Action::Bottom, &["G", "end"]),
    (Action::Left, &["h", "left"]),
    (Action::Right, &["l", "right"]),
    (Action::Mark, &["space"]),
    (Action::Open, &["enter"]),
    (Action::ServiceLogs, &["L"]),
    (Action::Inspect, &["i"]),
    (Action::Shell, &["e"]),
    (Action::Restart, &["r"]),
    (Action::Stop, &["s"]),
    (Action::Start, &["u"]),
    (Action::Kill, &["K"]),
    (Action::Find, &["/"]),
    (Action::NextMatch, &["n"]),
    (Action::PrevMatch, &["N"]),
    (Action::SortNext, &["o"]),
    (Action::SortReverse, &["O"]),
    (Action::GroupBy, &["b"]),
    (Action::Follow, &["f"]),
    (Action::Timestamps, &["t"]),
    (Action::Wrap, &["w"]),
    (Action::FilterMode, &["F"]),
    (Action::SaveLogs, &["ctrl-s"]),
    (Action::Command, &[":"]),
    (Action::Help, &["?"]),
];

impl Default for Keymap {
    fn default() -> Self {
        let mut map = Keymap {
            bindings: BTreeMap::new(),
            dialog: BTreeMap::new(),
        };
        for (action, keys) in DEFAULTS {
            for k in *keys {
                if let Ok(key) = Key::parse(k) {
                    map.layer_mut(*action).insert(key, *action);
                }
            }
        }
        map
    }
}

impl Keymap {
    /// Defaults with `overrides` (action name → keys) replacing an action's keys.
    pub fn with_overrides(overrides: &BTreeMap<String, Vec<String>>) -> Result<Keymap, String> {
        Keymap::default().merged(overrides)
    }

    fn layer(&self, action: Action) -> &BTreeMap<Key, Action> {
        if action.is_dialog() {
            &self.dialog
        } else {
            &self.bindings
        }
    }

    fn layer_mut(&mut self, action: Action) -> &mut BTreeMap<Key, Action> {
        if action.is_dialog() {
            &mut self.dialog
        } else {
            &mut self.bindings
        }
    }

    /// This keymap with `overrides` applied.
    pub fn merged(mut self, overrides: &BTreeMap<String, Vec<String>>) -> Result<Keymap, String> {
        for (name, keys) in overrides {
            let action = Action::from_name(name).ok_or_else(|| {
                format!("[keys]: unknown action {name:?}; see `?` in the TUI for the list")
            })?;
            let layer = self.layer_mut(action);
            layer.retain(|_, a| *a != action);
            for spec in keys {
                let key = Key::parse(spec).map_err(|e| format!("[keys] {name}: {e}"))?;
                layer.insert(key, action);
            }
        }
        Ok(self)
    }

    pub fn action(&self, ev: &KeyEvent) -> Option<Action> {
        let key = Key::from_event(ev)?;
        // SHIFT is ignored on purpose: the character already says `G` vs `g`.
        self.bindings.get(&key).copied()
    }

    /// The key's meaning while a dialog asks yes or no.
    pub fn dialog_action(&self, ev: &KeyEvent) -> Option<Action> {
        let key = Key::from_event(ev)?;
        self.dialog.get(&key).copied()
    }

    /// Keys bound to `action`, for help and hints.
    pub fn keys_for(&self, action: Action) -> Vec<String> {
        let mut keys: Vec<&Key> = self
            .layer(action)
            .iter()
            .filter(|(_, a)| **a == action)
            .map(|(k, _)| k)
            .collect();
        // Plain keys first: they are what hints should show; `y` before `Y`.
        keys.sort_by_key(|k| {
            let upper = matches!(k.code, KeyCodeOrd::Char(c) if c.is_uppercase());
            (k.ctrl || k.alt, k.label().len(), upper)
        });
        keys.into_iter().map(Key::label).collect()
    }

    /// The first key for `action`, for compact hints.
    pub fn hint(&self, action: Action) -> String {
        self.keys_for(action).into_iter().next().unwrap_or_default()
    }

    /// A dialog's hint: the first letter and the first named key (`y/enter`).
    pub fn dialog_hint(&self, action: Action) -> String {
        let keys = self.keys_for(action);
        let letter = keys.iter().find(|k| k.chars().count() == 1);
        let named = keys.iter().find(|k| k.chars().count() > 1);
        match (letter, named) {
            (Some(l), Some(n)) => format!("{l}/{n}"),
            (Some(k), None) | (None, Some(k)) => k.clone(),
            (None, None) => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn every_action_has_a_name_a_description_and_a_default_key() {
        let map = Keymap::default();
        for a in Action::all() {
            assert_eq!(Action::from_name(a.name()), Some(a));
            assert!(!a.describe().is_empty());
            assert!(!map.keys_for(a).is_empty(), "{a:?} unbound");
        }
    }

    #[test]
    fn defaults_cover_vim_keys_and_arrows() {
        let map = Keymap::default();
        assert_eq!(
            map.action(&ev(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(Action::Down)
        );
        assert_eq!(
            map.action(&ev(KeyCode::Down, KeyModifiers::NONE)),
            Some(Action::Down)
        );
        assert_eq!(
            map.action(&ev(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(
            map.action(&ev(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            map.action(&ev(KeyCode::Char('x'), KeyModifiers::NONE)),
            None
        );
    }

    #[test]
    fn overrides_replace_an_actions_keys() {
        let overrides = BTreeMap::from([(
            "restart".to_owned(),
            vec!["ctrl-r".to_owned(), "R".to_owned()],
        )]);
        let map = Keymap::with_overrides(&overrides).expect("valid");
        assert_eq!(
            map.action(&ev(KeyCode::Char('r'), KeyModifiers::NONE)),
            None
        );
        assert_eq!(
            map.action(&ev(KeyCode::Char('r'), KeyModifiers::CONTROL)),
            Some(Action::Restart)
        );
        assert_eq!(map.keys_for(Action::Restart), ["R", "ctrl-r"]);
        assert_eq!(Keymap::default().hint(Action::Quit), "q");
    }

    #[test]
    fn bad_overrides_say_what_is_wrong() {
        let bad_action = BTreeMap::from([("reboot".to_owned(), vec!["x".to_owned()])]);
        assert!(
            Keymap::with_overrides(&bad_action)
                .expect_err("must fail")
                .contains("unknown action \"reboot\"")
        );
        let bad_key = BTreeMap::from([("quit".to_owned(), vec!["hyper-q".to_owned()])]);
        assert!(
            Keymap::with_overrides(&bad_key)
                .expect_err("must fail")
                .contains("unknown key")
        );
    }

    #[test]
    fn dialog_keys_are_a_layer_of_their_own() {
        let map = Keymap::default();
        let y = ev(KeyCode::Char('y'), KeyModifiers::NONE);
        assert_eq!(map.action(&y), Some(Action::DeployStart));
        assert_eq!(map.dialog_action(&y), Some(Action::Confirm));
        assert_eq!(map.dialog_hint(Action::Confirm), "y/enter");
        assert_eq!(map.dialog_hint(Action::Cancel), "n/esc");
        let overrides = BTreeMap::from([("confirm".to_owned(), vec!["o".to_owned()])]);
        let map = Keymap::with_overrides(&overrides).expect("valid");
        assert_eq!(map.dialog_action(&y), None);
        assert_eq!(
            map.dialog_action(&ev(KeyCode::Char('o'), KeyModifiers::NONE)),
            Some(Action::Confirm)
        );
        assert_eq!(
            map.action(&ev(KeyCode::Char('o'), KeyModifiers::NONE)),
            Some(Action::SortNext)
        );
    }

    #[test]
    fn existing_config_names_still_parse() {
        for name in [
            "quit",
            "next_view",
            "view_hosts",
            "deploy_start",
            "page_up",
            "service_logs",
            "sort_reverse",
            "group_by",
            "filter_mode",
            "save_logs",
        ] {
            assert!(Action::from_name(name).is_some(), "{name}");
        }
        assert_eq!(Action::PageDown.name(), "page_down");
        assert_eq!(Action::from_name("PageDown"), None);
    }
}
