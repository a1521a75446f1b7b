//! What a name in the inventory may be. One rule for each kind of name,
//! applied when the inventory is loaded and wherever a name is read back
//! (the persistent-session daemon's requests), so both always agree.

/// Longest host name: it goes into file names (kept logs) and table columns.
pub const MAX_HOST_NAME: usize = 64;

/// ASCII letters, digits, `_`, `.` and `-`, starting with a letter or digit:
/// safe in Docker object names, file names, wire lines and terminals.
pub(crate) fn is_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Whether `name` may name a host; the error says why not.
pub fn check_host_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("host name must not be empty".to_owned());
    }
    if name.len() > MAX_HOST_NAME {
        return Err(format!(
            "host name {name:?} is longer than {MAX_HOST_NAME} characters"
        ));
    }
    if !is_plain_name(name) {
        // Debug formatting shows control and bidi characters escaped.
        return Err(format!(
            "host name {name:?} may only contain ASCII letters, digits, '_', '.' and '-', \
             and must start with a letter or digit (it names files and goes on the wire)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        let longest = "a".repeat(MAX_HOST_NAME);
        for good in [
            "a",
            "web-1",
            "db.2",
            "fleet_3",
            "9lives",
            "WEB-1.prod.example.com",
            longest.as_str(),
        ] {
            assert_eq!(check_host_name(good), Ok(()), "{good:?} refused");
        }
        let too_long = "a".repeat(MAX_HOST_NAME + 1);
        for bad in [
            "",
            " ",
            "h 1",
            "h\t1",
            "h\n1",
            "a/b",
            "../etc",
            "..",
            ".hidden",
            "-rf",
            "_x",
            "web\u{202e}1",
            "wéb",
            "a:b",
            "a@b",
            "a\\b",
            "a\0b",
            too_long.as_str(),
        ] {
            assert!(check_host_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_refused_name_is_shown_escaped() {
        let err = check_host_name("web\u{202e}1").expect_err("refused");
        assert!(err.contains("web\\u{202e}1"), "{err}");
        assert!(!err.contains('\u{202e}'), "{err}");
        assert_eq!(
            check_host_name("").expect_err("refused"),
            "host name must not be empty"
        );
    }
}
