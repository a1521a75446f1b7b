use super::*;

use serde_json::json;

const DISCORD: &str = "https://discord.com/api/webhooks/123/tok";

fn at(s: &str) -> jiff::Timestamp {
    s.parse().expect("time")
}

/// An alert as `watch` would build it for a log rule on shop-web-1.
fn alert(event: Event, severity: Severity) -> Alert {
    let opened = at("2026-12-05T20:00:00Z");
    Alert {
        event,
        severity,
        key: "rule/fleet-1/shop-web-1#fatal".into(),
        title: "shop-web-1 logged FATAL on fleet-1".into(),
        text: ":red_circle: shop-web-1 logged FATAL on fleet-1 — flotilla logs shop-web-1".into(),
        evidence: vec!["FATAL boom".into(), "panic: oh no".into()],
        next: Some("flotilla logs shop-web-1 --host fleet-1 --grep 'FATAL'".into()),
        host: "fleet-1".into(),
        container: Some("shop-web-1".into()),
        service: Some("web".into()),
        opened: (event == Event::Resolved).then_some(opened),
        at: at("2026-12-05T20:05:00Z"),
        finding: json!({
            "severity": "high",
            "kind": "rule",
            "host": "fleet-1",
            "container": "shop-web-1",
            "service": "web",
            "summary": "log rule \"fatal\": at least 2 lines",
            "rule": "fatal",
        }),
    }
}

fn new_alert() -> Alert {
    alert(Event::New, Severity::Critical)
}

/// The one request `format` makes, its body parsed.
fn only(format: WebhookFormat, url: &str, a: &Alert) -> (Outgoing, Value) {
    let reqs = requests(format, url, a, None);
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let out = reqs.into_iter().next().expect("one request");
    let body = serde_json::from_str(&out.body).expect("body is JSON");
    (out, body)
}

fn body(out: &Outgoing) -> Value {
    serde_json::from_str(&out.body).expect("body is JSON")
}

fn is_hex_colour(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit())
}

fn long_evidence() -> Vec<String> {
    // Multi-byte characters so a cut off a char boundary would panic.
    (0..60)
        .map(|i| format!("{i:02} é {}", "x".repeat(290)))
        .collect()
}

// ---------------------------------------------------------------- Slack

