//! The prune planner: from one host's containers, images and volumes and the
//! services that cover it, what goes and what a rule keeps. Images and
//! volumes are judged as if the pruned containers were already gone (as
//! `docker system prune` does), so one run frees what they held.

use std::collections::{BTreeMap, BTreeSet};

use super::{ContainerFact, Facts, HostPlan, ImageFact, Item, Kind, Kinds, LabelFilter};
use crate::config::ServiceSpec;
use crate::ops::deploy::lock::lock_name;
use crate::ops::deploy::{LABEL_PREVIOUS_IMAGE, LABEL_PREVIOUS_IMAGE_ID, NEW_SUFFIX, OLD_SUFFIX};

/// The label Docker (23+) puts on volumes it made for a container.
const ANONYMOUS_VOLUME_LABEL: &str = "com.docker.volume.anonymous";
/// The image a deploy lock's deploy rolls out.
const LOCK_IMAGE_LABEL: &str = "flotilla.lock.image";

/// What `host` would lose to a prune of `kinds` (only objects `filter`
/// matches, when given), and what is kept by a rule.
pub fn plan(
    host: &str,
    facts: &Facts,
    services: &[ServiceSpec],
    kinds: Kinds,
    filter: Option<&LabelFilter>,
) -> HostPlan {
    let wanted = |labels: &BTreeMap<String, String>| filter.is_none_or(|f| f.matches(labels));
    let mut out = HostPlan {
        host: host.to_owned(),
        remove: Vec::new(),
        keep: Vec::new(),
    };
    let mut going: BTreeSet<&str> = BTreeSet::new();
    for c in &facts.containers {
        if !kinds.containers || !stopped(&c.state) || !wanted(&c.labels) {
            continue;
        }
        let item = |why: String| Item {
            kind: Kind::Container,
            id: c.id.clone(),
            name: c.name.clone(),
            tags: Vec::new(),
            bytes: c.size,
            why,
        };
        match container_guard(host, c, services) {
            Some(why) => out.keep.push(item(why)),
            None => {
                going.insert(&c.id);
                out.remove.push(item(format!("stopped ({})", c.state)));
            }
        }
    }
    let staying: Vec<&ContainerFact> = facts
        .containers
        .iter()
        .filter(|c| !going.contains(c.id.as_str()))
        .collect();
    if kinds.images {
        images(host, facts, services, &staying, &wanted, &mut out);
    }
    if kinds.volumes {
        volumes(facts, &staying, &wanted, &mut out);
    }
    out
}

fn stopped(state: &str) -> bool {
    matches!(state, "exited" | "created" | "dead")
}

/// Why a stopped container must stay, if it must.
fn container_guard(host: &str, c: &ContainerFact, services: &[ServiceSpec]) -> Option<String> {
    if c.name.ends_with(OLD_SUFFIX) {
        return Some("set aside by a deploy (its rollback or --resume needs it)".to_owned());
    }
    if c.name.ends_with(NEW_SUFFIX) {
        return Some("a start-first deploy's new container".to_owned());
    }
    if let Some(service) = c.labels.get(crate::fleet::DEPLOY_LOCK_LABEL) {
        return Some(format!("the deploy lock of {service}"));
    }
    if c.name.starts_with(&lock_name("")) {
        return Some("named like a deploy lock".to_owned());
    }
    services
        .iter()
        .find(|s| s.owns(host, &c.name, |k| c.labels.get(k).map(String::as_str)))
        .map(|s| format!("a container of service {} (a deploy recreates it)", s.name))
}

/// Image ids a rule keeps, with the rule's words.
fn protected(
    host: &str,
    facts: &Facts,
    services: &[ServiceSpec],
    staying: &[&ContainerFact],
) -> BTreeMap<String, String> {
    let mut keep: BTreeMap<String, String> = BTreeMap::new();
    let by_ref = |r: &str| resolve(&facts.images, r);
    for c in staying {
        if let Some(s) = services
            .iter()
            .find(|s| s.owns(host, &c.name, |k| c.labels.get(k).map(String::as_str)))
        {
            keep.entry(c.image_id.clone())
                .or_insert_with(|| format!("the current image of {} ({})", s.name, c.name));
        }
        let previous = c.labels.get(LABEL_PREVIOUS_IMAGE);
        let previous_ids = c
            .labels
            .get(LABEL_PREVIOUS_IMAGE_ID)
            .cloned()
            .into_iter()
            .chain(previous.and_then(|r| by_ref(r)));
        for id in previous_ids {
            keep.entry(id)
                .or_insert_with(|| format!("{LABEL_PREVIOUS_IMAGE} of {} (its rollback)", c.name));
        }
        if let Some(id) = c.labels.get(LOCK_IMAGE_LABEL).and_then(|r| by_ref(r)) {
            keep.entry(id)
                .or_insert_with(|| format!("being deployed (lock {})", c.name));
        }
    }
    for s in services
        .iter()
        .filter(|s| s.hosts.iter().any(|h| h == host))
    {
        for (id, why) in newest_of_service(host, facts, s, staying) {
            keep.entry(id).or_insert(why);
        }
    }
    keep
}

