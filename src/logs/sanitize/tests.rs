use super::*;

fn red() -> Style {
    Style::default().fg(Color::Red)
}

/// Everything printable in the result; nothing a terminal would act on.
fn assert_safe(s: &str) {
    assert!(
        !s.chars().any(char::is_control),
        "control char left in {s:?}"
    );
}

#[test]
fn strips_bidi_controls() {
    // "Trojan source": U+202E would flip the rest of the terminal line.
    let raw = "ok \u{202E}txt.exe\u{202C} \u{2066}a\u{2069}\u{200E}\u{200F}\u{061C}\u{202A}\u{202B}\u{202D}\u{2067}\u{2068}!";
    assert_eq!(plain(raw.as_bytes()), "ok txt.exe a!");
    assert_eq!(sanitize(raw.as_bytes()).text, "ok txt.exe a!");
    // Ordinary right-to-left text stays.
    assert_eq!(plain("שלום".as_bytes()), "שלום");
}

#[test]
fn strips_clear_screen_and_cursor_movement() {
    assert_eq!(plain(b"a\x1b[2Jb\x1b[10;20Hc\x1b[?25ld\x1b[Ke"), "abcde");
}

#[test]
fn strips_osc_title_bel_and_st_terminated() {
    assert_eq!(plain(b"x\x1b]0;pwned title\x07y"), "xy");
    assert_eq!(plain(b"x\x1b]2;title\x1b\\y"), "xy");
}

