//! A removed container's kept log lines, read from their file, in the Logs view.

use super::{App, View};
use crate::tui::app::AppEffect;
use crate::tui::state::logs::LogsState;

impl App {
    /// The loop read a kept-logs file: show its lines (nothing follows), or
    /// say why not.
    pub(super) fn kept_read(
        &mut self,
        title: String,
        path: &str,
        text: Result<String, String>,
    ) -> Vec<AppEffect> {
        match text {
            Ok(text) => {
                let effects = self.leave_detail();
                let lines = crate::ops::deploy::kept::parse(&text);
                let headings = crate::ops::deploy::kept::headings(&text);
                self.state.logs = Some(LogsState::kept(title, &headings, &lines, &self.settings));
                self.view = View::Logs;
                self.say(format!("{} kept lines from {path}", lines.len()));
                effects
            }
            Err(e) => {
                self.fail(format!("cannot read kept logs {path}: {e}"));
                Vec::new()
            }
        }
    }
}