#[test]
fn slack_has_text_and_one_coloured_attachment_with_blocks() {
    let a = new_alert();
    let url = "https://hooks.slack.com/services/T/B/X";
    let (out, b) = only(WebhookFormat::Slack, url, &a);
    assert_eq!(out.method, Method::Post);
    assert_eq!(out.url, url);
    assert!(!out.keep_id);

    assert_eq!(b["text"], a.text.as_str());
    let attachments = b["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 1);
    let colour = attachments[0]["color"].as_str().expect("color");
    assert!(is_hex_colour(colour), "{colour}");
    assert_eq!(colour, "#B71C1C", "critical is deep red");

    let blocks = attachments[0]["blocks"].as_array().expect("blocks");
    assert_eq!(blocks.len(), 3, "{blocks:#?}");

    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    let headline = blocks[0]["text"]["text"].as_str().expect("headline");
    assert_eq!(headline, "*CRITICAL: shop-web-1 logged FATAL on fleet-1*");

    assert_eq!(blocks[1]["type"], "section");
    assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
    let evidence = blocks[1]["text"]["text"].as_str().expect("evidence");
    assert_eq!(evidence, "```\nFATAL boom\npanic: oh no\n```");

    assert_eq!(blocks[2]["type"], "context");
    let elements = blocks[2]["elements"].as_array().expect("elements");
    assert_eq!(elements.len(), 1);
    assert_eq!(elements[0]["type"], "mrkdwn");
    let context = elements[0]["text"].as_str().expect("context");
    assert!(
        context.starts_with("next: `flotilla logs shop-web-1 --host fleet-1 --grep 'FATAL'`"),
        "{context}"
    );
    assert!(context.contains("host fleet-1"), "{context}");
    assert!(context.contains("service web"), "{context}");
}

#[test]
fn slack_colours_by_severity_and_green_when_resolved() {
    let cases = [
        (Event::New, Severity::Critical, "#B71C1C"),
        (Event::New, Severity::High, "#E53935"),
        (Event::New, Severity::Medium, "#FB8C00"),
        (Event::New, Severity::Low, "#FDD835"),
        (Event::Resolved, Severity::Critical, "#2E7D32"),
    ];
    for (event, severity, want) in cases {
        let (_, b) = only(WebhookFormat::Slack, "https://x", &alert(event, severity));
        assert_eq!(b["attachments"][0]["color"], want, "{event} {severity:?}");
    }
}

#[test]
fn slack_resolved_headline_and_context_point_back_at_the_opening() {
    let a = alert(Event::Resolved, Severity::High);
    let (_, b) = only(WebhookFormat::Slack, "https://x", &a);
    let blocks = b["attachments"][0]["blocks"].as_array().expect("blocks");
    assert_eq!(
        blocks[0]["text"]["text"],
        "*Resolved: shop-web-1 logged FATAL on fleet-1*"
    );
    let context = blocks
        .last()
        .and_then(|c| c["elements"][0]["text"].as_str())
        .expect("context");
    assert!(
        context.contains("alerted 2026-12-05 20:00 UTC, lasted 5m"),
        "{context}"
    );
}

#[test]
fn slack_without_evidence_or_next_has_headline_and_context_only() {
    let mut a = new_alert();
    a.evidence.clear();
    a.next = None;
    let (_, b) = only(WebhookFormat::Slack, "https://x", &a);
    let blocks = b["attachments"][0]["blocks"].as_array().expect("blocks");
    let types: Vec<&str> = blocks.iter().filter_map(|b| b["type"].as_str()).collect();
    assert_eq!(types, ["section", "context"]);
    let context = blocks[1]["elements"][0]["text"].as_str().expect("context");
    assert!(!context.contains("next:"), "{context}");
    assert!(context.starts_with("host fleet-1"), "{context}");
}

#[test]
fn slack_escapes_angle_brackets_and_ampersands_everywhere() {
    assert_eq!(slack_escape("a<b>&c"), "a&lt;b&gt;&amp;c");
    assert_eq!(slack_escape("&lt;"), "&amp;lt;", "escaping is not undone");

    let mut a = new_alert();
    a.title = "<!channel> rock & roll <b>".into();
    a.evidence = vec!["<script>alert(1)</script> & more".into()];
    a.next = Some("grep '<x>' && true".into());
    let (_, b) = only(WebhookFormat::Slack, "https://x", &a);
    let blocks = b["attachments"][0]["blocks"].as_array().expect("blocks");
    let texts: Vec<&str> = [
        &blocks[0]["text"]["text"],
        &blocks[1]["text"]["text"],
        &blocks[2]["elements"][0]["text"],
    ]
    .iter()
    .filter_map(|v| v.as_str())
    .collect();
    assert_eq!(texts.len(), 3);
    for t in &texts {
        assert!(!t.contains('<') && !t.contains('>'), "unescaped: {t}");
        assert!(!t.contains("& "), "bare ampersand: {t}");
    }
    assert_eq!(
        texts[0],
        "*CRITICAL: &lt;!channel&gt; rock &amp; roll &lt;b&gt;*"
    );
    assert!(
        texts[1].contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"),
        "{}",
        texts[1]
    );
    assert!(
        texts[2].contains("grep '&lt;x&gt;' &amp;&amp; true"),
        "{}",
        texts[2]
    );
}

#[test]
fn a_fence_in_the_evidence_cannot_end_the_code_block() {
    let mut a = new_alert();
    a.evidence = vec!["before ``` after".into()];
    let (_, b) = only(WebhookFormat::Slack, "https://x", &a);
    let evidence = b["attachments"][0]["blocks"][1]["text"]["text"]
        .as_str()
        .expect("evidence");
    assert_eq!(evidence.matches("```").count(), 2, "{evidence}");
    assert!(evidence.contains("before ''' after"), "{evidence}");
}

/// Slack rejects a whole message (`invalid_blocks`) whose section text is
/// over 3000 characters; format.rs cuts nothing for Slack. Ten lines of 300
/// bytes is what build.rs (EVIDENCE_MAX) and rules.rs (EVIDENCE_BYTES) let
/// through, and escaping only makes it longer.
#[test]
fn slack_long_evidence_stays_within_the_section_limit() {
    let mut a = new_alert();
    a.evidence = (0..10)
        .map(|i| format!("{i} {}", "x".repeat(298)))
        .collect();
    let (_, b) = only(WebhookFormat::Slack, "https://x", &a);
    let blocks = b["attachments"][0]["blocks"].as_array().expect("blocks");
    for block in blocks {
        if let Some(t) = block["text"]["text"].as_str() {
            assert!(t.chars().count() <= 3000, "{} chars", t.chars().count());
        }
    }
}

// -------------------------------------------------------------- Discord

#[test]
fn discord_posts_with_wait_true_with_and_without_a_query() {
    let a = new_alert();
    let (out, _) = only(WebhookFormat::Discord, DISCORD, &a);
    assert_eq!(out.method, Method::Post);
    assert_eq!(out.url, format!("{DISCORD}?wait=true"));
    assert!(out.keep_id, "a new alert keeps the message id");

    let thread = format!("{DISCORD}?thread_id=42");
    let (out, _) = only(WebhookFormat::Discord, &thread, &a);
    assert_eq!(out.url, format!("{DISCORD}?thread_id=42&wait=true"));

    let (out, _) = only(WebhookFormat::Discord, &format!("{DISCORD}?"), &a);
    assert_eq!(out.url, format!("{DISCORD}?wait=true"));
}

#[test]
fn discord_embed_has_title_colour_fields_timestamp_and_no_mentions() {
    let a = alert(Event::New, Severity::High);
    let (_, b) = only(WebhookFormat::Discord, DISCORD, &a);
    assert_eq!(b["username"], "flotilla");
    assert_eq!(b["allowed_mentions"]["parse"], json!([]));

    let embeds = b["embeds"].as_array().expect("embeds");
    assert_eq!(embeds.len(), 1);
    let e = &embeds[0];
    assert_eq!(e["title"], "HIGH: shop-web-1 logged FATAL on fleet-1");
    assert_eq!(e["color"], 0xE53935);
    assert_eq!(e["description"], "```\nFATAL boom\npanic: oh no\n```");
    let ts: jiff::Timestamp = e["timestamp"]
        .as_str()
        .expect("timestamp")
        .parse()
        .expect("ISO 8601 timestamp");
    assert_eq!(ts, a.at);

    let fields = e["fields"].as_array().expect("fields");
    let field = |name: &str| {
        fields
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no field {name}: {fields:?}"))
    };
    assert_eq!(
        field("Next")["value"],
        "`flotilla logs shop-web-1 --host fleet-1 --grep 'FATAL'`"
    );
    assert_eq!(field("Host")["value"], "fleet-1");
    assert_eq!(field("Host")["inline"], true);
    assert_eq!(field("Container")["value"], "shop-web-1");
    let footer = e["footer"]["text"].as_str().expect("footer");
    assert!(footer.contains("host fleet-1"), "{footer}");
}

#[test]
fn discord_resolve_edits_the_opening_message_then_posts() {
    let a = alert(Event::Resolved, Severity::Critical);
    let reqs = requests(WebhookFormat::Discord, DISCORD, &a, Some("998877"));
    assert_eq!(reqs.len(), 2, "{reqs:?}");

    let patch = &reqs[0];
    assert_eq!(patch.method, Method::Patch);
    assert_eq!(patch.url, format!("{DISCORD}/messages/998877"));
    assert!(!patch.keep_id);
    let pb = body(patch);
    let e = &pb["embeds"][0];
    assert_eq!(e["color"], 0x2E7D32, "the opening turns green");
    assert_eq!(e["title"], "Resolved: shop-web-1 logged FATAL on fleet-1");

    let post = &reqs[1];
    assert_eq!(post.method, Method::Post);
    assert_eq!(post.url, format!("{DISCORD}?wait=true"));
    assert!(!post.keep_id, "only the opening message is edited later");
    let b = body(post);
    assert_eq!(b["embeds"][0]["color"], 0x2E7D32);
    assert_eq!(b["allowed_mentions"]["parse"], json!([]));
}

#[test]
fn discord_resolve_keeps_the_query_and_drops_a_trailing_slash() {
    let a = alert(Event::Resolved, Severity::Low);
    let url = format!("{DISCORD}?thread_id=42");
    let reqs = requests(WebhookFormat::Discord, &url, &a, Some("7"));
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, Method::Patch);
    assert_eq!(reqs[0].url, format!("{DISCORD}/messages/7?thread_id=42"));
    assert_eq!(reqs[1].url, format!("{DISCORD}?thread_id=42&wait=true"));

    let reqs = requests(
        WebhookFormat::Discord,
        &format!("{DISCORD}/"),
        &a,
        Some("7"),
    );
    assert_eq!(reqs[0].url, format!("{DISCORD}/messages/7"));
}

