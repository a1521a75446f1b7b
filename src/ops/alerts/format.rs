//! Each chat tool's documented webhook shape for one [`Alert`]: Slack
//! (text + attachment with colour and blocks), Discord (an embed; `wait=true`
//! so a resolve can edit the original), ntfy (JSON publish with priority and
//! tags), Microsoft Teams (an Adaptive Card message, as Workflows webhooks
//! take it), and flotilla's own JSON. Pure: the sender POSTs what this says.

use serde_json::{Value, json};

use super::{Alert, Event};
use crate::config::alerts::WebhookFormat;
use crate::ops::triage::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::Display)]
#[strum(serialize_all = "UPPERCASE")]
pub enum Method {
    Post,
    Patch,
}

/// One HTTP request to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub method: Method,
    pub url: String,
    pub body: String,
    /// The answer carries the message's id, kept to edit it on resolve.
    pub keep_id: bool,
}

/// The requests that deliver `alert` to the webhook at `url`; `reference`
/// is the id the service gave the alert's opening message, if any.
pub fn requests(
    format: WebhookFormat,
    url: &str,
    alert: &Alert,
    reference: Option<&str>,
) -> Vec<Outgoing> {
    let post = |url: String, body: Value, keep_id: bool| Outgoing {
        method: Method::Post,
        url,
        body: body.to_string(),
        keep_id,
    };
    match format {
        WebhookFormat::Slack => vec![post(url.to_owned(), slack(alert), false)],
        WebhookFormat::Teams => vec![post(url.to_owned(), teams(alert), false)],
        WebhookFormat::Json => vec![post(url.to_owned(), flotilla_json(alert), false)],
        WebhookFormat::Ntfy => {
            let (base, topic) = ntfy_topic(url);
            vec![post(base, ntfy(alert, &topic), false)]
        }
        WebhookFormat::Discord => {
            let mut out = Vec::new();
            // The opening message turns green in place, and a new one says so.
            if alert.event == Event::Resolved
                && let Some(id) = reference
            {
                out.push(Outgoing {
                    method: Method::Patch,
                    url: with_path(url, &format!("/messages/{id}")),
                    body: json!({"embeds": [discord_embed(alert)]}).to_string(),
                    keep_id: false,
                });
            }
            let keep = alert.event == Event::New;
            out.push(post(with_query(url, "wait=true"), discord(alert), keep));
            out
        }
    }
}

/// Hex colour by severity; green once resolved.
fn colour(alert: &Alert) -> u32 {
    if alert.event == Event::Resolved {
        return 0x2E7D32;
    }
    match alert.severity {
        Severity::Critical => 0xB71C1C,
        Severity::High => 0xE53935,
        Severity::Medium => 0xFB8C00,
        Severity::Low => 0xFDD835,
    }
}

fn headline(alert: &Alert) -> String {
    match alert.event {
        Event::Resolved => format!("Resolved: {}", alert.title),
        Event::New => format!("{}: {}", alert.severity.label(), alert.title),
        Event::Autoheal => alert.title.clone(),
    }
}

/// "opened 06:02 UTC" for a resolve: the services that cannot thread still
/// point back at the original.
fn opened_phrase(alert: &Alert) -> Option<String> {
    let opened = alert.opened?;
    let lasted = alert.at.duration_since(opened).as_secs().max(0);
    let lasted = humantime::format_duration(std::time::Duration::from_secs(
        u64::try_from(lasted).unwrap_or(0),
    ));
    Some(format!(
        "alerted {} UTC, lasted {lasted}",
        opened.strftime("%F %H:%M")
    ))
}

fn footer(alert: &Alert) -> String {
    let mut parts = vec![format!("host {}", alert.host)];
    if let Some(s) = &alert.service {
        parts.push(format!("service {s}"));
    }
    if let Some(o) = opened_phrase(alert) {
        parts.push(o);
    }
    parts.push("flotilla watch".into());
    parts.join(" · ")
}

/// The evidence as a code block of at most about `max` bytes: cut before
/// fencing, so the closing fence always stays.
fn code_block(lines: &[String], max: usize, escape: fn(&str) -> String) -> String {
    // A fence inside the evidence would end the block early.
    let body = escape(&lines.join("\n").replace("```", "'''"));
    format!("```\n{}\n```", cut(&body, max.saturating_sub(8)))
}

/// Slack refuses a whole message with a text object over this.
const SLACK_TEXT: usize = 3000;

fn slack(alert: &Alert) -> Value {
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": format!("*{}*", cut(&slack_escape(&headline(alert)), SLACK_TEXT - 2))},
    })];
    if !alert.evidence.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": code_block(&alert.evidence, SLACK_TEXT, slack_escape)},
        }));
    }
    let mut context = footer(alert);
    if let Some(next) = &alert.next {
        context = format!("next: `{next}` · {context}");
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": cut(&slack_escape(&context), SLACK_TEXT)}],
    }));
    json!({
        "text": alert.text,
        "attachments": [{"color": format!("#{:06X}", colour(alert)), "blocks": blocks}],
    })
}

