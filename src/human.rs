//! Sizes for people, one scaling for every screen and message: binary
//! units, one decimal.

/// `n` scaled to a binary unit: the value and the unit's index (0 = bytes).
fn scaled(n: u64) -> (f64, usize) {
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < 5 {
        v /= 1024.0;
        unit += 1;
    }
    (v, unit)
}

/// A Docker id as `docker` prints it: 12 hex digits, without `sha256:`.
pub fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// "512 B", "3.2 GiB": for messages.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    match scaled(n) {
        (_, 0) => format!("{n} B"),
        (v, u) => format!("{v:.1} {}", UNITS[u]),
    }
}

/// "512B", "1.5K", like `docker stats`: for narrow table columns.
pub fn bytes_compact(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "K", "M", "G", "T", "P"];
    match scaled(n) {
        (_, 0) => format!("{n}B"),
        (v, u) => format!("{v:.1}{}", UNITS[u]),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_forms_scale_alike() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(8 * 1024), "8.0 KiB");
        assert_eq!(super::bytes(16 * 1024 * 1024), "16.0 MiB");
        assert_eq!(super::bytes_compact(512), "512B");
        assert_eq!(super::bytes_compact(1536), "1.5K");
        assert_eq!(super::bytes_compact(3 * 1024 * 1024 * 1024), "3.0G");
    }
}
