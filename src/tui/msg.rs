//! The TUI's messages, below both the update function (`app`) and the
//! views' states (`state`): what comes in (`AppEvent`), what the loop must
//! do (`AppEffect`), which view and overlay show, and the settings.

use crossterm::event::KeyEvent;

use crate::fleet::{FleetEvent, HostCommand, HostId};
use crate::ops::deploy::{Control, DeployEvent, Plan};
use crate::ops::{AuditRecord, ContainerAction};

/// Identifies a container across refreshes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowKey {
    pub host: HostId,
    pub id: String,
}

/// Main views, in Tab order. Logs and Inspect are entered from a selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Hosts,
    Containers,
    Services,
    Audit,
    Triage,
    Timeline,
    Top,
    Disk,
    Logs,
    Inspect,
    /// Entered from a service (D); not a tab.
    Deploy,
}

impl View {
    pub const TABS: [View; 8] = [
        View::Hosts,
        View::Containers,
        View::Services,
        View::Audit,
        View::Triage,
        View::Timeline,
        View::Top,
        View::Disk,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Hosts => "Hosts",
            View::Containers => "Containers",
            View::Services => "Services",
            View::Audit => "Audit",
            View::Triage => "Triage",
            View::Timeline => "Timeline",
            View::Top => "Top",
            View::Disk => "Disk",
            View::Logs => "Logs",
            View::Inspect => "Inspect",
            View::Deploy => "Deploy",
        }
    }
}

/// A container an action will touch.
pub use crate::ops::act::Target as ActionTarget;

/// Input to `App::update`.
#[derive(Debug, Clone)]
pub enum AppEvent {
    Key(KeyEvent),
    Fleet(FleetEvent),
    Resize {
        width: u16,
        height: u16,
    },
    AuditLoaded(Vec<AuditRecord>),
    /// Periodic: time to refresh CPU/memory of the visible rows.
    StatsTick,
    /// Periodic, while a view showing it is open: time to read Compose drift.
    ComposeTick,
    /// A background read of Compose drift ended.
    ComposeRead(Reading),
    /// Periodic, while the Hosts view is open: time to read Docker's disk usage.
    DiskTick,
    /// A background read of Docker's disk usage ended.
    DisksRead(DiskReading),
    /// Periodic, while the Top view is open: time to read every host's
    /// container counters.
    TopTick,
    /// A round of counter readings ended.
    TopRead(TopRound),
    /// What a prune would do on each host.
    PrunePlanned(PrunePlans),
    /// A host's prune ended.
    Pruned(Result<crate::ops::prune::run::HostResult, String>),
    /// Outcome of an effect the loop carried out (saving logs, writing audit).
    Notice {
        text: String,
        error: bool,
    },
    /// The loop prepared (probed and planned) the requested deploy, or could not.
    DeployPrepared(Result<PlanSummary, String>),
    /// The running deploy reported progress.
    Deploy(DeployEvent),
    /// The running deploy's event channel closed.
    DeployEnded,
    /// The background gathering of an incident snapshot ended: its Markdown
    /// and JSON, or why not.
    SnapshotGathered(Result<(String, String), String>),
    /// The loop read a kept-logs file: its text, or why not.
    KeptRead {
        title: String,
        path: String,
        text: Result<String, String>,
    },
    /// Records appended to the audit log since the last look (while the
    /// Timeline view is open).
    AuditAppended(Vec<AuditRecord>),
    /// The silences file changed (read while the Triage view is open).
    Silences(Vec<crate::ops::alerts::silence::Silence>),
    /// The loop read the timeline: entries in time order, and hosts that failed.
    TimelineLoaded {
        entries: Vec<crate::ops::timeline::Entry>,
        failed: Vec<(String, String)>,
    },
}

