//! Container actions the host actors carry out (the TUI asks behind a confirm dialog, headless verbs after --yes).

use bollard::Docker;
use bollard::query_parameters::{
    KillContainerOptionsBuilder, RestartContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use serde::Serialize;

/// Seconds Docker waits for a graceful stop before SIGKILL.
const STOP_TIMEOUT_SECS: i32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ContainerAction {
    Restart,
    Stop,
    Start,
    Kill,
}

impl ContainerAction {
    pub fn verb(self) -> &'static str {
        match self {
            ContainerAction::Restart => "restart",
            ContainerAction::Stop => "stop",
            ContainerAction::Start => "start",
            ContainerAction::Kill => "kill",
        }
    }

    /// Runs the action against one container (by id or name).
    pub async fn apply(self, docker: &Docker, container: &str) -> Result<(), String> {
        let result = match self {
            ContainerAction::Restart => {
                let opts = RestartContainerOptionsBuilder::default()
                    .t(STOP_TIMEOUT_SECS)
                    .build();
                docker.restart_container(container, Some(opts)).await
            }
            ContainerAction::Stop => {
                let opts = StopContainerOptionsBuilder::default()
                    .t(STOP_TIMEOUT_SECS)
                    .build();
                docker.stop_container(container, Some(opts)).await
            }
            ContainerAction::Start => docker.start_container(container, None).await,
            ContainerAction::Kill => {
                let opts = KillContainerOptionsBuilder::default()
                    .signal("SIGKILL")
                    .build();
                docker.kill_container(container, Some(opts)).await
            }
        };
        result.map_err(|e| e.to_string())
    }
}

impl std::fmt::Display for ContainerAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.verb())
    }
}
