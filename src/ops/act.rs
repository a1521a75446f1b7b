//! The rules every front end applies to a mutating operation, in one place:
//! who may run it (read-only), where it can run (reachable hosts), and what
//! the audit trail records. The TUI and the headless verbs both call these;
//! neither re-implements them.

use crate::config::HostSpec;
use crate::fleet::{ContainerAction, FleetState, HostCommand, HostId, Resolved};

use super::{AuditLog, AuditRecord};

/// One container an action is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: HostId,
    pub host_name: String,
    pub id: String,
    pub name: String,
}

impl Target {
    /// The resolved targets of a headless verb, named as the fleet names their hosts.
    pub fn of_resolved(state: &FleetState, targets: &[Resolved]) -> Vec<Target> {
        targets
            .iter()
            .map(|r| Target {
                host: r.host,
                host_name: state.hosts[r.host].spec.name.clone(),
                id: r.container.id.clone(),
                name: r.container.name.clone(),
            })
            .collect()
    }
}

/// Why an operation may not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `--read-only`, or the host is in a `read_only` group.
    ReadOnly {
        what: String,
        subject: String,
        host: String,
    },
    /// The host has no session: nothing can be done there now.
    Unreachable {
        what: String,
        subject: String,
        host: String,
    },
    /// Nothing was selected.
    Nothing,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::ReadOnly {
                what,
                subject,
                host,
            } => write!(f, "read-only: refusing to {what} {subject} on {host}"),
            Refusal::Unreachable {
                what,
                subject,
                host,
            } => write!(f, "{host} is unreachable; cannot {what} {subject}"),
            Refusal::Nothing => f.write_str("nothing selected"),
        }
    }
}

/// The session-wide part of the policy (the command line's `--read-only`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub read_only: bool,
}

/// What a policy check is asked about; the refusal words it so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Act(ContainerAction),
    /// `exec` in a container: it can change anything.
    Exec,
    /// The TUI's shell in a container.
    Shell,
}

impl Verb {
    pub fn wording(self) -> &'static str {
        match self {
            Verb::Act(a) => a.verb(),
            Verb::Exec => "exec in",
            Verb::Shell => "open a shell in",
        }
    }
}

impl Policy {
    /// Whether mutating operations are refused on this host.
    pub fn read_only(&self, host: &HostSpec) -> bool {
        self.read_only || host.read_only
    }

    /// A container action on `targets`: refused as a whole if any target is
    /// read-only or (when `need_up`) on a host that is down.
    pub fn authorize(
        &self,
        state: &FleetState,
        action: ContainerAction,
        targets: &[Target],
        need_up: bool,
    ) -> Result<(), Refusal> {
        self.authorize_verb(state, Verb::Act(action), targets, need_up)
    }

    /// Any mutating verb on containers (`exec` counts: it can change anything).
    pub fn authorize_verb(
        &self,
        state: &FleetState,
        verb: Verb,
        targets: &[Target],
        need_up: bool,
    ) -> Result<(), Refusal> {
        if targets.is_empty() {
            return Err(Refusal::Nothing);
        }
        let host = |t: &Target| state.hosts.get(t.host);
        if let Some(t) = targets
            .iter()
            .find(|t| host(t).is_some_and(|h| self.read_only(&h.spec)))
        {
            return Err(Refusal::ReadOnly {
                what: verb.wording().to_owned(),
                subject: t.name.clone(),
                host: t.host_name.clone(),
            });
        }
        if need_up && let Some(t) = targets.iter().find(|t| !host(t).is_some_and(|h| h.is_up())) {
            return Err(Refusal::Unreachable {
                what: verb.wording().to_owned(),
                subject: t.name.clone(),
                host: t.host_name.clone(),
            });
        }
        Ok(())
    }

