use super::*;
use crate::config::tests::TestResult;
use std::path::PathBuf;

const FILE: &str = "/x/config.toml";

fn error_of(text: &str) -> Result<String, Box<dyn std::error::Error>> {
    match parse(text, Path::new(FILE)) {
        Ok(doc) => Err(format!("expected an error, got {doc:?}").into()),
        Err(e @ ConfigError::Invalid { .. }) => Ok(e.to_string()),
        Err(other) => Err(format!("expected Invalid, got {other:?}").into()),
    }
}

#[test]
fn position_is_one_based_and_counts_chars() {
    let text = "ab\ncdé\nfg";
    assert_eq!(position(text, 0), (1, 1));
    assert_eq!(position(text, 1), (1, 2));
    assert_eq!(position(text, 3), (2, 1));
    // 'é' is two bytes; 'f' on the next line starts after it.
    assert_eq!(position(text, 8), (3, 1));
    assert_eq!(position(text, 9), (3, 2));
    assert_eq!(position(text, 7), (2, 4));
    assert_eq!(position(text, 1000), (3, 3));
}

#[test]
fn unknown_key_is_positioned() -> TestResult {
    let text = "[[host]]\nname = \"web-1\"\naddress = \"web-1\"\n  adress = \"x\"\n";
    let msg = error_of(text)?;
    assert!(
        msg.starts_with(
            "/x/config.toml:4:3: unknown field `adress`, expected one of `name`, `address`,"
        ),
        "{msg}"
    );
    Ok(())
}

#[test]
fn unknown_top_level_and_group_keys_are_rejected() -> TestResult {
    let msg = error_of("hosts = 1\n")?;
    assert!(
        msg.starts_with("/x/config.toml:1:1: unknown field `hosts`"),
        "{msg}"
    );
    let msg = error_of("[group.prod]\nreadonly = true\n")?;
    assert!(
        msg.starts_with("/x/config.toml:2:1: unknown field `readonly`, expected `read_only`"),
        "{msg}"
    );
    Ok(())
}

#[test]
fn duplicate_host_points_at_second_definition() -> TestResult {
    let text = "\
ssh_config = \"none\"

[[host]]
name = \"web-1\"
address = \"a\"

[[host]]
name = \"web-1\"
address = \"b\"
";
    assert_eq!(
        error_of(text)?,
        "/x/config.toml:7:1: duplicate host name \"web-1\" (first defined at line 3)"
    );
    Ok(())
}

#[test]
fn bad_type_is_positioned_at_the_value() -> TestResult {
    let text = "[[host]]\nname = \"a\"\naddress = \"a\"\n\nport = \"22\"\n";
    assert_eq!(
        error_of(text)?,
        "/x/config.toml:5:8: invalid type: string \"22\", expected u16"
    );
    let text = "[[host]]\nname = \"a\"\naddress = \"a\"\nport = 70000\n";
    assert_eq!(
        error_of(text)?,
        "/x/config.toml:4:8: invalid value: integer `70000`, expected u16"
    );
    Ok(())
}

#[test]
fn syntax_error_is_positioned() -> TestResult {
    let text = "[[host]]\nname = \"a\naddress = \"a\"\n";
    let msg = error_of(text)?;
    assert!(msg.starts_with("/x/config.toml:2:"), "{msg}");
    eprintln!("{msg}");
    assert!(msg.contains("string"), "{msg}");
    // Points just past `[[host]`, where the second `]` is missing.
    assert_eq!(
        error_of("[[host]\nname = \"a\"\n")?,
        "/x/config.toml:1:8: unclosed array table, expected `]`"
    );
    Ok(())
}

#[test]
fn missing_required_field_points_at_table() -> TestResult {
    let text = "[[host]]\nname = \"a\"\n\n[[host]]\nname = \"b\"\n";
    assert_eq!(
        error_of(text)?,
        "/x/config.toml:1:1: missing field `address`"
    );
    Ok(())
}