#[test]
fn discord_without_reference_or_not_resolved_makes_one_post() {
    let resolved = alert(Event::Resolved, Severity::High);
    let reqs = requests(WebhookFormat::Discord, DISCORD, &resolved, None);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, Method::Post);

    // A reference only matters for a resolve.
    let reqs = requests(WebhookFormat::Discord, DISCORD, &new_alert(), Some("1"));
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, Method::Post);
    assert!(reqs[0].keep_id);

    let heal = alert(Event::Autoheal, Severity::Medium);
    let reqs = requests(WebhookFormat::Discord, DISCORD, &heal, Some("1"));
    assert_eq!(reqs.len(), 1);
    assert!(!reqs[0].keep_id);
}

#[test]
fn discord_long_evidence_and_title_are_cut_to_the_limits() {
    let mut a = new_alert();
    a.evidence = long_evidence();
    a.title = "é".repeat(1000);
    a.container = Some("c".repeat(2000));
    let (_, b) = only(WebhookFormat::Discord, DISCORD, &a);
    let e = &b["embeds"][0];
    let description = e["description"].as_str().expect("description");
    assert!(
        description.chars().count() <= 4096,
        "{}",
        description.chars().count()
    );
    assert!(description.starts_with("```\n00 é "), "{description:.40}");
    assert!(
        description.ends_with("...\n```"),
        "marked as cut, fence kept"
    );
    let title = e["title"].as_str().expect("title");
    assert!(title.chars().count() <= 256, "{}", title.chars().count());
    assert!(title.starts_with("CRITICAL: é"), "{title}");
    assert!(title.ends_with("..."), "{title}");
    for f in e["fields"].as_array().expect("fields") {
        let v = f["value"].as_str().expect("value");
        assert!(v.chars().count() <= 1024, "{}", v.chars().count());
    }
}

