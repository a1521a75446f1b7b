//! Services × hosts matrix: image tag and state per cell, version drift highlighted.

use std::collections::{BTreeMap, BTreeSet};

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, TableState};

use super::state_style;
use crate::fleet::{ContainerInfo, ContainerState, Health, compose, majority_image};
use crate::tui::app::App;
use crate::tui::theme::Theme;

/// `repo:tag` → `tag`; untagged → the last path segment.
fn short_image(image: &str) -> &str {
    match image.rsplit_once(':') {
        Some((_, tag)) if !tag.contains('/') => tag,
        _ => image.rsplit('/').next().unwrap_or(image),
    }
}

fn symbol(c: &ContainerInfo) -> &'static str {
    match (&c.state, &c.health) {
        (_, Some(Health::Unhealthy)) => "✗",
        (ContainerState::Restarting, _) => "↻",
        (ContainerState::Running, Some(Health::Starting)) => "…",
        (ContainerState::Running, _) => "●",
        _ => "■",
    }
}

/// Containers of one cell that look alike: same image, same symbol.
struct Group<'a> {
    first: &'a ContainerInfo,
    count: usize,
}

/// A cell's containers (a scaled service's replicas) grouped by image, most
/// common first, then by state; `true` when they run different images.
fn cell_groups<'a>(list: &[&'a ContainerInfo]) -> (bool, Vec<Group<'a>>) {
    let mut groups: Vec<Group<'a>> = Vec::new();
    for c in list {
        match groups
            .iter_mut()
            .find(|g| g.first.image == c.image && symbol(g.first) == symbol(c))
        {
            Some(g) => g.count += 1,
            None => groups.push(Group { first: c, count: 1 }),
        }
    }
    let per_image = |image: &str| list.iter().filter(|c| c.image == image).count();
    groups.sort_by(|a, b| {
        per_image(&b.first.image)
            .cmp(&per_image(&a.first.image))
            .then_with(|| a.first.image.cmp(&b.first.image))
            .then_with(|| b.count.cmp(&a.count))
    });
    let mixed = list.iter().any(|c| c.image != list[0].image);
    (mixed, groups)
}

/// The matrix, in one pass over every container: service → per-host
/// containers; a deploy's lock is a mark on its service's cell, not a
/// container there.
struct Matrix<'a> {
    grid: BTreeMap<&'a str, Vec<Vec<&'a ContainerInfo>>>,
    locks: BTreeMap<&'a str, Vec<bool>>,
    projects: BTreeMap<&'a str, BTreeSet<&'a str>>,
    all_projects: BTreeSet<&'a str>,
}

fn matrix(app: &App) -> Matrix<'_> {
    let n = app.fleet.hosts.len();
    let mut m = Matrix {
        grid: BTreeMap::new(),
        locks: BTreeMap::new(),
        projects: BTreeMap::new(),
        all_projects: BTreeSet::new(),
    };
    for (i, h) in app.fleet.hosts.iter().enumerate() {
        for c in &h.containers {
            if let Some(project) = c.labels.get(compose::PROJECT) {
                m.projects.entry(c.service()).or_default().insert(project);
            }
            match c.deploy_lock() {
                Some(service) => {
                    m.locks.entry(service).or_insert_with(|| vec![false; n])[i] = true;
                }
                None => m
                    .grid
                    .entry(c.service())
                    .or_insert_with(|| vec![Vec::new(); n])[i]
                    .push(c),
            }
        }
    }
    m.all_projects = m.projects.values().flatten().copied().collect();
    m
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let services = app.fleet.service_names();
    let m = matrix(app);
    // The replica legend only where some cell has several containers.
    let scaled = m.grid.values().flatten().any(|cell| cell.len() > 1);
    let height = usize::from(area.height.saturating_sub(2)).max(1);
    let selected = app.state.services.row.min(services.len().saturating_sub(1));
    let offset = (selected + 1).saturating_sub(height);
    let rows: Vec<Row> = services
        .iter()
        .skip(offset)
        .take(height)
        .map(|svc| service_row(app, &m, svc, theme))
        .collect();
    let mut widths = vec![Constraint::Max(22)];
    let cell_width = if scaled { 24 } else { 18 };
    widths.extend(app.fleet.hosts.iter().map(|_| Constraint::Max(cell_width)));
    let table = super::list_table(
        rows,
        widths,
        header(app, &m, theme),
        title(app, &m, services.len(), scaled, theme),
        theme,
    );
    let mut state = TableState::default().with_selected(Some(selected - offset));
    frame.render_stateful_widget(table, area, &mut state);
}

