//! One theme for every view, loaded from assets/theme.toml (compiled in).

use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

const DEFAULT_THEME: &str = include_str!("../../assets/theme.toml");

/// Declares every named style once: the theme file's `[style]` table (a
/// misspelt name is an error) and the `Theme` fields views use (a misspelt
/// field does not compile).
macro_rules! styles {
    ($($field:ident $(= $file_name:literal)?),* $(,)?) => {
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct StyleTable {
            $($(#[serde(rename = $file_name)])? #[serde(default)] $field: StyleSpec,)*
        }

        /// Every style the views use, by name.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct Theme {
            $(pub $field: Style,)*
            host_palette: Vec<Color>,
        }

        impl Theme {
            fn from_table(table: &StyleTable, no_color: bool) -> Result<Theme, String> {
                Ok(Theme {
                    $($field: table.$field.to_style(no_color)?,)*
                    host_palette: Vec::new(),
                })
            }
        }
    };
}

styles! {
    title, header, tab, tab_active, selected, marked,
    healthy, running, starting, unhealthy, restarting, exited_bad, exited,
    down, stale, drift,
    search_match = "match", search_current = "match_current",
    key, dim, error, ok, border, stderr, read_only, dialog,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    style: StyleTable,
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

impl StyleSpec {
    fn to_style(&self, no_color: bool) -> Result<Style, String> {
        let mut style = Style::default();
        if !no_color {
            if let Some(fg) = &self.fg {
                style = style.fg(parse_color(fg)?);
            }
            if let Some(bg) = &self.bg {
                style = style.bg(parse_color(bg)?);
            }
        }
        for m in &self.modifiers {
            style = style.add_modifier(parse_modifier(m)?);
        }
        // Without colour, highlights must still stand out.
        if no_color && self.bg.is_some() && self.modifiers.is_empty() {
            style = style.add_modifier(Modifier::REVERSED);
        }
        Ok(style)
    }
}

impl Theme {
    /// The built-in theme; `no_color` (NO_COLOR set) keeps modifiers only.
    pub fn builtin(no_color: bool) -> Theme {
        // The built-in file is tested below; fall back to plain if it ever breaks.
        Theme::parse(DEFAULT_THEME, no_color).unwrap_or_default()
    }

    pub fn from_env() -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme::builtin(no_color)
    }

    pub fn parse(text: &str, no_color: bool) -> Result<Theme, String> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut theme = Theme::from_table(&file.style, no_color)?;
        if !no_color {
            theme.host_palette = file
                .hosts
                .palette
                .iter()
                .map(|c| parse_color(c))
                .collect::<Result<_, _>>()?;
        }
        Ok(theme)
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
    fn builtin_theme_sets_every_style() {
        let theme = Theme::parse(DEFAULT_THEME, false).expect("builtin theme");
        // Every [style] entry of the file is set (none left plain by a typo).
        let text: toml::Table = toml::from_str(DEFAULT_THEME).expect("toml");
        let table = text["style"].as_table().expect("[style]");
        assert_eq!(table.len(), 26, "one entry per Theme field");
        assert_eq!(theme.healthy.fg, Some(Color::Green));
        assert_eq!(theme.unhealthy.fg, Some(Color::LightRed));
        assert_eq!(theme.search_match.bg, Some(Color::Yellow));
        assert_eq!(theme.search_current.bg, Some(Color::LightMagenta));
        assert_ne!(theme.host(0), theme.host(1));
    }

    #[test]
    fn a_misspelt_style_name_is_an_error() {
        let err = Theme::parse(
            "[style]\nunhealty = { fg = \"red\" }\n[hosts]\npalette = []\n",
            false,
        )
        .expect_err("must fail");
        assert!(err.contains("unhealty"), "{err}");
    }

    #[test]
    fn no_color_keeps_modifiers_only() {
        let theme = Theme::parse(DEFAULT_THEME, true).expect("builtin theme");
        assert_eq!(theme.unhealthy.fg, None);
        assert!(theme.unhealthy.add_modifier.contains(Modifier::BOLD));
        assert!(theme.drift.add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn bad_colours_are_reported() {
        let err = Theme::parse(
            "[style]\nok = { fg = \"chartreuse-ish\" }\n[hosts]\npalette = []\n",
            false,
        )
        .expect_err("must fail");
        assert!(err.contains("chartreuse-ish"), "{err}");
    }
}