/// A description cut inside the fence leaves the code block unclosed, so
/// Discord renders the rest of the evidence as markdown.
#[test]
fn discord_long_evidence_keeps_the_code_block_closed() {
    let mut a = new_alert();
    // Ten long lines (a host's connection error, say): over 4000 bytes.
    a.evidence = (0..10)
        .map(|i| format!("{i} {}", "y".repeat(500)))
        .collect();
    let (_, b) = only(WebhookFormat::Discord, DISCORD, &a);
    let description = b["embeds"][0]["description"].as_str().expect("description");
    assert!(description.starts_with("```\n"));
    assert!(
        description.ends_with("\n```"),
        "{}",
        &description[description.len() - 20..]
    );
}

// ----------------------------------------------------------------- ntfy

#[test]
fn ntfy_posts_to_the_server_root_with_the_topic_inside() {
    let a = new_alert();
    let (out, b) = only(WebhookFormat::Ntfy, "https://ntfy.sh/ops-alerts", &a);
    assert_eq!(out.method, Method::Post);
    assert_eq!(out.url, "https://ntfy.sh/");
    assert!(!out.keep_id);
    assert_eq!(b["topic"], "ops-alerts");
    assert_eq!(b["priority"], 5);
    assert_eq!(b["tags"], json!(["rotating_light", "flotilla"]));
    assert_eq!(b["title"], "CRITICAL: shop-web-1 logged FATAL on fleet-1");
    let message = b["message"].as_str().expect("message");
    assert!(
        message.starts_with("FATAL boom\npanic: oh no\nnext: flotilla logs shop-web-1"),
        "{message}"
    );
    assert!(message.contains("host fleet-1"), "{message}");
}