/// What the loop must do after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppEffect {
    Host(HostId, HostCommand),
    Audit(AuditRecord),
    LoadAudit,
    SaveLogs {
        path: String,
        text: String,
    },
    /// Gather the grouped incident snapshot over the open connections in a
    /// task; answer with `SnapshotGathered`.
    GatherSnapshot,
    /// Read every host's Compose drift in a background task; answer with
    /// `ComposeRead`.
    ReadCompose,
    /// Read every host's Docker disk usage (`/system/df`) in a background
    /// task; answer with `DisksRead`.
    ReadDisks,
    /// Read every host's container counters (one exec per host through the
    /// background reader); answer with `TopRead`.
    ReadTop,
    /// Plan a prune of these kinds on every connected host in a task;
    /// answer with `PrunePlanned`.
    PlanPrune(crate::ops::prune::Kinds),
    /// Carry a confirmed prune plan out (audited); answer with `Pruned`.
    Prune(Box<crate::ops::prune::HostPlan>),
    /// Add a silence of `target` for `length` to the silences file, or
    /// (`end`) end its silences; answer with `Silences`.
    Silence {
        target: String,
        length: std::time::Duration,
        end: bool,
    },
    /// Write an incident snapshot next to the audit log.
    Snapshot {
        markdown: String,
        json: String,
    },
    /// Probe the service's hosts and plan; answer with `DeployPrepared`.
    PrepareDeploy {
        service: String,
        request: DeployRequest,
    },
    /// Run the deploy prepared last.
    StartDeploy,
    /// Forget the deploy prepared last.
    DiscardDeploy,
    /// Pause / continue / abort the running deploy.
    DeployControl(Control),
    /// Read a kept-logs file (small, bounded); answer with `KeptRead`.
    ReadKept {
        title: String,
        path: String,
    },
    /// Read the timeline since `since` (unix seconds); answer with `TimelineLoaded`.
    LoadTimeline {
        targets: Vec<String>,
        since: i64,
    },
    /// Suspend the screen and run an interactive shell in a container.
    Shell {
        host: HostId,
        host_name: String,
        container_id: String,
        name: String,
    },
    Quit,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub read_only: bool,
    pub log_lines: usize,
    pub log_bytes: usize,
    pub log_tail: u32,
    pub log_max_line_bytes: usize,
    /// Programs `e` tries in a container, the first that exists.
    pub shell: Vec<String>,
    /// `[[alerts.maintenance]]`: the Triage view marks what they hold back.
    pub maintenance: Vec<crate::config::alerts::Maintenance>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            read_only: false,
            log_lines: crate::logs::DEFAULT_MAX_LINES,
            log_bytes: crate::logs::DEFAULT_MAX_BYTES,
            log_tail: 500,
            log_max_line_bytes: crate::fleet::logs::DEFAULT_MAX_LINE_BYTES,
            shell: vec!["bash".to_owned(), "sh".to_owned()],
            maintenance: Vec::new(),
        }
    }
}

/// What the one-line input is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    Search,
    Command,
    SavePath,
    /// The image to deploy the Deploy view's target service with.
    DeployImage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help {
        scroll: usize,
    },
    Confirm {
        action: ContainerAction,
        targets: Vec<ActionTarget>,
    },
    Input {
        kind: InputKind,
        text: String,
    },
    /// Abort the running deploy (rolls back the hosts in flight)?
    ConfirmAbort,
    /// Remove what this plan lists?
    ConfirmPrune(Box<crate::ops::prune::HostPlan>),
    /// A host presented a key flotilla refused: trust it (unknown only)?
    HostKey {
        host: crate::fleet::HostId,
        host_name: String,
        address: String,
        problem: crate::fleet::HostKeyProblem,
    },
}

/// What the Deploy view asks the loop to prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployRequest {
    Deploy {
        image: String,
    },
    /// Return every host to its recorded previous image.
    Rollback,
}

/// What the loop prepared, without the Docker handles (those stay in the loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSummary {
    pub deploy_id: String,
    pub service: String,
    /// deploy, rollback, recover, resume.
    pub kind: crate::ops::audit::Mode,
    pub image: Option<String>,
    pub plan: Plan,
    /// The service runs a pre_deploy command first.
    pub pre_deploy: Option<String>,
    /// A real run would be refused (lock held, interrupted deploy).
    pub refusal: Option<String>,
}

/// Each host's counters reading of one round, or why it failed.
pub type TopRound = crate::fleet::top::Round;

/// Each host's prune plan, or why it could not be made.
pub type PrunePlans =
    std::collections::BTreeMap<String, Result<crate::ops::prune::HostPlan, String>>;

/// Each host's Docker disk usage, or why it could not be read.
pub type DiskReading =
    std::collections::BTreeMap<String, Result<crate::fleet::disk::DockerDisk, String>>;

/// Each host's drift, or why its projects could not be read.
pub type Reading =
    std::collections::BTreeMap<String, Result<Vec<crate::fleet::compose::file::Drift>, String>>;