/// Slack reads `<…>` as links and `&` as an entity; container output may hold both.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn discord_embed(alert: &Alert) -> Value {
    let mut fields = Vec::new();
    if let Some(next) = &alert.next {
        fields.push(json!({"name": "Next", "value": cut(&format!("`{next}`"), 1024)}));
    }
    fields.push(json!({"name": "Host", "value": alert.host, "inline": true}));
    if let Some(c) = &alert.container {
        fields.push(json!({"name": "Container", "value": cut(c, 1024), "inline": true}));
    }
    let description = if alert.evidence.is_empty() {
        String::new()
    } else {
        code_block(&alert.evidence, 4000, str::to_owned)
    };
    json!({
        "title": cut(&headline(alert), 256),
        "description": description,
        "color": colour(alert),
        "fields": fields,
        "timestamp": alert.at.to_string(),
        "footer": {"text": cut(&footer(alert), 2048)},
    })
}

fn discord(alert: &Alert) -> Value {
    json!({
        "username": "flotilla",
        "embeds": [discord_embed(alert)],
        // Container output must never ping @everyone.
        "allowed_mentions": {"parse": []},
    })
}

/// ntfy's JSON publishing goes to the server's root with the topic inside:
/// "https://ntfy.sh/ops-alerts" → ("https://ntfy.sh/", "ops-alerts").
/// A query (`?auth=…`, ntfy's token in the URL) stays on the base.
fn ntfy_topic(url: &str) -> (String, String) {
    let (path_part, query) = split_query(url);
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    let trimmed = path_part.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((base, topic)) if !base.ends_with('/') && !topic.is_empty() => {
            (format!("{base}/{query}"), topic.to_owned())
        }
        _ => (format!("{trimmed}/{query}"), String::new()),
    }
}

fn ntfy(alert: &Alert, topic: &str) -> Value {
    let (priority, tag) = match (alert.event, alert.severity) {
        (Event::Resolved, _) => (2, "white_check_mark"),
        (Event::Autoheal, _) => (3, "adhesive_bandage"),
        (_, Severity::Critical) => (5, "rotating_light"),
        (_, Severity::High) => (4, "red_circle"),
        (_, Severity::Medium) => (3, "warning"),
        (_, Severity::Low) => (2, "information_source"),
    };
    let mut message = alert.evidence.join("\n");
    if let Some(next) = &alert.next {
        message.push_str(&format!("\nnext: {next}"));
    }
    message.push('\n');
    message.push_str(&footer(alert));
    json!({
        "topic": topic,
        "title": cut(&headline(alert), 250),
        "message": cut(message.trim_start(), 4000),
        "priority": priority,
        "tags": [tag, "flotilla"],
    })
}

fn teams(alert: &Alert) -> Value {
    let colour = match (alert.event, alert.severity) {
        (Event::Resolved, _) => "Good",
        (_, Severity::Critical | Severity::High) => "Attention",
        (_, Severity::Medium) => "Warning",
        _ => "Default",
    };
    let mut body = vec![json!({
        "type": "TextBlock", "text": headline(alert), "weight": "Bolder",
        "size": "Medium", "color": colour, "wrap": true,
    })];
    if !alert.evidence.is_empty() {
        body.push(json!({
            "type": "TextBlock", "text": alert.evidence.join("\n\n"),
            "fontType": "Monospace", "wrap": true,
        }));
    }
    let mut facts = vec![json!({"title": "Host", "value": alert.host})];
    if let Some(c) = &alert.container {
        facts.push(json!({"title": "Container", "value": c}));
    }
    if let Some(next) = &alert.next {
        facts.push(json!({"title": "Next", "value": next}));
    }
    if let Some(o) = opened_phrase(alert) {
        facts.push(json!({"title": "Opened", "value": o}));
    }
    body.push(json!({"type": "FactSet", "facts": facts}));
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}

/// flotilla's own shape (also what `--exec` reads on stdin and `watch
/// --json` prints): the earlier `event`/`finding`/`text` plus the rest.
pub fn flotilla_json(alert: &Alert) -> Value {
    json!({
        "event": alert.event,
        "key": alert.key,
        "severity": alert.severity,
        "title": alert.title,
        "text": alert.text,
        "evidence": alert.evidence,
        "next": alert.next,
        "host": alert.host,
        "container": alert.container,
        "service": alert.service,
        "opened_at": alert.opened.map(|t| t.to_string()),
        "at": alert.at.to_string(),
        "finding": alert.finding,
    })
}

/// At most `max` bytes, on a char boundary, marked when cut.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

fn split_query(url: &str) -> (&str, Option<&str>) {
    match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    }
}

fn with_query(url: &str, extra: &str) -> String {
    match split_query(url) {
        (p, Some(q)) if !q.is_empty() => format!("{p}?{q}&{extra}"),
        (p, _) => format!("{p}?{extra}"),
    }
}

fn with_path(url: &str, suffix: &str) -> String {
    match split_query(url) {
        (p, Some(q)) => format!("{}{suffix}?{q}", p.trim_end_matches('/')),
        (p, None) => format!("{}{suffix}", p.trim_end_matches('/')),
    }
}

#[cfg(test)]
mod tests;
