use super::*;
use crate::fleet::fixtures::web_service;

const ALL: Kinds = Kinds {
    containers: true,
    images: true,
    volumes: true,
};

fn container(name: &str, image_id: &str, state: &str) -> ContainerFact {
    ContainerFact {
        id: format!("c-{name}"),
        name: name.into(),
        image: format!("ref-of-{image_id}"),
        image_id: image_id.into(),
        state: state.into(),
        size: Some(10),
        ..Default::default()
    }
}

fn image(id: &str, tags: &[&str], created: i64) -> ImageFact {
    ImageFact {
        id: id.into(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        created,
        size: 1000,
        ..Default::default()
    }
}

fn volume(name: &str) -> super::super::VolumeFact {
    super::super::VolumeFact {
        name: name.into(),
        size: Some(5),
        ..Default::default()
    }
}

fn ids(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.id.as_str()).collect()
}

fn why<'a>(p: &'a HostPlan, id: &str) -> &'a str {
    p.keep
        .iter()
        .find(|i| i.id == id)
        .map_or("(not kept)", |i| i.why.as_str())
}

/// shop-web-1 runs app:v2 after a deploy from app:v1.
fn deployed() -> Facts {
    let mut web = container("shop-web-1", "img-v2", "running");
    web.image = "shop/app:v2".into();
    web.labels
        .insert(LABEL_PREVIOUS_IMAGE.into(), "shop/app:v1".into());
    Facts {
        containers: vec![web],
        images: vec![
            image("img-v0", &["shop/app:v0"], 1),
            image("img-v1", &["shop/app:v1"], 2),
            image("img-v2", &["shop/app:v2"], 3),
        ],
        volumes: Vec::new(),
    }
}

#[test]
fn the_rollback_image_is_kept_and_older_ones_go() {
    let p = plan("fleet-1", &deployed(), &[web_service()], ALL, None);
    assert_eq!(ids(&p.remove), ["img-v0"]);
    assert!(why(&p, "img-v1").contains("rollback"), "{p:?}");
    // The running one is simply in use: not a candidate at all.
    assert!(!ids(&p.keep).contains(&"img-v2"));
    // Without the service in the config, the label alone still keeps v1.
    let p = plan("fleet-1", &deployed(), &[], ALL, None);
    assert_eq!(ids(&p.remove), ["img-v0"]);
    // And the label's image id keeps it even when its tag moved on.
    let mut f = deployed();
    f.images[1].tags.clear();
    f.containers[0]
        .labels
        .insert(LABEL_PREVIOUS_IMAGE_ID.into(), "img-v1".into());
    assert_eq!(ids(&plan("fleet-1", &f, &[], ALL, None).remove), ["img-v0"]);
}

#[test]
fn keep_images_keeps_the_newest_of_the_services_repository() {
    let mut f = deployed();
    f.containers[0].labels.clear();
    f.images.push(image("img-other", &["other/app:1"], 9));
    let mut web = web_service();
    web.keep_images = 2;
    let p = plan("fleet-1", &f, &[web.clone()], ALL, None);
    // v2 (running) and v1 are the two newest of shop/app; v0 and other go.
    assert_eq!(ids(&p.remove), ["img-v0", "img-other"]);
    assert!(why(&p, "img-v1").contains("keep_images"), "{p:?}");
    web.keep_images = 3;
    let p = plan("fleet-1", &f, &[web.clone()], ALL, None);
    assert_eq!(ids(&p.remove), ["img-other"]);
    // Only on the service's hosts.
    web.hosts = vec!["fleet-2".into()];
    let p = plan("fleet-1", &f, &[web], ALL, None);
    assert_eq!(ids(&p.remove), ["img-v0", "img-v1", "img-other"]);
}

#[test]
fn deploy_containers_and_locks_are_never_removed() {
    let mut lock = container("flotilla-lock-web", "img-v2", "created");
    lock.labels
        .insert(crate::fleet::DEPLOY_LOCK_LABEL.into(), "web".into());
    lock.labels
        .insert(LOCK_IMAGE_LABEL.into(), "shop/app:v0".into());
    let mut f = deployed();
    f.containers.extend([
        container("shop-web-1-flotilla-old", "img-v1", "exited"),
        container("api-flotilla-new", "img-v1", "created"),
        lock,
        container("stray", "img-v1", "exited"),
    ]);
    let p = plan("fleet-1", &f, &[web_service()], ALL, None);
    assert_eq!(ids(&p.remove), ["c-stray"]);
    assert!(why(&p, "c-shop-web-1-flotilla-old").contains("set aside by a deploy"));
    assert!(why(&p, "c-api-flotilla-new").contains("start-first"));
    assert!(why(&p, "c-flotilla-lock-web").contains("deploy lock of web"));
    // The lock's image (the one being rolled out) stays too.
    assert!(why(&p, "img-v0").contains("being deployed"), "{p:?}");
}

