//! Exit codes: one table for every verb, documented in README and `--help`.

/// Process exit status of a headless verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done and every host answered.
    Ok,
    /// Unexpected internal error.
    Internal,
    /// Bad command line or bad config; nothing was contacted.
    Usage,
    /// Some hosts were unreachable; the others' results were still printed.
    Unreachable,
    /// A named target (container, service, host) does not exist.
    NotFound,
    /// An action ran and failed on at least one host (deploy: stopped and rolled back).
    Failed,
    /// Refused before starting (read-only, lock held, confirmation declined).
    Refused,
    /// `triage` found problems.
    Problems,
    /// `exec`: the command's own exit status, passed through.
    Command(u8),
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Internal => 1,
            Exit::Usage => 2,
            Exit::Unreachable => 3,
            Exit::NotFound => 4,
            Exit::Failed => 5,
            Exit::Refused => 6,
            Exit::Problems => 7,
            Exit::Command(code) => i32::from(code),
        }
    }

    /// When several outcomes apply, the most serious wins.
    pub fn worst(self, other: Exit) -> Exit {
        fn rank(e: Exit) -> u8 {
            match e {
                Exit::Ok => 0,
                Exit::Problems | Exit::Command(_) => 1,
                Exit::Unreachable => 1,
                Exit::NotFound => 2,
                Exit::Failed => 3,
                Exit::Refused => 4,
                Exit::Usage => 5,
                Exit::Internal => 6,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// Shown at the end of `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success: every host answered
  1  internal error
  2  usage or config error (nothing was contacted)
  3  some hosts unreachable (the others' results are still printed)
  4  target not found (container, service or host)
  5  an action failed on some host (deploy: stopped and rolled back)
  6  refused (read-only, deploy lock held, confirmation declined)
  7  triage found problems";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(Exit::Ok.code(), 0);
        assert_eq!(Exit::Usage.code(), 2);
        assert_eq!(Exit::Unreachable.code(), 3);
        assert_eq!(Exit::Refused.code(), 6);
    }

    #[test]
    fn worst_prefers_the_more_serious_outcome() {
        assert_eq!(Exit::Ok.worst(Exit::Unreachable), Exit::Unreachable);
        assert_eq!(Exit::Failed.worst(Exit::Unreachable), Exit::Failed);
        assert_eq!(Exit::Unreachable.worst(Exit::Ok), Exit::Unreachable);
    }

    #[test]
    fn help_lists_every_code() {
        for e in [
            Exit::Ok,
            Exit::Internal,
            Exit::Usage,
            Exit::Unreachable,
            Exit::NotFound,
            Exit::Failed,
            Exit::Refused,
            Exit::Problems,
        ] {
            assert!(
                EXIT_CODES_HELP.contains(&format!("  {}  ", e.code())),
                "{e:?}"
            );
        }
    }
}
