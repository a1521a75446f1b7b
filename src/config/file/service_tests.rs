use super::*;
use crate::config::{Amount, ContainerSelector};
use std::time::Duration;

const HOSTS: &str = "\
[[host]]
name = \"a\"
address = \"a\"
groups = [\"web\"]
[[host]]
name = \"b\"
address = \"b\"
[[host]]
name = \"c\"
address = \"c\"
groups = [\"web\"]
";

fn parse_services(extra: &str) -> Result<Vec<crate::config::ServiceSpec>, String> {
    parse(&format!("{HOSTS}{extra}"), Path::new("/c.toml"))
        .map(|d| d.services)
        .map_err(|e| e.to_string())
}

/// Line numbers below count from the end of HOSTS (11 lines).
fn at(line: usize, col: usize) -> String {
    format!("/c.toml:{}:{col}: ", line + 11)
}

#[test]
fn full_service_is_parsed_in_inventory_order() {
    let services = parse_services(
        "[service.web]\nhosts = [\"c\"]\ngroups = [\"web\"]\ncontainer = \"shop-web-1\"\n\
         health_timeout = \"1m30s\"\nserial = [1, 2, \"50%\"]\nmax_fail = \"10%\"\n\
         pre_deploy = \"migrate\"\nhealth_cmd = \"curl -f localhost\"\nstable_for = \"5s\"\nautoheal = true\n",
    )
    .expect("valid");
    assert_eq!(services.len(), 1);
    let web = &services[0];
    assert_eq!(web.name, "web");
    assert_eq!(web.hosts, ["a", "c"]);
    assert_eq!(web.container, ContainerSelector::Name("shop-web-1".into()));
    assert_eq!(web.health_timeout, Duration::from_secs(90));
    assert_eq!(
        web.serial,
        [Amount::Count(1), Amount::Count(2), Amount::Percent(50)]
    );
    assert_eq!(web.max_fail, Amount::Percent(10));
    assert_eq!(web.pre_deploy.as_deref(), Some("migrate"));
    assert_eq!(web.health_cmd.as_deref(), Some("curl -f localhost"));
    assert_eq!(web.stable_for, Duration::from_secs(5));
    assert!(web.autoheal);
    assert_eq!(web.keep_images, 0, "the default");
    let kept =
        parse_services("[service.web]\nhosts = [\"a\"]\ncontainer = \"w\"\nkeep_images = 3\n")
            .expect("valid");
    assert_eq!(kept[0].keep_images, 3);
}

#[test]
fn a_compose_service_is_found_by_project_and_service() {
    let services = parse_services(
        "[service.web]\nhosts = [\"a\"]\ncompose = { project = \"shop\", service = \"web\" }\n",
    )
    .expect("valid");
    let web = &services[0];
    assert_eq!(
        web.container,
        ContainerSelector::Compose {
            project: "shop".into(),
            service: "web".into()
        }
    );
    assert_eq!(web.container.to_string(), "compose shop/web");
    let mut labels = std::collections::BTreeMap::new();
    for (k, v) in [
        ("com.docker.compose.project", "shop"),
        ("com.docker.compose.service", "web"),
    ] {
        labels.insert(k.to_owned(), v.to_owned());
    }
    let owns = |host: &str, labels: &std::collections::BTreeMap<String, String>| {
        web.owns(host, "shop-web-1", |k| labels.get(k).map(String::as_str))
    };
    assert!(owns("a", &labels));
    assert!(!owns("b", &labels), "not one of its hosts");
    labels.insert("com.docker.compose.project".into(), "other".into());
    assert!(
        !owns("a", &labels),
        "the same service name in another project"
    );
}

#[test]
fn defaults_and_label_match() {
    let services = parse_services(
        "[service.api]\nhosts = [\"b\"]\nmatch = { label = \"com.docker.compose.service=api\" }\n",
    )
    .expect("valid");
    let api = &services[0];
    assert_eq!(
        api.container,
        ContainerSelector::Label {
            key: "com.docker.compose.service".into(),
            value: Some("api".into())
        }
    );
    assert_eq!(api.serial, [Amount::Count(1)]);
    assert_eq!(api.max_fail, Amount::Count(0));
    assert_eq!(api.health_timeout, Duration::from_secs(60));
    assert_eq!(api.pre_deploy, None);
    let single =
        parse_services("[service.x]\nhosts = [\"a\"]\ncontainer = \"x\"\nserial = \"25%\"\n")
            .expect("valid");
    assert_eq!(single[0].serial, [Amount::Percent(25)]);
}

#[test]
fn service_errors_are_positioned() {
    let cases = [
        (
            "[service.web]\nhosts = [\"a\", \"zz\"]\ncontainer = \"w\"\n",
            at(2, 15),
            "service \"web\": no host named \"zz\" (known: a, b, c)",
        ),
        (
            "[service.web]\ngroups = [\"nope\"]\ncontainer = \"w\"\n",
            at(2, 11),
            "service \"web\": no host is in group \"nope\"",
        ),
        (
            "[service.web]\ncontainer = \"w\"\n",
            at(1, 1),
            "service \"web\" needs `hosts` or `groups`",
        ),
        (
            "[service.web]\nhosts = [\"a\"]\n",
            at(1, 1),
            "service \"web\" needs `container = \"NAME\"`",
        ),
        (
            "[service.web]\nhosts = [\"a\"]\ncontainer = \"w\"\nmatch = { label = \"x\" }\n",
            at(4, 9),
            "use one of `container`, `match` and `compose`, not several",
        ),
        (
            "[service.web]\nhosts = [\"a\"]\nmatch = { label = \"x\" }\ncompose = { project = \"shop\", service = \"web\" }\n",
            at(4, 11),
            "use one of `container`, `match` and `compose`, not several",
        ),
        (
            "[service.web]\nhosts = [\"a\"]\ncompose = { project = \"Shop\", service = \"web\" }\n",
            at(3, 23),
            "\"Shop\" is not a Compose project name",
        ),
        (
            "[service.web]\nhosts = [\"a\"]\ncompose = { project = \"shop\", service = \"w b\" }\n",
            at(3, 41),
            "\"w b\" is not a Compose service name",
        ),
        (
            "[service.web]\nhosts = [\"a\"]\ncompose = { project = \"shop\" }\n",
            at(3, 11),
            "missing field `service`",
        ),
        (
            "[service.web]\nhosts = [\"a\"]\ncontainer = \"w\"\nhealth_timeout = \"soon\"\n",
            at(4, 18),
            "\"soon\" is not a duration",
        ),
        (
            "[service.web]\nhosts = [\"a\"]\ncontainer = \"w\"\nserial = [1, 0]\n",
            at(4, 10),
            "0 must be at least 1",
        ),
        (
            "[service.web]\nhosts = [\"a\"]\ncontainer = \"w\"\nserial = [\"half\"]\n",
            at(4, 10),
            "expected a host count or a percentage",
        ),
        (
            "[service.web]\nhosts = [\"a\"]\ncontainer = \"w\"\nmax_fail = \"200%\"\n",
            at(4, 12),
            "not a percentage",
        ),
        (
            "[service.web]\nhosts = [\"a\"]\ncontainer = \"w\"\npre_deploy = \" \"\n",
            at(4, 14),
            "pre_deploy must not be empty",
        ),
        (
            "[service.web]\nhosts = [\"a\"]\ncontainer = \"w\"\nhealth_timout = \"1s\"\n",
            at(4, 1),
            "unknown field `health_timout`",
        ),
        (
            "[service.web]\nhosts = [\"a\"]\ncontainer = \"w\"\nkeep_images = -1\n",
            at(4, 15),
            "keep_images must be 0 or more, not -1",
        ),
        (
            "[service.web]\nhosts = [\"a\"]\ncontainer = \"w\"\nkeep_images = \"2\"\n",
            at(4, 15),
            "invalid type",
        ),
        (
            "[service.\"a b\"]\nhosts = [\"a\"]\ncontainer = \"w\"\n",
            at(1, 1),
            "service name \"a b\" may only contain",
        ),
    ];
    for (text, prefix, message) in cases {
        let e = parse_services(text).expect_err(text);
        assert!(
            e.starts_with(&prefix) && e.contains(message),
            "{text:?}\n  got:  {e}\n  want: {prefix}…{message}…"
        );
    }
}