#[test]
fn a_stopped_service_container_is_kept() {
    let mut f = deployed();
    f.containers[0].state = "exited".into();
    let p = plan("fleet-1", &f, &[web_service()], ALL, None);
    assert!(p.remove.iter().all(|i| i.kind == Kind::Image));
    assert!(why(&p, "c-shop-web-1").contains("service web"));
    // Its image stays with it.
    assert!(!ids(&p.remove).contains(&"img-v2"));
}

#[test]
fn a_stopped_containers_image_is_freed_only_when_the_container_goes() {
    let mut f = deployed();
    f.images.push(image("img-x", &["x:1"], 5));
    f.containers.push(container("stray", "img-x", "exited"));
    let p = plan("fleet-1", &f, &[web_service()], ALL, None);
    assert_eq!(ids(&p.remove), ["c-stray", "img-v0", "img-x"]);
    assert_eq!(p.remove[2].why, "used only by stray, which goes");
    assert_eq!(p.bytes(), 10 + 1000 + 1000);
    let images_only = Kinds {
        containers: false,
        images: true,
        volumes: false,
    };
    let p = plan("fleet-1", &f, &[web_service()], images_only, None);
    assert_eq!(ids(&p.remove), ["img-v0"], "the stray stays, so does x:1");
    // A running or paused container is no candidate.
    f.containers[1].state = "paused".into();
    let p = plan("fleet-1", &f, &[], ALL, None);
    assert_eq!(ids(&p.remove), ["img-v0"]);
}

#[test]
fn parents_of_kept_images_stay() {
    let mut f = deployed();
    f.images.push(image("img-base", &["base:latest"], 0));
    f.images[0].parent = "img-base".into(); // v0 goes: not enough
    let p = plan("fleet-1", &f, &[], ALL, None);
    assert_eq!(ids(&p.remove), ["img-v0", "img-base"]);
    f.images[2].parent = "img-mid".into();
    f.images.push(ImageFact {
        parent: "img-base".into(),
        ..image("img-mid", &[], 0)
    });
    let p = plan("fleet-1", &f, &[], ALL, None);
    assert_eq!(ids(&p.remove), ["img-v0"]);
    assert!(
        why(&p, "img-base").contains("parent of shop/app:v2"),
        "{p:?}"
    );
}

#[test]
fn only_unused_anonymous_volumes_go() {
    let anon = |c: char| std::iter::repeat_n(c, 64).collect::<String>();
    let mut f = deployed();
    f.volumes = vec![
        volume(&anon('a')),
        volume(&anon('b')),
        volume("pgdata"),
        volume(&anon('c')),
    ];
    f.containers[0].volumes = vec![anon('b')];
    let mut gone = container("stray", "img-v2", "exited");
    gone.volumes = vec![anon('c')];
    f.containers.push(gone);
    let mut labelled = volume("compose_x");
    labelled
        .labels
        .insert(ANONYMOUS_VOLUME_LABEL.into(), String::new());
    f.volumes.push(labelled);
    let p = plan("fleet-1", &f, &[], ALL, None);
    let vols: Vec<&str> = p
        .remove
        .iter()
        .filter(|i| i.kind == Kind::Volume)
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(vols, [anon('a'), anon('c'), "compose_x".into()]);
    assert!(why(&p, &anon('b')).contains("in use by shop-web-1"));
    assert!(why(&p, "pgdata").contains("named volume"));
    let no_volumes = Kinds {
        volumes: false,
        ..ALL
    };
    let p = plan("fleet-1", &f, &[], no_volumes, None);
    assert!(p.remove.iter().all(|i| i.kind != Kind::Volume));
}

#[test]
fn a_label_filter_limits_what_is_considered() {
    let mut f = deployed();
    f.images[0].labels.insert("team".into(), "shop".into());
    f.images.push(image("img-y", &["y:1"], 4));
    let filter = LabelFilter::parse("team=shop").expect("filter");
    let p = plan("fleet-1", &f, &[], ALL, Some(&filter));
    assert_eq!(ids(&p.remove), ["img-v0"]);
    let p = plan("fleet-1", &f, &[], ALL, None);
    assert_eq!(ids(&p.remove), ["img-v0", "img-y"]);
    assert!(LabelFilter::parse("=x").is_err());
    assert!(
        LabelFilter::parse("team")
            .expect("key")
            .matches(&f.images[0].labels)
    );
    assert!(!filter.matches(&BTreeMap::new()));
}

#[test]
fn references_and_repositories() {
    assert_eq!(
        repository("registry:5000/shop/app:v1"),
        "registry:5000/shop/app"
    );
    assert_eq!(repository("app"), "app");
    assert_eq!(repository("app@sha256:abc"), "app");
    let images = deployed().images;
    assert_eq!(resolve(&images, "shop/app:v1").as_deref(), Some("img-v1"));
    assert_eq!(resolve(&images, "shop/app").as_deref(), None);
    assert_eq!(
        label_of(&image("sha256:0123456789abcdef", &[], 0)),
        "0123456789ab"
    );
}