#[test]
fn ntfy_self_hosted_on_a_subpath_keeps_the_subpath() {
    let a = new_alert();
    let (out, b) = only(WebhookFormat::Ntfy, "https://x.example/ntfy/topic", &a);
    assert_eq!(out.url, "https://x.example/ntfy/");
    assert_eq!(b["topic"], "topic");

    let (out, b) = only(WebhookFormat::Ntfy, "https://x.example/ntfy/topic/", &a);
    assert_eq!(out.url, "https://x.example/ntfy/");
    assert_eq!(b["topic"], "topic");

    let (out, b) = only(WebhookFormat::Ntfy, "http://127.0.0.1:8080/alerts", &a);
    assert_eq!(out.url, "http://127.0.0.1:8080/");
    assert_eq!(b["topic"], "alerts");
}

#[test]
fn ntfy_priority_and_tags_follow_event_and_severity() {
    let cases = [
        (Event::New, Severity::Critical, 5, "rotating_light"),
        (Event::New, Severity::High, 4, "red_circle"),
        (Event::New, Severity::Medium, 3, "warning"),
        (Event::New, Severity::Low, 2, "information_source"),
        (Event::Resolved, Severity::Critical, 2, "white_check_mark"),
        (Event::Autoheal, Severity::Critical, 3, "adhesive_bandage"),
    ];
    for (event, severity, priority, tag) in cases {
        let a = alert(event, severity);
        let (_, b) = only(WebhookFormat::Ntfy, "https://ntfy.sh/t", &a);
        assert_eq!(b["priority"], priority, "{event} {severity:?}");
        assert_eq!(b["tags"], json!([tag, "flotilla"]), "{event} {severity:?}");
    }
}

#[test]
fn ntfy_without_evidence_has_no_leading_blank_line() {
    let mut a = new_alert();
    a.evidence.clear();
    a.next = None;
    let (_, b) = only(WebhookFormat::Ntfy, "https://ntfy.sh/t", &a);
    let message = b["message"].as_str().expect("message");
    assert!(message.starts_with("host fleet-1"), "{message:?}");
}

#[test]
fn ntfy_long_title_and_message_are_cut() {
    let mut a = new_alert();
    a.evidence = long_evidence();
    a.title = "é".repeat(1000);
    let (_, b) = only(WebhookFormat::Ntfy, "https://ntfy.sh/t", &a);
    let title = b["title"].as_str().expect("title");
    assert!(title.len() <= 250, "{}", title.len());
    let message = b["message"].as_str().expect("message");
    assert!(message.len() <= 4096, "{}", message.len());
    assert!(message.ends_with("..."));
}

// ---------------------------------------------------------------- Teams

