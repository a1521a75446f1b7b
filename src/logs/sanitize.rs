//! Turning raw container log bytes into text that is safe to draw.
//!
//! Container output is untrusted: it may carry terminal escape sequences that
//! move the cursor, clear the screen, set the window title, write the clipboard
//! (OSC 52) or worse. Nothing from a log line may reach the terminal except
//! printable characters; SGR (colour/attribute) sequences are translated into
//! ratatui [`Style`]s and everything else is dropped.
//!
//! Parsing is done by the `vte` crate (Alacritty's implementation of Paul
//! Williams' DEC parser), so every sequence form is consumed the way a real
//! terminal would consume it, in one pass over the bytes.
//!
//! Choices worth knowing:
//! - Carriage return: a `\r` followed by more text discards everything before
//!   it, so `10%\r20%\r30%` shows `30%`, which is what a terminal leaves on
//!   screen for progress bars. Overwriting is not emulated (`abc\rx` gives `x`,
//!   not `xbc`): progress output rewrites the whole line anyway. A trailing
//!   `\r` (CRLF line endings) is ignored. The current style survives the `\r`.
//! - TAB expands to spaces up to the next multiple of 8 display columns.
//! - C1 controls (U+0080..=U+009F, and lone raw bytes 0x80..=0x9F that are not
//!   part of valid UTF-8) are treated like their 7-bit `ESC x` forms, so a C1
//!   CSI/OSC/DCS swallows its whole sequence instead of leaving its parameters
//!   behind as text. Any other invalid UTF-8 becomes U+FFFD.
//! - Bidi controls (U+202A..=U+202E, U+2066..=U+2069, U+200E/F, U+061C) are
//!   dropped like other controls: they would reorder text drawn after them.
//! - Blink and hidden attributes are ignored: a log viewer should neither
//!   flash nor hide text. Underline colour (SGR 58) is parsed but not rendered.
//! - Each line gets a fresh parser, so an unterminated OSC/DCS can only eat the
//!   rest of its own line.

use std::ops::Range;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;
use vte::{Params, Parser, Perform};

const TAB_STOP: usize = 8;

/// One sanitized log line: plain text plus style runs over it.
///
/// `spans` holds byte ranges into `text` that are ordered, non-overlapping,
/// non-empty and on char boundaries; text not covered by any span has
/// `Style::default()`. Unstyled lines therefore carry no span allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StyledLine {
    pub text: String,
    pub spans: Vec<(Range<usize>, Style)>,
}

impl StyledLine {
    /// An unstyled line (e.g. for messages the app itself inserts).
    pub fn unstyled(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            spans: Vec::new(),
        }
    }

    /// Approximate heap bytes held by this line, for buffer accounting.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.spans.capacity() * std::mem::size_of::<(Range<usize>, Style)>()
    }

    /// The base style at byte offset `at` (default outside every span).
    pub fn style_at(&self, at: usize) -> Style {
        let i = self.spans.partition_point(|(r, _)| r.end <= at);
        match self.spans.get(i) {
            Some((r, s)) if r.start <= at => *s,
            _ => Style::default(),
        }
    }

    /// Build a ratatui line, patching `highlight_style` over the base style of
    /// every byte in `highlights` (e.g. search matches).
    ///
    /// Highlights may be unsorted or overlapping; out-of-range parts are
    /// clipped and ends that fall inside a char are widened to whole chars, so
    /// arbitrary input can't panic. Adjacent pieces with equal style are
    /// merged into one `Span`.
    pub fn to_line(&self, highlights: &[Range<usize>], highlight_style: Style) -> Line<'static> {
        let text = self.text.as_str();
        let len = text.len();
        let hl = normalize_ranges(text, highlights);

        let mut out: Vec<Span<'static>> = Vec::new();
        let mut run: Option<(usize, Style)> = None;
        let (mut pos, mut si, mut hi) = (0, 0, 0);
        while pos < len {
            while self.spans.get(si).is_some_and(|(r, _)| r.end <= pos) {
                si += 1;
            }
            let (base, base_end) = match self.spans.get(si) {
                Some((r, s)) if r.start <= pos => (*s, r.end),
                Some((r, _)) => (Style::default(), r.start),
                None => (Style::default(), len),
            };
            while hl.get(hi).is_some_and(|r| r.end <= pos) {
                hi += 1;
            }
            let (lit, hl_end) = match hl.get(hi) {
                Some(r) if r.start <= pos => (true, r.end),
                Some(r) => (false, r.start),
                None => (false, len),
            };
            // max(pos + 1) guards against malformed (empty/reversed) spans.
            let end = base_end.min(hl_end).min(len).max(pos + 1);
            let style = if lit {
                base.patch(highlight_style)
            } else {
                base
            };
            match run {
                Some((_, s)) if s == style => {}
                Some((start, s)) => {
                    push_span(&mut out, text, start..pos, s);
                    run = Some((pos, style));
                }
                None => run = Some((pos, style)),
            }
            pos = end;
        }
        if let Some((start, s)) = run {
            push_span(&mut out, text, start..len, s);
        }
        Line::from(out)
    }
}