#[test]
fn empty_host_list_is_rejected() -> TestResult {
    let msg = error_of("# nothing here\n")?;
    assert!(
        msg.starts_with("/x/config.toml:1:1: no hosts defined"),
        "{msg}"
    );
    assert!(msg.contains("config.example.toml"), "{msg}");
    let msg = error_of("ssh_config = \"none\"\nhost = []\n")?;
    assert!(
        msg.starts_with("/x/config.toml:2:8: no hosts defined"),
        "{msg}"
    );
    Ok(())
}

#[test]
fn empty_name_and_address_are_rejected() -> TestResult {
    assert_eq!(
        error_of("[[host]]\nname = \"\"\naddress = \"a\"\n")?,
        "/x/config.toml:2:8: host name must not be empty"
    );
    assert_eq!(
        error_of("[[host]]\nname = \"a\"\naddress = \"  \"\n")?,
        "/x/config.toml:3:11: host address must not be empty"
    );
    Ok(())
}

#[test]
fn unsafe_host_names_are_rejected_at_their_position() -> TestResult {
    let at = |name: &str| format!("[[host]]\nname = \"{name}\"\naddress = \"a\"\n");
    let msg = error_of(&at("h 1"))?;
    assert!(
        msg.starts_with("/x/config.toml:2:8: host name \"h 1\" may only contain"),
        "{msg}"
    );
    for bad in ["a/b", "../x", "-x", "web\u{202e}1"] {
        let msg = error_of(&at(bad))?;
        assert!(msg.starts_with("/x/config.toml:2:8: host name "), "{msg}");
    }
    Ok(())
}

#[test]
fn other_value_checks() -> TestResult {
    assert_eq!(
        error_of("[[host]]\nname = \"a\"\naddress = \"a\"\nport = 0\n")?,
        "/x/config.toml:4:8: port must be between 1 and 65535"
    );
    assert_eq!(
        error_of("[[host]]\nname = \"a\"\naddress = \"a\"\ndocker_socket = \"run/d.sock\"\n")?,
        "/x/config.toml:4:17: docker_socket \"run/d.sock\" must be an absolute path"
    );
    assert_eq!(
        error_of("[[host]]\nname = \"a\"\naddress = \"local\"\nuser = \"bob\"\n")?,
        "/x/config.toml:4:8: `user` does not apply to address = \"local\""
    );
    assert_eq!(
        error_of("[[host]]\nname = \"a\"\naddress = \"a\"\ngroups = [\"x\", \"\"]\n")?,
        "/x/config.toml:4:16: group name must not be empty"
    );
    assert_eq!(
        error_of("[[host]]\nname = \"a\"\naddress = \"ops@web\"\n")?,
        "/x/config.toml:3:11: host address \"ops@web\" must not contain a user: \
         write address = \"web\" and user = \"ops\""
    );
    assert_eq!(
        error_of("ssh_config = \"\"\n[[host]]\nname = \"a\"\naddress = \"a\"\n")?,
        "/x/config.toml:1:14: ssh_config must not be empty (use \"none\" to read no ssh_config)"
    );
    Ok(())
}

#[test]
fn full_host_is_parsed() -> TestResult {
    let text = r#"
ssh_config = "~/.ssh/fleet"
[group.prod]
read_only = true
[[host]]
name = "web-1"
address = "web-1.internal"
user = "deploy"
port = 2222
groups = ["prod", "web", "prod"]
docker_socket = "/run/docker.sock"
"#;
    let doc = parse(text, &PathBuf::from(FILE))?;
    assert_eq!(
        doc.ssh_config.as_ref().map(|s| s.get_ref().as_str()),
        Some("~/.ssh/fleet")
    );
    assert_eq!(
        doc.hosts,
        vec![HostEntry {
            name: "web-1".to_string(),
            address: "web-1.internal".to_string(),
            user: Some("deploy".to_string()),
            port: Some(2222),
            groups: vec!["prod".to_string(), "web".to_string()],
            docker_socket: Some("/run/docker.sock".to_string()),
            read_only: true,
        }]
    );
    Ok(())
}