#[test]
fn teams_is_a_message_with_an_adaptive_card() {
    let a = alert(Event::New, Severity::High);
    let url = "https://prod-01.westeurope.logic.azure.com/workflows/abc";
    let (out, b) = only(WebhookFormat::Teams, url, &a);
    assert_eq!(out.method, Method::Post);
    assert_eq!(out.url, url);
    assert_eq!(b["type"], "message");
    let attachments = b["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 1);
    assert_eq!(
        attachments[0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachments[0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );

    let body = card["body"].as_array().expect("body");
    assert_eq!(body[0]["type"], "TextBlock");
    assert_eq!(body[0]["text"], "HIGH: shop-web-1 logged FATAL on fleet-1");
    assert_eq!(body[0]["color"], "Attention");
    assert_eq!(body[1]["fontType"], "Monospace");
    assert_eq!(body[1]["text"], "FATAL boom\n\npanic: oh no");

    let facts = body
        .iter()
        .find(|b| b["type"] == "FactSet")
        .and_then(|f| f["facts"].as_array())
        .expect("FactSet");
    assert!(
        facts.contains(&json!({"title": "Host", "value": "fleet-1"})),
        "{facts:?}"
    );
    assert!(
        facts.contains(&json!({"title": "Container", "value": "shop-web-1"})),
        "{facts:?}"
    );
    assert!(facts.iter().any(|f| f["title"] == "Next"), "{facts:?}");
    assert!(!facts.iter().any(|f| f["title"] == "Opened"));
}

#[test]
fn teams_resolved_is_good_and_says_when_it_opened() {
    let a = alert(Event::Resolved, Severity::Critical);
    let (_, b) = only(WebhookFormat::Teams, "https://x", &a);
    let body = b["attachments"][0]["content"]["body"]
        .as_array()
        .expect("body");
    assert_eq!(body[0]["color"], "Good");
    let facts = body
        .iter()
        .find(|b| b["type"] == "FactSet")
        .and_then(|f| f["facts"].as_array())
        .expect("FactSet");
    let opened = facts
        .iter()
        .find(|f| f["title"] == "Opened")
        .expect("Opened fact");
    assert_eq!(opened["value"], "alerted 2026-12-05 20:00 UTC, lasted 5m");
}

// ----------------------------------------------------------------- JSON

#[test]
fn flotilla_json_carries_every_field() {
    let a = new_alert();
    let (out, b) = only(WebhookFormat::Json, "https://example.com/hook?x=1", &a);
    assert_eq!(out.url, "https://example.com/hook?x=1", "URL kept as given");
    assert_eq!(b["event"], "new");
    assert_eq!(b["key"], "rule/fleet-1/shop-web-1#fatal");
    assert_eq!(b["severity"], "critical");
    assert_eq!(b["title"], a.title.as_str());
    assert_eq!(b["text"], a.text.as_str());
    assert_eq!(b["evidence"], json!(["FATAL boom", "panic: oh no"]));
    assert_eq!(b["next"], a.next.as_deref().expect("next"));
    assert_eq!(b["host"], "fleet-1");
    assert_eq!(b["container"], "shop-web-1");
    assert_eq!(b["service"], "web");
    assert_eq!(b["opened_at"], Value::Null);
    assert_eq!(b["at"], "2026-12-05T20:05:00Z");
    assert_eq!(b["finding"], a.finding);
    assert_eq!(b, flotilla_json(&a));
}

#[test]
fn flotilla_json_resolved_has_opened_at() {
    let a = alert(Event::Resolved, Severity::Medium);
    let b = flotilla_json(&a);
    assert_eq!(b["event"], "resolved");
    assert_eq!(b["severity"], "medium");
    let opened: jiff::Timestamp = b["opened_at"]
        .as_str()
        .expect("opened_at")
        .parse()
        .expect("timestamp");
    assert_eq!(opened, at("2026-12-05T20:00:00Z"));

    let heal = flotilla_json(&alert(Event::Autoheal, Severity::Low));
    assert_eq!(heal["event"], "autoheal");
}

// ------------------------------------------------------------- helpers

#[test]
fn cut_respects_char_boundaries_and_marks_the_cut() {
    assert_eq!(cut("short", 10), "short");
    assert_eq!(cut("exactly10!", 10), "exactly10!");
    assert_eq!(cut("0123456789ab", 10), "0123456...");
    let s = "éééééé"; // 12 bytes
    let c = cut(s, 8);
    assert!(c.len() <= 8, "{c}");
    assert_eq!(c, "éé...");
}