fn push_span(out: &mut Vec<Span<'static>>, text: &str, r: Range<usize>, style: Style) {
    // `get` rather than indexing: hand-built spans could split a char.
    if let Some(s) = text.get(r) {
        out.push(Span::styled(s.to_owned(), style));
    }
}

/// Sort, clip, widen to char boundaries and merge highlight ranges.
fn normalize_ranges(text: &str, ranges: &[Range<usize>]) -> Vec<Range<usize>> {
    let len = text.len();
    let mut v: Vec<Range<usize>> = ranges
        .iter()
        .map(|r| {
            let mut s = r.start.min(len);
            let mut e = r.end.min(len);
            while !text.is_char_boundary(s) {
                s -= 1;
            }
            while !text.is_char_boundary(e) {
                e += 1;
            }
            s..e
        })
        .filter(|r| r.start < r.end)
        .collect();
    // Search results are already sorted; this is cheap then.
    v.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(v.len());
    for r in v {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// Sanitize one log line (without its trailing newline) into styled text.
pub fn sanitize(raw: &[u8]) -> StyledLine {
    run(raw, true).finish()
}

/// The text of a log line only, with every escape sequence removed (for
/// headless output, search and saving to a file).
pub fn plain(raw: &[u8]) -> String {
    run(raw, false).finish().text
}

fn run(raw: &[u8], styled: bool) -> Sink {
    let mut parser: Parser = Parser::new();
    let mut sink = Sink::new(styled, raw.len());
    for chunk in raw.utf8_chunks() {
        feed_valid(&mut parser, &mut sink, chunk.valid().as_bytes());
        match chunk.invalid() {
            [] => {}
            // A lone 0x80..=0x9F byte is an 8-bit C1 control, not text.
            [b @ 0x80..=0x9f] => feed_c1(&mut parser, &mut sink, *b),
            // vte only ever sees valid UTF-8 from us, so replace here.
            _ => parser.advance(&mut sink, "\u{FFFD}".as_bytes()),
        }
    }
    sink
}

/// Feed valid UTF-8, rewriting C1 code points (U+0080..=U+009F, encoded as
/// C2 80..=C2 9F) to their 7-bit `ESC x` equivalents so that vte parses the
/// sequences they introduce. 0xC2 is never a continuation byte, so this can't
/// split another character.
fn feed_valid(parser: &mut Parser, sink: &mut Sink, mut bytes: &[u8]) {
    while let Some(i) = bytes
        .windows(2)
        .position(|w| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]))
    {
        parser.advance(sink, &bytes[..i]);
        if let Some(&c1) = bytes.get(i + 1) {
            feed_c1(parser, sink, c1);
        }
        bytes = bytes.get(i + 2..).unwrap_or_default();
    }
    parser.advance(sink, bytes);
}

fn feed_c1(parser: &mut Parser, sink: &mut Sink, c1: u8) {
    parser.advance(sink, &[0x1b, c1 - 0x40]);
}

/// vte performer that accumulates text and style runs.
struct Sink {
    styled: bool,
    text: String,
    spans: Vec<(Range<usize>, Style)>,
    style: Style,
    /// Byte offset where the current style run began.
    run_start: usize,
    /// Display column, for tab stops.
    col: usize,
    /// A `\r` was seen; the next printed content replaces the line.
    pending_cr: bool,
}

impl Sink {
    fn new(styled: bool, cap: usize) -> Self {
        Self {
            styled,
            text: String::with_capacity(cap),
            spans: Vec::new(),
            style: Style::default(),
            run_start: 0,
            col: 0,
            pending_cr: false,
        }
    }

    fn close_run(&mut self) {
        let end = self.text.len();
        if self.style != Style::default() && self.run_start < end {
            match self.spans.last_mut() {
                // Merge with an identical neighbour (e.g. `\e[31ma\e[31mb`).
                Some((r, s)) if r.end == self.run_start && *s == self.style => r.end = end,
                _ => self.spans.push((self.run_start..end, self.style)),
            }
        }
        self.run_start = end;
    }

    fn begin_content(&mut self) {
        if self.pending_cr {
            self.pending_cr = false;
            self.text.clear();
            self.spans.clear();
            self.run_start = 0;
            self.col = 0;
        }
    }

    fn finish(mut self) -> StyledLine {
        self.close_run();
        // Capacity was sized for the raw bytes; don't let a line that was
        // mostly escape payload (e.g. a big OSC 52) pin that memory in the
        // buffer.
        if self.text.capacity() - self.text.len() > self.text.len().max(64) {
            self.text.shrink_to_fit();
        }
        StyledLine {
            text: self.text,
            spans: self.spans,
        }
    }
}

