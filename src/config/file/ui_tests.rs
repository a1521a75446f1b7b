use super::*;

#[test]
fn ui_and_keys_tables_are_read_with_positions() {
    let text = "[[host]]\nname = \"a\"\naddress = \"a\"\n[ui]\nlog_lines = 5000\n[keys]\nrestart = [\"R\"]\n";
    let doc = parse(text, Path::new("/c.toml")).expect("valid");
    assert_eq!(doc.ui.log_lines, 5000);
    assert_eq!(doc.ui.log_tail, 500);
    assert_eq!(doc.ui.keys.len(), 1);
    assert_eq!(doc.ui.keys[0].action, "restart");
    assert_eq!(doc.ui.keys[0].keys, ["R"]);
    assert_eq!((doc.ui.keys[0].line, doc.ui.keys[0].col), (7, 11));
}

#[test]
fn logs_max_line_bytes_is_read_and_bounded() {
    let base = "[[host]]\nname = \"a\"\naddress = \"a\"\n";
    let doc = parse(base, Path::new("/c.toml")).expect("valid");
    assert_eq!(doc.ui.log_max_line_bytes, 1024 * 1024, "default 1 MiB");
    let text = format!("{base}[logs]\nmax_line_bytes = 4096\n");
    let doc = parse(&text, Path::new("/c.toml")).expect("valid");
    assert_eq!(doc.ui.log_max_line_bytes, 4096);
    let text = format!("{base}[logs]\nmax_line_bytes = 10\n");
    let e = parse(&text, Path::new("/c.toml"))
        .expect_err("too small")
        .to_string();
    assert!(e.starts_with("/c.toml:5:18:"), "{e}");
    assert!(e.contains("logs.max_line_bytes"), "{e}");
}

#[test]
fn bad_ui_values_are_positioned() {
    let text = "[[host]]\nname = \"a\"\naddress = \"a\"\n[ui]\nlog_lines = 5\n";
    let e = parse(text, Path::new("/c.toml"))
        .expect_err("too small")
        .to_string();
    assert!(e.starts_with("/c.toml:5:13:"), "{e}");
}

#[test]
fn ui_shell_lists_programs_and_rejects_an_empty_list() {
    let base = "[[host]]\nname = \"a\"\naddress = \"a\"\n";
    let doc = parse(base, Path::new("/c.toml")).expect("valid");
    assert_eq!(doc.ui.shell, ["bash", "sh"], "default");
    let text = format!("{base}[ui]\nshell = [\"zsh\", \"sh\"]\n");
    let doc = parse(&text, Path::new("/c.toml")).expect("valid");
    assert_eq!(doc.ui.shell, ["zsh", "sh"]);
    let text = format!("{base}[ui]\nshell = []\n");
    let e = parse(&text, Path::new("/c.toml"))
        .expect_err("empty")
        .to_string();
    assert!(e.starts_with("/c.toml:5:9:"), "{e}");
    assert!(e.contains("ui.shell"), "{e}");
}
