use super::*;
use crate::ops::prune::{Item, Kind};
use crate::tui::msg::Settings;
use crate::tui::testutil::sample_fleet;

pub fn plans() -> PrunePlans {
    let item = |kind, name: &str, bytes, why: &str| Item {
        kind,
        id: format!("{name}-id"),
        name: name.to_owned(),
        tags: Vec::new(),
        bytes,
        why: why.to_owned(),
    };
    let one = HostPlan {
        host: "fleet-1".into(),
        remove: vec![
            item(Kind::Container, "shop-batch-1", Some(4096), "exited (3)"),
            item(
                Kind::Image,
                "flotilla-test/app:v0",
                Some(7 << 20),
                "no container uses it",
            ),
        ],
        keep: vec![item(
            Kind::Image,
            "flotilla-test/app:v1",
            Some(7 << 20),
            "flotilla.previous-image of shop-web-1 (rollback)",
        )],
    };
    let two = HostPlan {
        host: "fleet-2".into(),
        remove: Vec::new(),
        keep: Vec::new(),
    };
    [
        ("fleet-1".to_owned(), Ok(one)),
        ("fleet-2".to_owned(), Ok(two)),
        ("fleet-3".to_owned(), Err("not connected".to_owned())),
    ]
    .into()
}

static NO_DRIFT: std::sync::LazyLock<crate::tui::state::compose::Reading> =
    std::sync::LazyLock::new(Default::default);

fn ctx<'a>(fleet: &'a crate::fleet::FleetState, settings: &'a Settings) -> Ctx<'a> {
    Ctx {
        fleet,
        settings,
        page: 10,
        compose: &NO_DRIFT,
    }
}

#[test]
fn p_asks_for_the_selected_hosts_plan_and_read_only_refuses() {
    let fleet = sample_fleet();
    let settings = Settings::default();
    let mut disk = DiskState::default();
    assert!(matches!(disk.read().as_slice(), [Msg::Effect(AppEffect::PlanPrune(k))] if !k.volumes));
    assert!(disk.read().is_empty(), "one plan at a time");
    disk.planned(plans());
    assert_eq!(disk.lines().len(), 1 + 3 + 1 + 1, "headers, rows");
    disk.handle(Action::Down, &ctx(&fleet, &settings));
    let msgs = disk.handle(Action::Prune, &ctx(&fleet, &settings));
    let [Msg::Overlay(Overlay::ConfirmPrune(plan))] = msgs.as_slice() else {
        panic!("a dialog: {msgs:?}");
    };
    assert_eq!(plan.host, "fleet-1");
    assert_eq!(plan.remove.len(), 2);
    disk.handle(Action::Bottom, &ctx(&fleet, &settings));
    let msgs = disk.handle(Action::Prune, &ctx(&fleet, &settings));
    assert!(
        matches!(msgs.as_slice(), [Msg::Fail(e)] if e.contains("not connected")),
        "{msgs:?}"
    );
    let read_only = Settings {
        read_only: true,
        ..Settings::default()
    };
    disk.handle(Action::Top, &ctx(&fleet, &read_only));
    let msgs = disk.handle(Action::Prune, &ctx(&fleet, &read_only));
    assert!(
        matches!(msgs.as_slice(), [Msg::Fail(e)] if e.starts_with("read-only")),
        "{msgs:?}"
    );
}

#[test]
fn a_prune_ends_with_what_it_did_and_a_new_plan() {
    let mut disk = DiskState {
        pruning: Some("fleet-1".into()),
        ..DiskState::default()
    };
    assert!(disk.read().is_empty(), "no plan while pruning");
    let result = crate::ops::prune::run::HostResult {
        host: "fleet-1".into(),
        removed: Vec::new(),
        bytes_freed: 7 << 20,
        warnings: Vec::new(),
    };
    let msgs = disk.pruned(Ok(result));
    assert!(
        matches!(&msgs[0], Msg::Say(s) if s == "pruned fleet-1: 0 removed, 7.0 MiB freed"),
        "{msgs:?}"
    );
    assert!(matches!(msgs[1], Msg::Effect(AppEffect::PlanPrune(_))));
    let msgs = disk.handle(Action::Volumes, &ctx(&sample_fleet(), &Settings::default()));
    assert!(disk.volumes);
    assert!(msgs.is_empty() || matches!(msgs[0], Msg::Say(_)));
}