#[test]
fn strips_osc52_clipboard_and_hyperlinks() {
    assert_eq!(plain(b"a\x1b]52;c;cm0gLXJmIH4=\x07b"), "ab");
    assert_eq!(
        plain(b"\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\"),
        "link"
    );
}

#[test]
fn strips_dcs_apc_pm_sos_strings() {
    assert_eq!(plain(b"a\x1bP1$qm\x1b\\b"), "ab");
    assert_eq!(plain(b"a\x1b_apc payload\x1b\\b"), "ab");
    assert_eq!(plain(b"a\x1b^pm payload\x1b\\b"), "ab");
    assert_eq!(plain(b"a\x1bXsos payload\x1b\\b"), "ab");
}

#[test]
fn c1_controls_as_chars_and_raw_bytes() {
    // U+009B (UTF-8 C2 9B) is CSI: the whole sequence goes.
    assert_eq!(plain("a\u{9b}2Jb".as_bytes()), "ab");
    // Raw 8-bit CSI byte, as in `\x9b`.
    assert_eq!(plain(b"a\x9b2Jb"), "ab");
    // C1 OSC terminated by C1 ST.
    assert_eq!(plain("a\u{9d}0;t\u{9c}b".as_bytes()), "ab");
    // Other C1 controls (NEL, etc.) are just dropped.
    assert_eq!(plain("a\u{85}b\u{80}c".as_bytes()), "abc");
    // C1 SGR still styles.
    let l = sanitize("\u{9b}31mr".as_bytes());
    assert_eq!(l.spans, vec![(0..1, red())]);
}

#[test]
fn strips_bell_backspace_del_and_other_c0() {
    // `ESC f` is a complete two-byte escape, so the `f` goes too.
    assert_eq!(
        plain(b"a\x07b\x08c\x7fd\x00e\x1bf\x0bg\x0ch\nz"),
        "abcdeghz"
    );
}

#[test]
fn lone_esc_is_dropped() {
    assert_eq!(plain(b"abc\x1b"), "abc");
    assert_eq!(plain(b"\x1b\x1b[31mx"), "x");
}

#[test]
fn red_then_reset() {
    let l = sanitize(b"\x1b[31mred\x1b[0m plain");
    assert_eq!(l.text, "red plain");
    assert_eq!(l.spans, vec![(0..3, red())]);
    assert_eq!(l.style_at(1), red());
    assert_eq!(l.style_at(4), Style::default());
}

#[test]
fn empty_sgr_resets() {
    let l = sanitize(b"\x1b[31mr\x1b[mp\x1b[1;mq");
    assert_eq!(l.text, "rpq");
    assert_eq!(l.spans, vec![(0..1, red())]);
}

#[test]
fn bold_and_256_colour() {
    let l = sanitize(b"\x1b[1;38;5;208mwarn\x1b[22mx");
    let warn = Style::default()
        .fg(Color::Indexed(208))
        .add_modifier(Modifier::BOLD);
    assert_eq!(l.text, "warnx");
    assert_eq!(
        l.spans,
        vec![
            (0..4, warn),
            (4..5, Style::default().fg(Color::Indexed(208)))
        ]
    );
}

#[test]
fn truecolor_semicolon_and_colon_forms() {
    let rgb = Style::default().fg(Color::Rgb(1, 2, 3));
    assert_eq!(sanitize(b"\x1b[38;2;1;2;3mx").spans, vec![(0..1, rgb)]);
    assert_eq!(sanitize(b"\x1b[38:2:1:2:3mx").spans, vec![(0..1, rgb)]);
    assert_eq!(sanitize(b"\x1b[38:2::1:2:3mx").spans, vec![(0..1, rgb)]);
    let bg = Style::default().bg(Color::Rgb(9, 8, 7));
    assert_eq!(sanitize(b"\x1b[48;2;9;8;7mx").spans, vec![(0..1, bg)]);
}

#[test]
fn extended_colour_args_are_not_misread() {
    // `58;5;1` must not be read as "5" (blink) then "1" (bold).
    let l = sanitize(b"\x1b[58;5;1;31mx");
    assert_eq!(l.spans, vec![(0..1, red())]);
    // Out-of-range RGB is ignored but still consumed: the 1s aren't bold,
    // and the code after it is read normally.
    assert!(sanitize(b"\x1b[38;2;300;1;1mx").spans.is_empty());
    let ul = Style::default().add_modifier(Modifier::UNDERLINED);
    assert_eq!(sanitize(b"\x1b[38;2;300;1;1;4mx").spans, vec![(0..1, ul)]);
}

#[test]
fn italic_underline_reverse_bright_and_defaults() {
    let l = sanitize(b"\x1b[3;4;7;92;104mA\x1b[23;24;27;39;49mB");
    let s = Style::default()
        .fg(Color::LightGreen)
        .bg(Color::LightBlue)
        .add_modifier(Modifier::ITALIC | Modifier::UNDERLINED | Modifier::REVERSED);
    assert_eq!(l.spans, vec![(0..1, s)]);
    assert_eq!(l.text, "AB");
}

#[test]
fn private_and_non_sgr_csi_do_not_style() {
    assert!(sanitize(b"\x1b[>4;2mx\x1b[31qy").spans.is_empty());
}

#[test]
fn adjacent_equal_styles_merge() {
    let l = sanitize(b"\x1b[31ma\x1b[31mb\x1b[0;31mc");
    assert_eq!(l.spans, vec![(0..3, red())]);
}

#[test]
fn plain_equals_sanitized_text() {
    let raw = b"\x1b[1;31mERROR\x1b[0m\tdisk \x1b]0;t\x07full\r\n";
    assert_eq!(plain(raw), "ERROR   disk full");
    assert_eq!(plain(raw), sanitize(raw).text);
}

#[test]
fn carriage_return_keeps_last_segment() {
    assert_eq!(plain(b"10%\r20%\r30%"), "30%");
    assert_eq!(plain(b"abc\rx"), "x");
    // Trailing CR (CRLF logs) keeps the line.
    assert_eq!(plain(b"done\r"), "done");
    assert_eq!(plain(b"\rstart"), "start");
    // Style survives the CR and spans restart at 0.
    let l = sanitize(b"\x1b[31mold text\rnew");
    assert_eq!(l.text, "new");
    assert_eq!(l.spans, vec![(0..3, red())]);
}

#[test]
fn tab_expands_to_next_multiple_of_8() {
    assert_eq!(plain(b"\tx"), "        x");
    assert_eq!(plain(b"abc\tx"), "abc     x");
    assert_eq!(plain(b"12345678\tx"), "12345678        x");
    // Escapes take no columns; wide chars take two.
    assert_eq!(plain(b"\x1b[31mab\x1b[0m\tx"), "ab      x");
    assert_eq!(plain("日本\tx".as_bytes()), "日本    x");
    // Column restarts after CR.
    assert_eq!(plain(b"abcdef\rab\tx"), "ab      x");
}

#[test]
fn invalid_utf8_is_replaced() {
    assert_eq!(
        plain(b"caf\xe9 ok \xff\xfe"),
        "caf\u{FFFD} ok \u{FFFD}\u{FFFD}"
    );
    // Truncated multibyte right before an escape.
    assert_eq!(plain(b"a\xe2\x82\x1b[31mb"), "a\u{FFFD}b");
    // Valid multibyte chars whose bytes include 0x80..=0x9F stay intact.
    assert_eq!(plain("ě€\u{1F600}".as_bytes()), "ě€\u{1F600}");
}

#[test]
fn escape_payload_does_not_pin_memory() {
    let mut raw = b"x\x1b]52;c;".to_vec();
    raw.extend(std::iter::repeat_n(b'A', 100_000));
    raw.extend_from_slice(b"\x07y");
    let l = sanitize(&raw);
    assert_eq!(l.text, "xy");
    assert!(l.heap_bytes() < 1_000);
}

#[test]
fn unterminated_osc_eats_only_its_line() {
    assert_eq!(plain(b"a\x1b]0;never ends"), "a");
    assert_eq!(plain(b"next"), "next");
}

#[test]
fn output_is_always_free_of_controls() {
    // Every byte value, plus fragments of sequences, in one line.
    let mut raw: Vec<u8> = (0u8..=255).collect();
    raw.extend_from_slice(b"\x1b[\x1b]\x1bP\x1b_\xc2\x9b\xc2");
    for start in 0..raw.len() {
        let l = sanitize(&raw[start..]);
        assert_safe(&l.text);
        for (r, _) in &l.spans {
            assert!(r.start < r.end && r.end <= l.text.len());
            assert!(l.text.is_char_boundary(r.start) && l.text.is_char_boundary(r.end));
        }
    }
}

#[test]
fn to_line_without_highlights() {
    let l = sanitize(b"a\x1b[31mbc\x1b[0md");
    let line = l.to_line(&[], Style::default());
    let got: Vec<(String, Style)> = line
        .spans
        .iter()
        .map(|s| (s.content.to_string(), s.style))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".into(), Style::default()),
            ("bc".into(), red()),
            ("d".into(), Style::default())
        ]
    );
    assert!(StyledLine::default().to_line(&[], red()).spans.is_empty());
}