/// `keep_images`: the N newest images of the repositories the service's
/// containers run.
fn newest_of_service(
    host: &str,
    facts: &Facts,
    s: &ServiceSpec,
    staying: &[&ContainerFact],
) -> Vec<(String, String)> {
    if s.keep_images == 0 {
        return Vec::new();
    }
    let mut repos: BTreeSet<String> = BTreeSet::new();
    for c in staying
        .iter()
        .filter(|c| s.owns(host, &c.name, |k| c.labels.get(k).map(String::as_str)))
    {
        repos.insert(repository(&c.image).to_owned());
        let tags = facts.images.iter().filter(|i| i.id == c.image_id);
        repos.extend(tags.flat_map(|i| i.tags.iter().map(|t| repository(t).to_owned())));
    }
    let mut theirs: Vec<&ImageFact> = facts
        .images
        .iter()
        .filter(|i| i.tags.iter().any(|t| repos.contains(repository(t))))
        .collect();
    theirs.sort_by_key(|i| std::cmp::Reverse(i.created));
    theirs
        .into_iter()
        .take(s.keep_images)
        .map(|i| {
            let why = format!(
                "one of the {} newest of {} (keep_images)",
                s.keep_images, s.name
            );
            (i.id.clone(), why)
        })
        .collect()
}

/// Unused images go, unless a rule keeps them or they are the parent of
/// an image that stays (Docker would only untag those).
fn images(
    host: &str,
    facts: &Facts,
    services: &[ServiceSpec],
    staying: &[&ContainerFact],
    wanted: &dyn Fn(&BTreeMap<String, String>) -> bool,
    out: &mut HostPlan,
) {
    let used: BTreeSet<&str> = staying.iter().map(|c| c.image_id.as_str()).collect();
    let mut keep = protected(host, facts, services, staying);
    let candidates: Vec<&ImageFact> = facts
        .images
        .iter()
        .filter(|i| wanted(&i.labels) && !used.contains(i.id.as_str()))
        .collect();
    // Ancestors of every image that stays stay too.
    let parents: BTreeMap<&str, &str> = facts
        .images
        .iter()
        .map(|i| (i.id.as_str(), i.parent.as_str()))
        .collect();
    let going = |id: &str, keep: &BTreeMap<String, String>| {
        candidates.iter().any(|c| c.id == id) && !keep.contains_key(id)
    };
    for image in &facts.images {
        if going(&image.id, &keep) {
            continue;
        }
        let mut at = parents.get(image.id.as_str()).copied().unwrap_or("");
        while !at.is_empty() {
            if going(at, &keep) {
                keep.insert(at.to_owned(), format!("the parent of {}", label_of(image)));
            }
            at = parents.get(at).copied().unwrap_or("");
        }
    }
    for image in candidates {
        let item = |why: String| Item {
            kind: Kind::Image,
            id: image.id.clone(),
            name: label_of(image),
            tags: image.tags.clone(),
            bytes: Some(image.size),
            why,
        };
        match keep.get(&image.id) {
            Some(why) => out.keep.push(item(why.clone())),
            None => out
                .remove
                .push(item(image_reason(image, &facts.containers, staying))),
        }
    }
}

fn image_reason(image: &ImageFact, all: &[ContainerFact], staying: &[&ContainerFact]) -> String {
    let freed = all
        .iter()
        .find(|c| c.image_id == image.id && !staying.iter().any(|s| s.id == c.id));
    match freed {
        Some(c) => format!("used only by {}, which goes", c.name),
        None if image.tags.is_empty() => "dangling".to_owned(),
        None => "unused".to_owned(),
    }
}

/// Unused anonymous volumes go; named ones are kept (they hold data by name).
fn volumes(
    facts: &Facts,
    staying: &[&ContainerFact],
    wanted: &dyn Fn(&BTreeMap<String, String>) -> bool,
    out: &mut HostPlan,
) {
    for v in facts.volumes.iter().filter(|v| wanted(&v.labels)) {
        let user = staying.iter().find(|c| c.volumes.contains(&v.name));
        let anonymous = v.labels.contains_key(ANONYMOUS_VOLUME_LABEL) || hex64(&v.name);
        let keep = match user {
            Some(c) => Some(format!("in use by {}", c.name)),
            None if !anonymous => Some("a named volume (only anonymous ones are pruned)".into()),
            None => None,
        };
        let item = |why: String| Item {
            kind: Kind::Volume,
            id: v.name.clone(),
            name: v.name.clone(),
            tags: Vec::new(),
            bytes: v.size,
            why,
        };
        match keep {
            Some(why) => out.keep.push(item(why)),
            None => out.remove.push(item("unused anonymous volume".to_owned())),
        }
    }
}

/// Docker's generated volume names: 64 hex digits.
fn hex64(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The image id of a reference (`app` means `app:latest`), if a tag names it.
fn resolve(images: &[ImageFact], reference: &str) -> Option<String> {
    let wanted = crate::ops::deploy::image::normalize(reference);
    images
        .iter()
        .find(|i| i.id == reference || i.tags.contains(&wanted))
        .map(|i| i.id.clone())
}

/// `registry:5000/app:v1` → `registry:5000/app`.
fn repository(reference: &str) -> &str {
    let reference = reference.split('@').next().unwrap_or(reference);
    let name_start = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[name_start..].rfind(':') {
        Some(colon) => &reference[..name_start + colon],
        None => reference,
    }
}

/// An image's tags, or its short id when it has none.
fn label_of(image: &ImageFact) -> String {
    if image.tags.is_empty() {
        crate::human::short_id(&image.id)
    } else {
        image.tags.join(", ")
    }
}

#[cfg(test)]
mod tests;
