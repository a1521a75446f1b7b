//! Disk: per host what a prune would remove (with the space it takes and
//! why) and what it keeps (and why), as `flotilla prune --dry-run` lists it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};

use crate::human::bytes;
use crate::ops::prune::Item;
use crate::tui::app::App;
use crate::tui::state::disk::Line;
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let disk = &app.state.disk;
    let lines = disk.lines();
    let rows: Vec<Row> = lines
        .iter()
        .map(|line| match *line {
            Line::Host(h) => host_row(app, h, theme),
            Line::Remove(..) => item_row(disk.item(*line), "remove", theme.unhealthy, theme),
            Line::Keep(..) => item_row(disk.item(*line), "keep", theme.dim, theme),
        })
        .collect();
    let header = Row::new(["HOST / KIND", "NAME", "SIZE", "WHY"]);
    let volumes = if disk.volumes { "with" } else { "without" };
    let title = if disk.reading && disk.plans.is_empty() {
        " Disk: planning… ".to_owned()
    } else if let Some(host) = &disk.pruning {
        format!(" Disk: pruning {host}… ")
    } else {
        format!(" Disk: what a prune removes ({volumes} volumes; V), P prunes the host ")
    };
    super::render_list(
        frame,
        area,
        theme,
        (header, rows),
        &[
            Constraint::Length(18),
            Constraint::Fill(2),
            Constraint::Length(10),
            Constraint::Fill(3),
        ],
        title,
        disk.selected,
    );
}

fn host_row<'a>(app: &App, h: usize, theme: &Theme) -> Row<'a> {
    let Some((host, plan)) = app.state.disk.plans.iter().nth(h) else {
        return Row::new(Vec::<Cell>::new());
    };
    let what = match plan {
        Err(e) => Span::styled(e.clone(), theme.error),
        Ok(p) if p.remove.is_empty() => Span::styled(
            format!("nothing to remove, {} kept", p.keep.len()),
            theme.ok,
        ),
        Ok(p) => Span::raw(format!(
            "{} to remove ({}), {} kept",
            p.remove.len(),
            bytes(p.bytes()),
            p.keep.len()
        )),
    };
    Row::new(vec![
        Cell::from(Span::styled(host.clone(), theme.title)),
        Cell::from(what),
        Cell::from(""),
        Cell::from(""),
    ])
}

fn item_row<'a>(
    item: Option<&Item>,
    verb: &str,
    style: ratatui::style::Style,
    theme: &Theme,
) -> Row<'a> {
    let Some(i) = item else {
        return Row::new(Vec::<Cell>::new());
    };
    Row::new(vec![
        Cell::from(Span::styled(format!("  {verb} {}", i.kind.as_str()), style)),
        Cell::from(i.name.clone()),
        Cell::from(i.bytes.map_or("-".to_owned(), bytes)),
        Cell::from(Span::styled(i.why.clone(), theme.dim)),
    ])
}

#[cfg(test)]
mod tests {
    use crate::tui::state::disk::tests::plans;
    use crate::tui::testutil::{app, press};
    use crate::tui::views::snapshot;

    #[test]
    fn disk_lists_per_host_what_goes_and_what_stays_and_p_asks_first() {
        let mut app = app();
        let effects = press(&mut app, '8');
        assert!(
            matches!(
                effects.as_slice(),
                [crate::tui::app::AppEffect::PlanPrune(_)]
            ),
            "{effects:?}"
        );
        app.update(crate::tui::app::AppEvent::PrunePlanned(plans()));
        insta::assert_snapshot!(snapshot::render(&mut app, 120, 14));
        press(&mut app, 'j');
        press(&mut app, 'P');
        insta::assert_snapshot!("disk_confirm", snapshot::render(&mut app, 100, 14));
        let effects = press(&mut app, 'y');
        assert!(
            matches!(effects.as_slice(), [crate::tui::app::AppEffect::Prune(p)] if p.host == "fleet-1"),
            "{effects:?}"
        );
    }
}