/// The hosts, the selected one and those down marked; one Compose project
/// is named here, several on each row.
fn header<'a>(app: &'a App, m: &Matrix, theme: &Theme) -> Row<'a> {
    let mut header = vec![Cell::from("SERVICE")];
    header.extend(app.fleet.hosts.iter().enumerate().map(|(i, h)| {
        let style = if i == app.state.services.col {
            theme.tab_active
        } else if h.is_up() {
            theme.header
        } else {
            theme.down
        };
        Cell::from(Span::styled(h.spec.name.clone(), style))
    }));
    if let [one] = m.all_projects.iter().collect::<Vec<_>>().as_slice() {
        header[0] = Cell::from(format!("SERVICE ({one})"));
    }
    Row::new(header)
}

/// A service's name (with its drift, deploy and project marks) and a cell per host.
fn service_row<'a>(app: &'a App, m: &Matrix<'a>, svc: &str, theme: &Theme) -> Row<'a> {
    let cols = m.grid.get(svc).map(Vec::as_slice).unwrap_or_default();
    let members = || cols.iter().flatten().copied();
    let majority = majority_image(members());
    let drift = members().any(|c| Some(&c.image) != majority.as_ref());
    let name_style = if drift {
        theme.drift
    } else {
        theme.dim.patch(Style::default())
    };
    let locked = m.locks.get(svc);
    let mut name = vec![Span::raw(svc.to_owned())];
    if drift {
        name.push(Span::styled(" drift", name_style));
    }
    if locked.is_some() {
        name.push(Span::styled(" deploying", theme.title));
    }
    // Last, so a narrow column cuts it before the marks.
    if let Some(list) = m.projects.get(svc).filter(|_| m.all_projects.len() > 1) {
        let list: Vec<&str> = list.iter().copied().collect();
        name.push(Span::styled(format!(" {}", list.join(",")), theme.dim));
    }
    let mut cells = vec![Cell::from(Line::from(name))];
    for (i, h) in app.fleet.hosts.iter().enumerate() {
        let here: &[&ContainerInfo] = cols.get(i).map(Vec::as_slice).unwrap_or_default();
        let lock_here = locked.is_some_and(|l| l.get(i).copied().unwrap_or(false));
        let mut cell = host_cell(here, majority.as_ref(), theme);
        if here
            .iter()
            .any(|c| app.state.compose.drift(&h.spec.name, &c.name).is_some())
        {
            cell.spans
                .push(Span::styled("✎", theme.drift.add_modifier(Modifier::BOLD)));
        }
        if lock_here {
            cell.spans.push(Span::styled(" ⚿", theme.title));
        }
        let cell = Cell::from(cell);
        cells.push(if h.is_up() {
            cell
        } else {
            cell.style(theme.stale)
        });
    }
    Row::new(cells)
}

/// A service's containers on one host: state and image per group of
/// replicas, those off the majority's image marked.
fn host_cell<'a>(here: &[&'a ContainerInfo], majority: Option<&String>, theme: &Theme) -> Line<'a> {
    if here.is_empty() {
        return Line::from(Span::styled("·", theme.dim));
    }
    let (mixed, groups) = cell_groups(here);
    let mut spans = Vec::new();
    if mixed {
        // Replicas on this one host disagree: loud, before anything else.
        spans.push(Span::styled("≠", theme.drift.add_modifier(Modifier::BOLD)));
        spans.push(Span::raw(" "));
    }
    for g in groups {
        let tag_style = if Some(&g.first.image) != majority {
            theme.drift
        } else {
            Style::default()
        };
        spans.push(Span::styled(
            format!("{} ", symbol(g.first)),
            state_style(theme, g.first),
        ));
        spans.push(Span::styled(
            short_image(&g.first.image).to_owned(),
            tag_style,
        ));
        if g.count > 1 || mixed {
            spans.push(Span::styled(format!(" ×{}", g.count), tag_style));
        }
        spans.push(Span::raw(" "));
    }
    Line::from(spans)
}