impl Perform for Sink {
    fn print(&mut self, c: char) {
        // vte hands DEL to print; `is_control` also guards C0/C1 defensively.
        if c.is_control() || is_bidi_control(c) {
            return;
        }
        self.begin_content();
        self.text.push(c);
        self.col += c.width().unwrap_or(0);
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            b'\t' => {
                self.begin_content();
                let n = TAB_STOP - self.col % TAB_STOP;
                self.text.extend(std::iter::repeat_n(' ', n));
                self.col += n;
            }
            b'\r' => self.pending_cr = true,
            // Bell, backspace, LF, and every other C0/C1 control: dropped.
            _ => {}
        }
    }

    fn csi_dispatch(&mut self, params: &Params, intermediates: &[u8], ignore: bool, action: char) {
        // Only plain SGR; private forms such as `CSI > 4 m` are not colours.
        if !self.styled || action != 'm' || !intermediates.is_empty() || ignore {
            return;
        }
        let next = apply_sgr(self.style, params);
        if next != self.style {
            self.close_run();
            self.style = next;
        }
    }
    // OSC, DCS (hook/put/unhook) and ESC dispatches keep the default no-ops.
}

/// Bidirectional formatting controls: invisible, yet they reorder whatever the
/// terminal draws after them (host column, later text), so a log line could
/// disguise itself. Ordinary RTL letters are untouched.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

fn apply_sgr(mut style: Style, params: &Params) -> Style {
    let mut it = params.iter();
    while let Some(p) = it.next() {
        let code = p.first().copied().unwrap_or(0);
        match code {
            0 => style = Style::default(),
            1 => style.add_modifier.insert(Modifier::BOLD),
            2 => style.add_modifier.insert(Modifier::DIM),
            3 => style.add_modifier.insert(Modifier::ITALIC),
            // `4:0` is "no underline"; `4:n` are curly/dotted/... variants.
            4 if p.get(1) == Some(&0) => style.add_modifier.remove(Modifier::UNDERLINED),
            // 21 is "double underline" in ECMA-48.
            4 | 21 => style.add_modifier.insert(Modifier::UNDERLINED),
            7 => style.add_modifier.insert(Modifier::REVERSED),
            9 => style.add_modifier.insert(Modifier::CROSSED_OUT),
            22 => style.add_modifier.remove(Modifier::BOLD | Modifier::DIM),
            23 => style.add_modifier.remove(Modifier::ITALIC),
            24 => style.add_modifier.remove(Modifier::UNDERLINED),
            27 => style.add_modifier.remove(Modifier::REVERSED),
            29 => style.add_modifier.remove(Modifier::CROSSED_OUT),
            30..=37 => style.fg = Some(ansi_color(code - 30)),
            38 => {
                if let Some(c) = extended_color(p, &mut it) {
                    style.fg = Some(c);
                }
            }
            39 => style.fg = None,
            40..=47 => style.bg = Some(ansi_color(code - 40)),
            48 => {
                if let Some(c) = extended_color(p, &mut it) {
                    style.bg = Some(c);
                }
            }
            49 => style.bg = None,
            // Underline colour: its arguments must still be consumed so they
            // aren't misread as SGR codes.
            58 => {
                let _ = extended_color(p, &mut it);
            }
            90..=97 => style.fg = Some(ansi_color(code - 90 + 8)),
            100..=107 => style.bg = Some(ansi_color(code - 100 + 8)),
            // Blink, hidden, fonts, etc.: deliberately ignored.
            _ => {}
        }
    }
    style
}

/// Parse the colour after 38/48/58, either as colon subparameters in `p`
/// (`38:5:n`, `38:2:r:g:b`, `38:2:cs:r:g:b`) or as the following
/// semicolon-separated parameters (`38;5;n`, `38;2;r;g;b`), consuming them.
fn extended_color<'a>(p: &[u16], it: &mut impl Iterator<Item = &'a [u16]>) -> Option<Color> {
    let byte = |v: Option<&u16>| v.and_then(|&v| u8::try_from(v).ok());
    if p.len() > 1 {
        return match p.get(1) {
            Some(5) => byte(p.get(2)).map(Color::Indexed),
            Some(2) => {
                // With 6+ values the third is a colour-space id.
                let rgb = if p.len() >= 6 { 3 } else { 2 };
                Some(Color::Rgb(
                    byte(p.get(rgb))?,
                    byte(p.get(rgb + 1))?,
                    byte(p.get(rgb + 2))?,
                ))
            }
            _ => None,
        };
    }
    match it.next()?.first()? {
        5 => byte(it.next()?.first()).map(Color::Indexed),
        2 => {
            // Consume all three before validating, to stay in step.
            let (r, g, b) = (it.next(), it.next(), it.next());
            Some(Color::Rgb(
                byte(r?.first())?,
                byte(g?.first())?,
                byte(b?.first())?,
            ))
        }
        _ => None,
    }
}

/// ANSI palette index 0..=15 to ratatui's named colours (which render back
/// to the same SGR codes).
fn ansi_color(i: u16) -> Color {
    match i {
        0 => Color::Black,
        1 => Color::Red,
        2 => Color::Green,
        3 => Color::Yellow,
        4 => Color::Blue,
        5 => Color::Magenta,
        6 => Color::Cyan,
        7 => Color::Gray,
        8 => Color::DarkGray,
        9 => Color::LightRed,
        10 => Color::LightGreen,
        11 => Color::LightYellow,
        12 => Color::LightBlue,
        13 => Color::LightMagenta,
        14 => Color::LightCyan,
        _ => Color::White,
    }
}

#[cfg(test)]
mod tests;