#[test]
fn to_line_patches_highlight_over_base_style() {
    // "xx" plain, "RED" red, "yy" plain; highlight "xR" and "Dy".
    let l = sanitize(b"xx\x1b[31mRED\x1b[0myy");
    let hl = Style::default()
        .bg(Color::Yellow)
        .add_modifier(Modifier::BOLD);
    let line = l.to_line(&[1..3, 4..6], hl);
    let got: Vec<(&str, Style)> = line
        .spans
        .iter()
        .map(|s| (s.content.as_ref(), s.style))
        .collect();
    assert_eq!(
        got,
        vec![
            ("x", Style::default()),
            ("x", hl),
            ("R", red().patch(hl)),
            ("E", red()),
            ("D", red().patch(hl)),
            ("y", hl),
            ("y", Style::default()),
        ]
    );
    // Highlight keeps the red foreground while adding the background.
    assert_eq!(got[2].1.fg, Some(Color::Red));
    assert_eq!(got[2].1.bg, Some(Color::Yellow));
}

#[test]
fn to_line_always_reproduces_the_text() {
    let l = sanitize("a\x1b[31mbé\x1b[1mc日\x1b[0md\x1b[4me\x1b[0mf".as_bytes());
    let n = l.text.len();
    let mut x: u32 = 12345;
    let mut rnd = || {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (x >> 16) as usize % (n + 2)
    };
    for _ in 0..500 {
        let hl: Vec<Range<usize>> = (0..3).map(|_| rnd()..rnd()).collect();
        let line = l.to_line(&hl, Style::default().bg(Color::Yellow));
        let joined: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(joined, l.text);
        // Neighbouring spans always differ in style (they were merged).
        assert!(line.spans.windows(2).all(|w| w[0].style != w[1].style));
    }
}

#[test]
fn to_line_tolerates_bad_highlight_ranges() {
    let l = StyledLine::unstyled("héllo");
    let hl = red();
    // Overlapping, unsorted, inside a char (2 is mid-'é'), out of range.
    let line = l.to_line(&[4..99, 2..3, 3..5, Range { start: 7, end: 2 }], hl);
    let got: Vec<(&str, Style)> = line
        .spans
        .iter()
        .map(|s| (s.content.as_ref(), s.style))
        .collect();
    assert_eq!(got, vec![("h", Style::default()), ("éllo", hl)]);
}
