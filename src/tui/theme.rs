//! One theme for every view, loaded from assets/theme.toml (compiled in).

use std::collections::BTreeMap;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

const DEFAULT_THEME: &str = include_str!("../../assets/theme.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    style: BTreeMap<String, StyleSpec>,
    hosts: HostPalette,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostPalette {
    palette: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    modifiers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    styles: BTreeMap<String, Style>,
    host_palette: Vec<Color>,
}

impl Theme {
    /// The built-in theme; `no_color` (NO_COLOR set) keeps modifiers only.
    pub fn builtin(no_color: bool) -> Theme {
        // The built-in file is tested below; fall back to plain if it ever breaks.
        Theme::parse(DEFAULT_THEME, no_color).unwrap_or_else(|_| Theme {
            styles: BTreeMap::new(),
            host_palette: Vec::new(),
        })
    }

    pub fn from_env() -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme::builtin(no_color)
    }

    pub fn parse(text: &str, no_color: bool) -> Result<Theme, String> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut styles = BTreeMap::new();
        for (name, spec) in file.style {
            let mut style = Style::default();
            if !no_color {
                if let Some(fg) = &spec.fg {
                    style = style.fg(parse_color(fg)?);
                }
                if let Some(bg) = &spec.bg {
                    style = style.bg(parse_color(bg)?);
                }
            }
            for m in &spec.modifiers {
                style = style.add_modifier(parse_modifier(m)?);
            }
            // Without colour, highlights must still stand out.
            if no_color && spec.bg.is_some() && spec.modifiers.is_empty() {
                style = style.add_modifier(Modifier::REVERSED);
            }
            styles.insert(name, style);
        }
        let host_palette = if no_color {
            Vec::new()
        } else {
            file.hosts
                .palette
                .iter()
                .map(|c| parse_color(c))
                .collect::<Result<_, _>>()?
        };
        Ok(Theme {
            styles,
            host_palette,
        })
    }

    /// A named style; unknown names are plain.
    pub fn style(&self, name: &str) -> Style {
        self.styles.get(name).copied().unwrap_or_default()
    }

    /// A stable colour per host index for merged logs.
    pub fn host(&self, index: usize) -> Style {
        match self.host_palette.len() {
            0 => Style::default().add_modifier(Modifier::BOLD),
            n => Style::default().fg(self.host_palette[index % n]),
        }
    }
}

fn parse_color(s: &str) -> Result<Color, String> {
    Color::from_str(&s.replace('_', "")).map_err(|_| format!("unknown colour {s:?}"))
}

fn parse_modifier(s: &str) -> Result<Modifier, String> {
    Ok(match s {
        "bold" => Modifier::BOLD,
        "dim" => Modifier::DIM,
        "italic" => Modifier::ITALIC,
        "underlined" => Modifier::UNDERLINED,
        "reversed" => Modifier::REVERSED,
        _ => return Err(format!("unknown modifier {s:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_theme_parses_with_every_style_views_use() {
        let theme = Theme::parse(DEFAULT_THEME, false).expect("builtin theme");
        for name in [
            "title",
            "selected",
            "healthy",
            "unhealthy",
            "down",
            "stale",
            "drift",
            "match",
            "key",
            "error",
            "read_only",
        ] {
            assert!(theme.styles.contains_key(name), "{name}");
        }
        assert_eq!(theme.style("healthy").fg, Some(Color::Green));
        assert_eq!(theme.style("unhealthy").fg, Some(Color::LightRed));
        assert_ne!(theme.host(0), theme.host(1));
    }

    #[test]
    fn no_color_keeps_modifiers_only() {
        let theme = Theme::parse(DEFAULT_THEME, true).expect("builtin theme");
        let s = theme.style("unhealthy");
        assert_eq!(s.fg, None);
        assert!(s.add_modifier.contains(Modifier::BOLD));
        assert!(
            theme
                .style("drift")
                .add_modifier
                .contains(Modifier::REVERSED)
        );
    }

    #[test]
    fn bad_colours_are_reported() {
        let err = Theme::parse(
            "[style]\nx = { fg = \"chartreuse-ish\" }\n[hosts]\npalette = []\n",
            false,
        )
        .expect_err("must fail");
        assert!(err.contains("chartreuse-ish"), "{err}");
    }
}
