//! The `/` filter of the containers view: words match name, service, image or
//! host as substrings; `host:`, `state:`, `health:`, `service:`, `image:`
//! narrow to one field; `/regex/` matches names by regular expression.

use regex::Regex;

use crate::fleet::ContainerInfo;

#[derive(Debug, Clone)]
enum Term {
    Any(String),
    Field(Field, String),
    Regex(Regex),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Host,
    State,
    Health,
    Service,
    Image,
}

/// A parsed filter; every term must match (AND).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    text: String,
    terms: Vec<Term>,
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, String> {
        let mut terms = Vec::new();
        for word in text.split_whitespace() {
            if let Some(re) = word
                .strip_prefix('/')
                .and_then(|w| w.strip_suffix('/'))
                .filter(|r| !r.is_empty())
            {
                let re = Regex::new(re).map_err(|e| format!("bad regex /{re}/: {e}"))?;
                terms.push(Term::Regex(re));
                continue;
            }
            let term = match word.split_once(':') {
                Some((field, value)) => {
                    let field = match field {
                        "host" | "h" => Field::Host,
                        "state" | "s" => Field::State,
                        "health" => Field::Health,
                        "service" | "svc" => Field::Service,
                        "image" | "img" => Field::Image,
                        _ => {
                            return Err(format!(
                                "unknown filter field {field:?} (host:, state:, health:, service:, image:)"
                            ));
                        }
                    };
                    Term::Field(field, value.to_lowercase())
                }
                None => Term::Any(word.to_lowercase()),
            };
            terms.push(term);
        }
        Ok(Filter {
            text: text.to_owned(),
            terms,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn matches(&self, c: &ContainerInfo) -> bool {
        self.terms.iter().all(|t| match t {
            Term::Any(w) => [
                c.name.as_str(),
                c.service(),
                c.image.as_str(),
                c.host.as_str(),
            ]
            .iter()
            .any(|f| f.to_lowercase().contains(w.as_str())),
            Term::Field(field, w) => {
                let value = match field {
                    Field::Host => c.host.as_str(),
                    Field::State => c.state.as_str(),
                    Field::Health => c.health.as_ref().map_or("none", |h| h.as_str()),
                    Field::Service => c.service(),
                    Field::Image => c.image.as_str(),
                };
                value.to_lowercase().contains(w.as_str())
            }
            Term::Regex(re) => re.is_match(&c.name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Health;

    fn c(host: &str, name: &str, state: &str, health: Option<&str>) -> ContainerInfo {
        ContainerInfo {
            host: host.into(),
            id: "id".into(),
            name: name.into(),
            image: "flotilla-test/app:v1".into(),
            state: state.into(),
            health: health.map(Health::from),
            exit_code: None,
            status: String::new(),
            created: String::new(),
            labels: [("com.docker.compose.service".to_owned(), "web".to_owned())]
                .into_iter()
                .collect(),
            ports: Vec::new(),
            restart_count: None,
            started_at: None,
        }
    }

    #[test]
    fn plain_words_match_any_field_case_insensitively() {
        let f = Filter::parse("WEB").expect("parse");
        assert!(f.matches(&c("fleet-1", "shop-web-1", "running", None)));
        assert!(
            f.matches(&c("fleet-1", "other", "running", None)),
            "service label is web"
        );
        let f = Filter::parse("fleet-2").expect("parse");
        assert!(!f.matches(&c("fleet-1", "x", "running", None)));
    }

    #[test]
    fn field_prefixes_and_terms_combine() {
        let f = Filter::parse("host:fleet-1 health:unhealthy").expect("parse");
        assert!(f.matches(&c("fleet-1", "a", "running", Some("unhealthy"))));
        assert!(!f.matches(&c("fleet-1", "a", "running", Some("healthy"))));
        assert!(!f.matches(&c("fleet-2", "a", "running", Some("unhealthy"))));
        let f = Filter::parse("health:none state:exit").expect("parse");
        assert!(f.matches(&c("h", "a", "exited", None)));
    }

    #[test]
    fn regex_terms_match_names() {
        let f = Filter::parse("/^shop-w.b-\\d$/").expect("parse");
        assert!(f.matches(&c("h", "shop-web-1", "running", None)));
        assert!(!f.matches(&c("h", "shop-web-12", "running", None)));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(
            Filter::parse("colour:red")
                .expect_err("must fail")
                .contains("unknown filter field \"colour\"")
        );
        assert!(
            Filter::parse("/(/")
                .expect_err("must fail")
                .contains("bad regex")
        );
        assert!(Filter::parse("  ").expect("parse").is_empty());
    }
}