    /// A deploy (`kind`: deploy, rollback, …) of `service` touching `hosts`.
    pub fn authorize_deploy<'a>(
        &self,
        specs: impl IntoIterator<Item = &'a HostSpec>,
        kind: crate::ops::audit::Mode,
        service: &str,
        hosts: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), Refusal> {
        let specs: Vec<&HostSpec> = specs.into_iter().collect();
        for host in hosts {
            let locked =
                self.read_only || specs.iter().any(|s| s.name == host && self.read_only(s));
            if locked {
                return Err(Refusal::ReadOnly {
                    what: kind.kind().to_owned(),
                    subject: service.to_owned(),
                    host: host.to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// The host commands that carry an authorized action out.
pub fn commands(action: ContainerAction, targets: &[Target]) -> Vec<(HostId, HostCommand)> {
    targets
        .iter()
        .map(|t| {
            let cmd = HostCommand::Act {
                container: t.id.clone(),
                action,
            };
            (t.host, cmd)
        })
        .collect()
}

/// What one finished action means: the audit record and the line to show.
pub fn outcome(
    host: &str,
    container: &str,
    action: ContainerAction,
    result: &Result<(), String>,
) -> (AuditRecord, String) {
    let text = match result {
        Ok(()) => format!("{action} {container} on {host}: ok"),
        Err(e) => format!("{action} {container} on {host}: FAILED: {e}"),
    };
    (
        AuditRecord::new(
            host,
            container,
            crate::ops::AuditAction::Container(action),
            result,
        ),
        text,
    )
}

/// Appends to the audit log; the error says which file.
pub fn audit(log: &AuditLog, record: &AuditRecord) -> Result<(), String> {
    log.append(record)
        .map_err(|e| format!("cannot write audit log {}: {e}", log.path().display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::fixtures::sample_fleet;
    use crate::fleet::{FleetEvent, HostEvent, HostInfo, update};

    fn target(state: &FleetState, host: HostId) -> Target {
        let h = &state.hosts[host];
        let c = &h.containers[0];
        Target {
            host,
            host_name: h.spec.name.clone(),
            id: c.id.clone(),
            name: c.name.clone(),
        }
    }

    #[test]
    fn read_only_wins_over_everything_and_names_what_and_where() {
        let mut state = sample_fleet();
        let targets = [target(&state, 0), target(&state, 1)];
        let open = Policy::default();
        assert_eq!(
            open.authorize(&state, ContainerAction::Restart, &targets, true),
            Ok(())
        );
        state.hosts[1].spec.read_only = true;
        let err = open
            .authorize(&state, ContainerAction::Restart, &targets, true)
            .expect_err("fleet-2 is read-only");
        assert_eq!(
            err.to_string(),
            format!(
                "read-only: refusing to restart {} on fleet-2",
                targets[1].name
            )
        );
        let global = Policy { read_only: true };
        state.hosts[1].spec.read_only = false;
        assert!(matches!(
            global.authorize(&state, ContainerAction::Stop, &targets[..1], false),
            Err(Refusal::ReadOnly { .. })
        ));
    }

    #[test]
    fn a_down_host_refuses_when_a_session_is_needed() {
        let state = sample_fleet();
        let down = [target(&state, 2)];
        let policy = Policy::default();
        let err = policy
            .authorize(&state, ContainerAction::Kill, &down, true)
            .expect_err("fleet-3 is down");
        assert!(
            err.to_string().starts_with("fleet-3 is unreachable"),
            "{err}"
        );
        assert_eq!(
            policy.authorize(&state, ContainerAction::Kill, &down, false),
            Ok(())
        );
        assert_eq!(
            policy.authorize(&state, ContainerAction::Kill, &[], false),
            Err(Refusal::Nothing)
        );
        // Back up: allowed again.
        let mut state = state;
        let info = HostInfo {
            docker_version: "28".into(),
            api_version: "1.47".into(),
            tunnel: "unix".into(),
        };
        let rtt = std::time::Duration::ZERO;
        let kind = HostEvent::Connected { info, rtt };
        update(&mut state, FleetEvent { host: 2, kind });
        assert_eq!(
            policy.authorize(&state, ContainerAction::Kill, &down, true),
            Ok(())
        );
    }

    #[test]
    fn deploys_refuse_on_any_read_only_host() {
        let mut state = sample_fleet();
        state.hosts[2].spec.read_only = true;
        let specs = state.hosts.iter().map(|h| &h.spec);
        let err = Policy::default()
            .authorize_deploy(
                specs,
                crate::ops::audit::Mode::Deploy,
                "web",
                ["fleet-1", "fleet-3"],
            )
            .expect_err("fleet-3 is read-only");
        assert_eq!(
            err.to_string(),
            "read-only: refusing to deploy web on fleet-3"
        );
        let specs = state.hosts.iter().map(|h| &h.spec);
        assert_eq!(
            Policy::default().authorize_deploy(
                specs,
                crate::ops::audit::Mode::Rollback,
                "web",
                ["fleet-1"]
            ),
            Ok(())
        );
    }

    #[test]
    fn outcomes_are_worded_and_audited_alike() {
        let (record, text) = outcome("fleet-1", "web", ContainerAction::Restart, &Ok(()));
        assert_eq!(text, "restart web on fleet-1: ok");
        assert_eq!(record.action.to_string(), "restart");
        let failed = Err("no such container".to_owned());
        let (record, text) = outcome("fleet-2", "db", ContainerAction::Stop, &failed);
        assert_eq!(text, "stop db on fleet-2: FAILED: no such container");
        assert_eq!(record.host, "fleet-2");
        assert_eq!(record.result, "no such container");
    }
}
