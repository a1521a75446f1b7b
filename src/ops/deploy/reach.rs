//! Which of a service's hosts a deploy can use right now: the same answer
//! for the TUI and the headless verbs.

use crate::fleet::{Fleet, FleetState};

use super::HostHandle;

/// A service's hosts split into those with an open session (inventory order)
/// and those without, each with the reason.
#[derive(Default)]
pub struct Reach {
    pub hosts: Vec<HostHandle>,
    pub unreachable: Vec<(String, String)>,
}

/// Handles for `names` over the fleet's open sessions (no new connections).
pub fn handles(state: &FleetState, fleet: &Fleet, names: &[String]) -> Reach {
    let mut reach = Reach::default();
    for name in names {
        let found = state.host_named(name);
        match found {
            Some((id, h)) if h.is_up() => match fleet.handles(id) {
                Some(handles) => {
                    let mut handle = HostHandle::docker(name.clone(), handles.docker);
                    handle.remote = handles.remote;
                    reach.hosts.push(handle);
                }
                None => reach
                    .unreachable
                    .push((name.clone(), "not connected".to_owned())),
            },
            Some((_, h)) => reach.unreachable.push((
                name.clone(),
                h.last_error.clone().unwrap_or_else(|| "no answer".into()),
            )),
            None => reach
                .unreachable
                .push((name.clone(), "not in the inventory".to_owned())),
        }
    }
    reach
}