/// The count and the legend, each mark only when something shows it.
fn title(app: &App, m: &Matrix, services: usize, scaled: bool, theme: &Theme) -> Line<'static> {
    let any_compose_drift = app
        .state
        .compose
        .hosts
        .values()
        .any(|r| r.as_ref().is_ok_and(|d| !d.is_empty()));
    let shown = |on: bool, text: &'static str| Span::styled(if on { text } else { "" }, theme.dim);
    Line::from(vec![
        Span::styled(
            format!(" Services × hosts ({services} services) "),
            theme.title,
        ),
        Span::styled(
            "● up  ✗ unhealthy  ↻ restarting  ■ stopped  · absent ",
            theme.dim,
        ),
        shown(scaled, "×n replicas  ≠ replicas differ "),
        shown(!m.locks.is_empty(), "⚿ deploy lock "),
        shown(any_compose_drift, "✎ differs from its compose file "),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::app::AppEvent;
    use crate::tui::testutil::{app, container, press, sample_fleet};
    use crate::tui::views::snapshot;

    #[test]
    fn drift_is_detected_against_the_majority() {
        let fleet = sample_fleet();
        let web: Vec<&ContainerInfo> = fleet
            .containers()
            .filter(|c| c.service() == "web")
            .collect();
        assert_eq!(
            majority_image(web.into_iter()).as_deref(),
            Some("flotilla-test/app:v1")
        );
        assert_eq!(short_image("registry:5000/app:v2"), "v2");
        assert_eq!(short_image("registry:5000/app"), "app");
    }

    #[test]
    fn services_matrix() {
        let mut app = app();
        press(&mut app, '3');
        insta::assert_snapshot!(snapshot::render(&mut app, 100, 14));
        insta::assert_snapshot!("services_80x24", snapshot::render(&mut app, 80, 24));
    }

    #[test]
    fn a_container_that_differs_from_its_compose_file_is_marked() {
        use crate::fleet::compose::file::Drift;
        let mut app = app();
        press(&mut app, '3');
        let web = app.fleet.hosts[1]
            .containers
            .iter()
            .find(|c| c.service() == "web")
            .map(|c| c.name.clone())
            .expect("web on fleet-2");
        let drift = Drift {
            container: web,
            project: "shop".into(),
            service: "web".into(),
            file_image: Some("flotilla-test/app:v1".into()),
            running_image: "flotilla-test/app:v2".into(),
            config_changed: false,
            not_in_file: false,
            pinned: false,
            image_moved_to: None,
        };
        app.update(AppEvent::ComposeRead(
            [("fleet-2".to_owned(), Ok(vec![drift]))]
                .into_iter()
                .collect(),
        ));
        let text = snapshot::render(&mut app, 120, 14);
        insta::assert_snapshot!("services_compose_drift", text);
        let web_row = text
            .lines()
            .find(|l| l.trim_start_matches('▶').trim_start().starts_with("web"))
            .unwrap_or_default();
        assert_eq!(
            web_row.matches('✎').count(),
            1,
            "fleet-2's cell only: {web_row}"
        );
        assert!(text.contains("✎ differs from its compose file"), "{text}");
        // The Triage view lists it as a low finding.
        press(&mut app, '5');
        let triage = snapshot::render(&mut app, 120, 20);
        assert!(
            triage.contains("LOW       fleet-2        web                web compose drift on 1/3 hosts (fleet-2): file says"),
            "{triage}"
        );
    }

    #[test]
    fn several_compose_projects_are_named_on_each_row() {
        let mut app = app();
        for h in &mut app.fleet.hosts {
            for c in h.containers.iter_mut().filter(|c| c.service() == "worker") {
                c.labels
                    .insert(crate::fleet::compose::PROJECT.to_owned(), "blog".to_owned());
            }
        }
        press(&mut app, '3');
        let text = snapshot::render(&mut app, 100, 14);
        insta::assert_snapshot!("services_two_projects", text);
        let row = |name: &str| {
            text.lines()
                .find(|l| l.trim_start_matches('▶').trim_start().starts_with(name))
                .unwrap_or_else(|| panic!("no {name} row:\n{text}"))
                .to_owned()
        };
        assert!(row("worker").contains("worker blog"), "{text}");
        assert!(row("sick").contains("sick shop"), "{text}");
        assert!(!text.contains("SERVICE ("), "{text}");
    }

    #[test]
    fn a_deploy_lock_marks_its_service_instead_of_being_one() {
        let mut app = app();
        for host in ["fleet-1", "fleet-2"] {
            let Some(h) = app.fleet.host_named_mut(host) else {
                panic!("no {host}");
            };
            let mut lock = container(
                host,
                "web",
                "flotilla-test/app:v1",
                "created",
                None,
                "Created",
            );
            lock.name = "flotilla-lock-web".into();
            lock.id = format!("lock{}", lock.id);
            lock.labels = [(crate::fleet::DEPLOY_LOCK_LABEL.to_owned(), "web".to_owned())]
                .into_iter()
                .collect();
            h.containers.push(lock);
        }
        assert!(
            !app.fleet
                .service_names()
                .iter()
                .any(|s| s.contains("flotilla-lock")),
            "{:?}",
            app.fleet.service_names()
        );
        press(&mut app, '3');
        insta::assert_snapshot!(snapshot::render(&mut app, 110, 14));
    }

    /// Image tag, state and health of one replica.
    type Replica = (&'static str, &'static str, Option<&'static str>);

    /// `api` scaled to 3 per host: all alike on fleet-1, replicas on two
    /// images on fleet-2, one unhealthy replica on fleet-3.
    fn scaled_app() -> App {
        let mut app = app();
        let cells: [(&str, [Replica; 3]); 3] = [
            ("fleet-1", [("v2", "running", Some("healthy")); 3]),
            (
                "fleet-2",
                [
                    ("v2", "running", Some("healthy")),
                    ("v1", "running", Some("healthy")),
                    ("v2", "running", Some("healthy")),
                ],
            ),
            (
                "fleet-3",
                [
                    ("v2", "running", Some("healthy")),
                    ("v2", "running", Some("unhealthy")),
                    ("v2", "running", Some("healthy")),
                ],
            ),
        ];
        for (host, replicas) in cells {
            let Some(h) = app.fleet.host_named_mut(host) else {
                panic!("no {host}");
            };
            for (i, (tag, state, health)) in replicas.into_iter().enumerate() {
                let mut c = container(
                    host,
                    "api",
                    &format!("flotilla-test/app:{tag}"),
                    state,
                    health,
                    "Up 2 hours",
                );
                c.name = format!("shop-api-{}", i + 1);
                c.id = format!("{}{i}", c.id);
                h.containers.push(c);
            }
        }
        app
    }

    #[test]
    fn replicas_are_counted_and_disagreeing_replicas_marked() {
        let mut app = scaled_app();
        press(&mut app, '3');
        let text = snapshot::render(&mut app, 120, 14);
        let api = text
            .lines()
            .find(|l| l.trim_start_matches('▶').trim_start().starts_with("api"))
            .unwrap_or_else(|| panic!("no api row:\n{text}"));
        assert!(api.contains("● v2 ×3"), "{api}");
        assert!(api.contains("≠ ● v2 ×2 ● v1 ×1"), "{api}");
        assert!(api.contains("● v2 ×2 ✗ v2"), "{api}");
        assert!(api.contains("api drift"), "{api}");
        insta::assert_snapshot!("services_replicas_120x14", text);
        // The mark is in the drift colours (reversed without colours) and bold.
        let buffer = snapshot::buffer(&mut app, 120, 14);
        let row = text.lines().position(|l| l == api).expect("api row");
        let mark = (0..120u16)
            .map(|x| &buffer[(x, row as u16)])
            .find(|c| c.symbol() == "≠")
            .expect("a ≠ mark");
        let theme = Theme::builtin(false);
        assert_eq!(mark.bg, theme.drift.bg.unwrap_or_default());
        assert!(mark.modifier.contains(Modifier::BOLD));
        insta::assert_snapshot!(
            "services_replicas_80x24",
            snapshot::render(&mut app, 80, 24)
        );
    }
}
