use super::super::parse;
use crate::config::alerts::{Check, Level, WebhookFormat, Window};
use std::path::Path;

const HOSTS: &str = "[[host]]\nname = \"a\"\naddress = \"a\"\n[service.web]\nhosts = [\"a\"]\ncontainer = \"web\"\n";

fn err(extra: &str) -> String {
    parse(&format!("{HOSTS}{extra}"), Path::new("/c.toml"))
        .expect_err("invalid")
        .to_string()
}

#[test]
fn webhooks_rules_and_windows_are_read() {
    let text = format!(
        "{HOSTS}[alerts]\nvitals_every = \"30s\"\n\
         [[alerts.webhook]]\nurl = \"https://hooks.slack.com/services/T/B/X\"\n\
         [[alerts.webhook]]\nurl = \"https://ntfy.sh/ops\"\nmin_severity = \"critical\"\n\
         [[alerts.rule]]\nname = \"fatal\"\nlog = \"re:FATAL|panic\"\nservice = \"web\"\n\
         [[alerts.rule]]\nname = \"disk\"\ndisk_percent = 80\nseverity = \"medium\"\n\
         [[alerts.maintenance]]\nhosts = [\"a\"]\nevery = \"sat,sun 02:00-04:00\"\n"
    );
    let a = parse(&text, Path::new("/c.toml")).expect("valid").alerts;
    assert_eq!(a.vitals_every, std::time::Duration::from_secs(30));
    assert_eq!(a.webhooks[0].format, WebhookFormat::Slack);
    assert_eq!(
        (a.webhooks[1].format, a.webhooks[1].min_severity),
        (WebhookFormat::Ntfy, Level::Critical)
    );
    assert!(matches!(&a.rules[0].check, Check::Log { count: 1, .. }));
    assert_eq!(a.rules[0].severity, Level::High);
    assert_eq!(a.rules[1].check, Check::DiskPercent(80.0));
    assert!(matches!(
        a.maintenance[0].when,
        Window::Weekly {
            start: 120,
            length: 120,
            ..
        }
    ));
}

#[test]
fn bad_alerts_are_named_with_their_position() {
    let e = err("[[alerts.webhook]]\nurl = \"ftp://x/y\"\n");
    assert!(
        e.starts_with("/c.toml:8:7:") && e.contains("https:// or http://"),
        "{e}"
    );
    let e = err("[[alerts.rule]]\nname = \"x\"\nlog = \"re:(\"\n");
    assert!(
        e.starts_with("/c.toml:9:7:") && e.contains("invalid regex"),
        "{e}"
    );
    let e = err("[[alerts.rule]]\nname = \"x\"\nlog = \"a\"\nrestarts = 2\n");
    assert!(e.contains("exactly one of"), "{e}");
    let e = err("[[alerts.rule]]\nname = \"x\"\nlog = \"a\"\nservice = \"nope\"\n");
    assert!(
        e.starts_with("/c.toml:10:11:") && e.contains("not a [service.NAME]"),
        "{e}"
    );
    let e = err("[[alerts.rule]]\nname = \"x\"\ndisk_percent = 120\n");
    assert!(e.contains("at most 100"), "{e}");
    let e = err("[[alerts.maintenance]]\nevery = \"someday 02:00-04:00\"\n");
    assert!(
        e.starts_with("/c.toml:8:9:") && e.contains("not a day"),
        "{e}"
    );
}

#[test]
fn a_second_rule_of_the_same_name_is_pointed_at() {
    let e = err(
        "[[alerts.rule]]\nname = \"x\"\nlog = \"a\"\n[[alerts.rule]]\nname = \"x\"\nlog = \"b\"\n",
    );
    assert!(
        e.starts_with("/c.toml:10:"),
        "the second table, not 0:0: {e}"
    );
    assert!(e.contains("two alerts rules are named \"x\""), "{e}");
}
