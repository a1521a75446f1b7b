//! POSIX shell quoting, one way for every command line flotilla builds for
//! a host's shell or shows to a person.

/// `s` as one shell word: always single-quoted (`'` written as `'\''`).
pub fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Words joined for display: quoted only where a shell would split or
/// expand them, so `exec sh -c 'echo hi'` reads as typed.
pub fn sh_join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
            if plain { w.clone() } else { sh(w) }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_survive_a_shell() {
        assert_eq!(super::sh("/srv/d o'ck"), r"'/srv/d o'\''ck'");
        assert_eq!(super::sh(""), "''");
        let words = ["sh", "-c", "echo it's $HOME", ""].map(String::from);
        assert_eq!(super::sh_join(&words), r#"sh -c 'echo it'\''s $HOME' ''"#);
    }
}
